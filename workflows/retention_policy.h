// Which backups a retention policy keeps (restic's `forget` is the model):
// pure, so the rule is tested on a table of dated archives, apart from the
// storage it is applied to (backup.prune, workflows/steps/retention_steps.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace she {

/// How many of the newest archives to keep, overall and one per calendar
/// day, ISO week and month (UTC). A count of 0 keeps none by that rule.
struct RetentionPolicy {
  int keep_last = 0;
  int keep_daily = 0;
  int keep_weekly = 0;
  int keep_monthly = 0;
  bool keeps_anything() const { return keep_last > 0 || keep_daily > 0 || keep_weekly > 0 || keep_monthly > 0; }
};

struct DatedArchive {
  std::string name;
  std::int64_t time = 0;  // Unix seconds
  /// Its manifest says it was checked when it was stored. An archive that
  /// is not is outside the policy: neither counted as kept nor removed.
  bool verified = false;
};

struct RetentionDecision {
  std::vector<std::string> keep;        // verified, newest first
  std::vector<std::string> remove;      // verified, newest first
  std::vector<std::string> unverified;  // left alone, newest first
  /// Why each kept archive is kept: "newest", "last 2", "daily 2024-03-05",
  /// "weekly 2024-W10", "monthly 2024-03".
  std::map<std::string, std::vector<std::string>> reasons;
};

/// Applies `policy` to `archives`: each rule walks the verified archives
/// from the newest and keeps the newest of each period it has not seen
/// yet, until its count is spent. The newest verified archive is always
/// kept, whatever the policy says. Ties in time are broken by name.
RetentionDecision apply_retention(const RetentionPolicy& policy, std::vector<DatedArchive> archives);

}  // namespace she
