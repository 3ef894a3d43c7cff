// Effects as data (design brief section 3; ninja's CommandRunner and
// DryRunCommandRunner are the model). Every effect she-restore has on the
// world, an HTTP request to the engine, a command on a host, a file
// transfer, a wait on someone else's state, is an Operation value handed to
// one OperationRunner. A run's runner performs each one; the dry-run runner
// performs the reads (live) and records the writes. Whether an operation
// writes is a property of the operation itself (its HTTP method, the
// command's declared effect), never of the step that issues it, so a step
// cannot describe one thing and do another: there is no second description.
#pragma once

#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace she {

struct Operation {
  enum class Kind { Http, Command, Transfer, Local, Wait };

  Operation() = default;
  Operation(Kind k, bool w, std::string at, std::string text)
      : kind(k), writes(w), where(std::move(at)), line(std::move(text)) {}

  Kind kind = Kind::Local;
  bool writes = true;        // conservative: an effect not declared a read writes
  std::string where;         // "engine", or the host as the plan names it
  std::string line;          // "POST /ovirt-engine/api/hosts/ID/deactivate", a quoted command line
  std::vector<std::string> detail;  // a request body, a file's content: shown indented
  /// What the world looks like once this write succeeded, as keys the
  /// reader of that part of the world understands ("hosts/ID/status" ->
  /// "maintenance"). A dry run overlays them on later live reads, so a
  /// rehearsal follows the path the run takes when every write succeeds.
  std::map<std::string, std::string> expects;
  /// Set on a rehearsal's read answered from what its earlier writes
  /// predict rather than from the far side (a restored engine that does not
  /// exist yet, engine_api/restored_engine.h): what the prediction rests on.
  /// A run never sees one: only a rehearsal's runner has expectations.
  std::string predicted_from;
  /// The writes a composite operation (a transfer) consists of, each as the
  /// far side will see it; empty for a single call.
  std::vector<Operation> parts;
};

/// A read a rehearsal did not make (offline, after this step's own writes,
/// or naming a value known only at run time): what follows depends on it.
class RehearsalUnknown : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class OperationRunner {
 public:
  virtual ~OperationRunner() = default;
  /// Performs `op` by calling `perform`, or records it without doing so.
  /// Returns whether it was performed; the caller then answers a write
  /// that was not with what the far side answers on success, and stops at
  /// a read that was not (RehearsalUnknown).
  virtual bool run(const Operation& op, const std::function<void()>& perform) = 0;
  /// True for a dry run: waits look once and, unmet, are assumed met.
  virtual bool rehearsal() const { return false; }
  /// An expectation recorded by an earlier write of this rehearsal.
  virtual const std::string* expectation(const std::string& /*key*/) const { return nullptr; }
};

/// The run's runner: performs every operation.
class DirectRunner : public OperationRunner {
 public:
  bool run(const Operation& op, const std::function<void()>& perform) override;
};

/// Runs `op` through `runner`, or for real when there is none (a tool used
/// outside a run, such as verify-backup). Returns whether it was performed.
bool perform_operation(OperationRunner* runner, const Operation& op, const std::function<void()>& perform);

}  // namespace she
