// Shell completion. The bash script is written from the command line's own
// definition (the CLI11 app of cli.cpp) and the step catalog, so a flag or
// step type added there is completed without a second list to keep.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace she {

class StepCatalog;

/// The hidden subcommand the script calls to complete `--from`.
inline constexpr const char* kStepIdsCommand = "__step-ids";

/// A bash completion script defining `_she_restore`: subcommands, each
/// one's flags and their choices, plan files, step types for `steps`, and
/// step ids for `--from`, which it asks `she-restore __step-ids PLAN` for.
std::string bash_completion(CLI::App& app, const StepCatalog& catalog);

/// Prints the ids of the plan's steps (its procedure's, with `uses`), one a
/// line. Reads the YAML only: no environment, lab or validation, so it
/// answers while the plan is still being written. Exit 0, or 3 when the
/// plan cannot be read (nothing printed on stdout: the shell offers nothing).
int print_step_ids(const std::string& plan_file);

}  // namespace she
