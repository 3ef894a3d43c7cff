#include "workflows/retention_policy.h"

#include <algorithm>
#include <ctime>
#include <fmt/format.h>

namespace she {

namespace {

std::string utc(std::int64_t t, const char* format) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

struct Rule {
  const char* name;
  int left;
  const char* period;  // strftime format of the period; null: every archive is its own
  std::string last_seen;
};

}  // namespace

RetentionDecision apply_retention(const RetentionPolicy& policy, std::vector<DatedArchive> archives) {
  std::sort(archives.begin(), archives.end(), [](const DatedArchive& a, const DatedArchive& b) {
    return a.time != b.time ? a.time > b.time : a.name > b.name;
  });
  Rule rules[] = {{"last", policy.keep_last, nullptr, {}},
                  {"daily", policy.keep_daily, "%Y-%m-%d", {}},
                  {"weekly", policy.keep_weekly, "%G-W%V", {}},
                  {"monthly", policy.keep_monthly, "%Y-%m", {}}};
  RetentionDecision d;
  bool newest = true;
  for (const auto& a : archives) {
    if (!a.verified) {
      d.unverified.push_back(a.name);
      continue;
    }
    std::vector<std::string> why;
    if (newest) why.push_back("newest");
    newest = false;
    for (auto& r : rules) {
      if (r.left <= 0) continue;
      std::string period = r.period ? utc(a.time, r.period) : a.name;
      if (period == r.last_seen) continue;
      r.last_seen = period;
      --r.left;
      why.push_back(r.period ? fmt::format("{} {}", r.name, period)
                             : fmt::format("{} {}", r.name, policy.keep_last - r.left));
    }
    if (why.empty()) {
      d.remove.push_back(a.name);
    } else {
      d.keep.push_back(a.name);
      d.reasons[a.name] = std::move(why);
    }
  }
  return d;
}

}  // namespace she
