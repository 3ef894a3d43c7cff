#include "base/duration.h"

#include <cctype>
#include <thread>

namespace she {

std::optional<Duration> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  long long total_ms = 0;
  size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    size_t start = i;
    long long n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      n = n * 10 + (text[i] - '0');
      if (n > 100000000) return std::nullopt;  // far beyond any sane timeout
      ++i;
    }
    if (i == start) return std::nullopt;
    std::string_view unit;
    size_t ustart = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    unit = text.substr(ustart, i - ustart);
    long long factor;
    if (unit.empty()) {
      if (any || i != text.size()) return std::nullopt;  // "90" alone means seconds
      factor = 1000;
    } else if (unit == "ms") factor = 1;
    else if (unit == "s") factor = 1000;
    else if (unit == "m") factor = 60 * 1000;
    else if (unit == "h") factor = 3600 * 1000;
    else if (unit == "d") factor = 24 * 3600 * 1000;
    else return std::nullopt;
    total_ms += n * factor;
    any = true;
  }
  return Duration(total_ms);
}

std::string format_duration(Duration d) {
  long long ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  auto take = [&](long long unit, const char* suffix) {
    if (ms >= unit) {
      out += std::to_string(ms / unit) + suffix;
      ms %= unit;
    }
  };
  take(24LL * 3600 * 1000, "d");
  take(3600LL * 1000, "h");
  take(60LL * 1000, "m");
  take(1000, "s");
  take(1, "ms");
  return out;
}

const char* duration_hint() {
  return "write a number with a unit: 250ms, 30s, 5m, 1h30m, 2d (a bare number means seconds)";
}

bool wait_unless(Duration d, const std::function<bool()>& stop) {
  for (auto until = std::chrono::steady_clock::now() + d; std::chrono::steady_clock::now() < until;) {
    if (stop && stop()) return false;
    std::this_thread::sleep_for(std::min<Duration>(Duration(20), d));
  }
  return !(stop && stop());
}

}  // namespace she
