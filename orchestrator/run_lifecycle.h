// The lifecycle of one she-restore process's run, as a small state machine
// whose Boost.MSM implementation stays inside run_lifecycle.cpp (its compile
// cost stays there too). Step states are not here: they live in the journal.
#pragma once

#include <memory>

namespace she {

enum class RunPhase { Created, Preflight, Running, AwaitingOperator, Failed, Succeeded, Interrupted };
const char* phase_name(RunPhase p);

class RunLifecycle {
 public:
  RunLifecycle();
  ~RunLifecycle();

  RunPhase phase() const;

  // Each event returns false, changing nothing, when the current phase does
  // not allow it: a bug in the caller, never a reason to go on silently.
  bool begin_preflight();
  bool preflight_passed();
  bool preflight_failed();
  bool step_failed();
  bool operator_needed();
  bool all_steps_done();
  bool interrupted();

 private:
  struct Machine;
  std::unique_ptr<Machine> m_;
};

}  // namespace she
