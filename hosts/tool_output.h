// What the tools she-restore drives print, read back into facts
// (reference: ovirt-he-automation.md sections 2 and 3).
#pragma once

#include <string>
#include <vector>

#include "base/value.h"

namespace she {

struct HeHostStatus {
  int host_id = 0;
  std::string hostname;
  int score = 0;
  std::string engine_vm;      // up | down | down_unexpected | down_missing | unknown
  std::string engine_health;  // good | bad | unknown
  std::string engine_detail;
  bool maintenance = false;   // local maintenance
  bool live_data = true;
  bool stopped = false;
};

struct HeClusterStatus {
  std::vector<HeHostStatus> hosts;
  bool global_maintenance = false;

  int min_score() const;
  /// The host where the engine VM is up with good health, or "".
  std::string engine_host() const;
  /// The step outputs of hosted_engine.vm_status.
  Value to_value() const;
};

/// Parses `hosted-engine --vm-status --json` output and exit status.
/// Throws std::runtime_error with the tool's own words when it is not a
/// status: not deployed, a broker error (printed as a Python dict), exit 1.
HeClusterStatus parse_vm_status(const std::string& stdout_text, const std::string& stderr_text, int exit_status);

struct EngineBackupOutcome {
  bool ok = false;
  bool engine_setup_needed = false;  // "You should now run engine-setup."
  std::vector<std::string> fatal;    // "FATAL: ..." lines, without the prefix
};

/// Reads engine-backup's result: exit 0 and "Done." is success.
EngineBackupOutcome parse_engine_backup(const std::string& stdout_text, const std::string& stderr_text, int exit_status);

}  // namespace she
