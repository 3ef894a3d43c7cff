#include "base/backoff.h"

#include <algorithm>
#include <random>

namespace she {

std::chrono::milliseconds Backoff::next(int attempt) const {
  // The shift is capped so that a long retry series saturates at `max`
  // instead of overflowing.
  int doublings = std::clamp(attempt - 1, 0, 20);
  long long base = first.count();
  long long cap = std::max<long long>(0, max.count());
  long long nominal = base > (cap >> doublings) ? cap : std::min(cap, base << doublings);
  // One generator per thread: loop threads retry concurrently and must not
  // share (or lock) one.
  thread_local std::mt19937 rng(std::random_device{}());
  double jitter = std::uniform_real_distribution<double>(0.8, 1.2)(rng);
  return std::chrono::milliseconds(static_cast<long long>(static_cast<double>(nominal) * jitter));
}

}  // namespace she
