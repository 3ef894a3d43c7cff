#include "base/clock.h"

#include <ctime>

namespace she {

std::string format_utc_now(const char* format) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

std::string utc_now() { return format_utc_now("%Y-%m-%dT%H:%M:%SZ"); }

}  // namespace she
