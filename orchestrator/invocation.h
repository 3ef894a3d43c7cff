// How the operator named this plan on the command line, for the commands
// every hint prints. A hint that drops --state-dir or --env sends the
// operator to a run that was "never run"; one built here repeats them.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace she {

struct Invocation {
  std::string plan_file;
  // What finds the same run and binds the plan the same way: --state-dir,
  // --env, each --param. A dry run takes all but --state-dir.
  std::string state_dir;
  std::string env_file;
  std::vector<std::pair<std::string, std::string>> params;
  // How the run was answered: repeated by the commands that run it again.
  std::string answers_file;
  bool yes = false;

  /// `she-restore PLAN FLAGS EXTRA`: runs (resumes) the same run.
  std::string run(std::string_view extra = {}) const;
  /// `she-restore status PLAN FLAGS`: where that run stands.
  std::string status() const { return subcommand("status"); }
  /// `she-restore NAME PLAN FLAGS EXTRA` for the commands that read the
  /// runs (status, runs, report).
  std::string subcommand(std::string_view name, std::string_view extra = {}) const;
  /// `she-restore --dry-run PLAN FLAGS`: rehearses the same plan.
  std::string dry_run() const;
};

}  // namespace she
