// The command line: one parse into Options, with CLI11. Every flag parsed
// here is used by a command; none is accepted and ignored.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/executor.h"

namespace she {


enum class Command { Run, DryRun, Validate, Status, Runs, Report, Steps, VerifyBackup, Completion, Schema, StepIds };

struct Options {
  Command command = Command::Run;
  std::string plan_file;
  std::string env_file;                                     // --env
  std::vector<std::pair<std::string, std::string>> params;  // --param NAME=VALUE
  std::string step_type;                                    // steps [TYPE]
  RunOptions run;                                           // run-only flags (and --state-dir for status)
  bool yes = false;                                         // --yes
  std::string answers_file;                                 // --answers
  std::string output = "text";                              // status/runs --output
  std::string report_run;                                   // report --run
  std::string report_format = "md";                         // report --format
  std::string backup_file;                                  // verify-backup FILE
  std::string target_version;                               // verify-backup --target-version
  bool offline = false;                                     // --dry-run --offline: no live reads
  std::string completion_script;                            // completion bash: written from the parser itself
};

/// Fills `opts`, or returns the exit code to leave with (help, version,
/// usage errors: those are printed here).
std::optional<int> parse_command_line(int argc, char** argv, Options& opts);

}  // namespace she
