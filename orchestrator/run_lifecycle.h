// The lifecycle of one she-restore process's run, as a small state machine
// whose Boost.MSM implementation stays inside run_lifecycle.cpp (its compile
// cost stays there too). Step states are not here: they live in the journal.
//
//   created --begin_preflight--> preflight
//   preflight --preflight_passed--> running
//   preflight --preflight_failed | journal_failed--> failed
//   preflight --nothing_to_do--> succeeded        (the run had succeeded)
//   preflight --operator_needed--> awaiting_operator
//   preflight --interrupted--> interrupted
//   running --all_steps_done--> succeeded
//   running --step_failed | journal_failed--> failed
//   running --operator_needed--> awaiting_operator
//   running --interrupted--> interrupted
//
// Any other event is a bug in the executor: it throws LifecycleError naming
// the phase and the event, and the run ends as an internal error (exit 70)
// rather than going on with a lifecycle that no longer says what happened.
#pragma once

#include <memory>
#include <stdexcept>

namespace she {

enum class RunPhase { Created, Preflight, Running, AwaitingOperator, Failed, Succeeded, Interrupted };
const char* phase_name(RunPhase p);

/// An event the current phase does not allow: "internal error: run lifecycle
/// event step_failed is not allowed in phase preflight".
class LifecycleError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

class RunLifecycle {
 public:
  RunLifecycle();
  ~RunLifecycle();

  RunPhase phase() const;

  // Each event moves the run on, or throws LifecycleError and changes nothing.
  void begin_preflight();
  void preflight_passed();
  void preflight_failed();
  void nothing_to_do();
  void step_failed();
  void journal_failed();
  void operator_needed();
  void all_steps_done();
  void interrupted();

 private:
  struct Machine;
  std::unique_ptr<Machine> m_;
};

}  // namespace she
