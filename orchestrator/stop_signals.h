// SIGINT and SIGTERM ask a run to stop at its next safe point; they never
// kill it mid-action. The handler only sets a flag: steps, waits and loop
// threads look at stop_requested() where stopping leaves nothing half-done.
#pragma once

#include <memory>

namespace she {

/// True once SIGINT or SIGTERM arrived while a run's handlers were in place.
bool stop_requested();
/// The signal that asked to stop (0 when none), for the journal.
int stop_signal();

/// Installs the handlers for the life of a run's walk and puts back the
/// previous ones after it, so a process that runs plans in turn (the tests)
/// keeps its own.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct Saved;
  std::unique_ptr<Saved> saved_;
};

}  // namespace she
