#include "base/operation.h"

namespace she {

bool DirectRunner::run(const Operation&, const std::function<void()>& perform) {
  perform();
  return true;
}

bool perform_operation(OperationRunner* runner, const Operation& op, const std::function<void()>& perform) {
  if (runner) return runner->run(op, perform);
  perform();
  return true;
}

}  // namespace she
