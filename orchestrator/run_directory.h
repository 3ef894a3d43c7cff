// Where runs live: $XDG_STATE_HOME/she-restore/<plan>/<run-id>/ (0700),
// holding the frozen plan, the journal, the log and the reports. The
// plan's lock sits beside its runs.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace she {

struct RunPaths {
  std::string dir;
  std::string frozen_plan() const { return dir + "/plan.json"; }
  std::string journal() const { return dir + "/journal"; }
  std::string log() const { return dir + "/she-restore.log"; }
  std::string report_md() const { return dir + "/report.md"; }
  std::string report_html() const { return dir + "/report.html"; }
  std::string report_json() const { return dir + "/report.json"; }
};

/// --state-dir, else $XDG_STATE_HOME/she-restore, else ~/.local/state/she-restore.
std::string state_root(const std::string& override_dir);
/// The plan's directory under the state root (its name made path-safe).
std::string plan_state_dir(const std::string& root, const std::string& plan_name);
std::string plan_lock_path(const std::string& plan_dir);
RunPaths run_paths(const std::string& plan_dir, const std::string& run_id);
/// Sortable and unique, numbered after the plan's runs so two started in
/// the same second still sort in order: 0003-20261121T054920Z-3fa9c1.
std::string new_run_id(const std::string& plan_dir);
/// Run ids of the plan, oldest first.
std::vector<std::string> list_runs(const std::string& plan_dir);

}  // namespace she
