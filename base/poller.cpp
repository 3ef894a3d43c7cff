#include "base/poller.h"

#include <algorithm>

#include "base/duration.h"

namespace she {

Poller::Outcome Poller::wait(const std::string& where, const std::string& what, std::chrono::milliseconds timeout,
                             const std::function<bool()>& reached) const {
  if (runner_ && runner_->rehearsal()) {
    const Operation op(Operation::Kind::Wait, false, where, "until " + what);
    bool met = false;
    runner_->run(op, [&] {
      try {
        met = reached();
      } catch (const RehearsalUnknown&) {
        // What it waits on follows from a write not made: assumed met.
      }
    });
    return met ? Outcome::Reached : Outcome::Assumed;
  }
  auto start = std::chrono::steady_clock::now();
  auto interval = policy_.first;
  while (true) {
    if (reached()) return Outcome::Reached;
    if (should_stop_ && should_stop_()) return Outcome::Stopped;
    if (std::chrono::steady_clock::now() - start > timeout) return Outcome::TimedOut;
    if (!wait_unless(interval, should_stop_)) return Outcome::Stopped;
    interval = std::min(policy_.max, std::chrono::milliseconds(interval.count() * 3 / 2 + 1));
  }
}

}  // namespace she
