#include "base/operation.h"

namespace she {

const char* kind_name(Operation::Kind kind) {
  switch (kind) {
    case Operation::Kind::Http: return "http";
    case Operation::Kind::Command: return "command";
    case Operation::Kind::Transfer: return "transfer";
    case Operation::Kind::Local: return "local";
    case Operation::Kind::Wait: return "wait";
  }
  return "?";
}

bool DirectRunner::run(const Operation& op, const std::function<void()>& perform) {
  if (observe_) observe_(op);
  perform();
  return true;
}

bool perform_operation(OperationRunner* runner, const Operation& op, const std::function<void()>& perform) {
  if (runner) return runner->run(op, perform);
  perform();
  return true;
}

}  // namespace she
