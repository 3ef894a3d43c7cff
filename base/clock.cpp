#include "base/clock.h"

#include <chrono>
#include <cstdio>
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

std::string utc_now_ms() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03lldZ", ms);
  return buf;
}

long long utc_ms(const std::string& text) {
  std::tm tm{};
  int ms = 0, used = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &used) != 6)
    return -1;
  std::string rest = text.substr(static_cast<size_t>(used));
  if (rest.size() == 5 && rest[0] == '.' && rest[4] == 'Z' && std::sscanf(rest.c_str(), ".%3d", &ms) == 1) {
  } else if (rest != "Z") {
    return -1;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<long long>(timegm(&tm)) * 1000 + ms;
}

}  // namespace she
