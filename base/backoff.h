// The one back-off between retries: exponential from `first`, doubling each
// attempt up to `max`, with ±20% jitter so that parallel callers (loop
// iterations, concurrent engine reads) do not retry in lockstep. It only
// says how long; waiting stays with wait_unless (base/duration.h) and the
// Poller (base/poller.h), which stop at once when the run must stop.
#pragma once

#include <chrono>

namespace she {

struct Backoff {
  std::chrono::milliseconds first{500};
  std::chrono::milliseconds max{std::chrono::minutes(5)};

  /// The wait after failed attempt `attempt` (1 for the first failure):
  /// min(max, first * 2^(attempt-1)), then jittered by ±20%.
  std::chrono::milliseconds next(int attempt) const;
};

}  // namespace she
