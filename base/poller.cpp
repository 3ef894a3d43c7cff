#include "base/poller.h"

#include <algorithm>

#include "base/duration.h"

namespace she {

Poller::Outcome Poller::wait(const std::string& where, const std::string& what, std::chrono::milliseconds timeout,
                             const std::function<bool()>& reached) const {
  return follow(where, what, timeout, [&] { return reached() ? Look::Reached : Look::Still; });
}

Poller::Outcome Poller::follow(const std::string& where, const std::string& what, std::chrono::milliseconds timeout,
                               const std::function<Look()>& look) const {
  if (runner_ && runner_->rehearsal()) {
    const Operation op(Operation::Kind::Wait, false, where, "until " + what);
    bool met = false;
    runner_->run(op, [&] {
      try {
        met = look() == Look::Reached;
      } catch (const RehearsalUnknown&) {
        // What it waits on follows from a write not made: assumed met.
      }
    });
    return met ? Outcome::Reached : Outcome::Assumed;
  }
  auto start = std::chrono::steady_clock::now();
  std::chrono::milliseconds interval{0};
  while (true) {
    const Look seen = look();
    if (seen == Look::Reached) return Outcome::Reached;
    if (should_stop_ && should_stop_()) return Outcome::Stopped;
    if (std::chrono::steady_clock::now() - start > timeout) return Outcome::TimedOut;
    interval = next_wait(policy_, interval, seen);
    if (!wait_unless(interval, should_stop_)) return Outcome::Stopped;
  }
}

std::chrono::milliseconds Poller::next_wait(const PollPolicy& policy, std::chrono::milliseconds last, Look seen) {
  if (seen == Look::Moving || last.count() <= 0) return policy.first;
  return std::min(policy.max, std::chrono::milliseconds(last.count() * 3 / 2 + 1));
}

}  // namespace she
