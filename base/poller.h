// The one way she-restore waits on state it does not control (a host's
// status, the engine's health, a deploy's log): look, and if the state is
// not there yet, wait a little longer each time, stopping at once when the
// run must stop. In a rehearsal a wait looks once and, unmet, is assumed
// met: the writes it waits on were not made.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "base/operation.h"

namespace she {

struct PollPolicy {
  std::chrono::milliseconds first{1000};  // transitions usually finish quickly
  std::chrono::milliseconds max{10000};   // long ones are polled less
};

class Poller {
 public:
  enum class Outcome { Reached, Assumed, Stopped, TimedOut };

  Poller(OperationRunner* runner, PollPolicy policy, std::function<bool()> should_stop)
      : runner_(runner), policy_(policy), should_stop_(std::move(should_stop)) {}

  /// Looks with `reached` until it says true. `where` and `what` describe
  /// the wait for the rehearsal ("engine", "host X reaches maintenance").
  Outcome wait(const std::string& where, const std::string& what, std::chrono::milliseconds timeout,
               const std::function<bool()>& reached) const;

  /// What a look at output as it comes saw, short of the end it waits for:
  /// output that moved (a log that grew, a screen that changed) is looked
  /// at again after the first interval, as more usually follows at once;
  /// output that stands still is looked at less and less often.
  enum class Look { Reached, Moving, Still };
  Outcome follow(const std::string& where, const std::string& what, std::chrono::milliseconds timeout,
                 const std::function<Look()>& look) const;

  /// The pause before the next look, after a look that saw `seen` (not
  /// Reached) and the pause `last` before it (zero: it was the first look).
  static std::chrono::milliseconds next_wait(const PollPolicy& policy, std::chrono::milliseconds last, Look seen);

 private:
  OperationRunner* runner_;
  PollPolicy policy_;
  std::function<bool()> should_stop_;
};

}  // namespace she
