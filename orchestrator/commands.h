// The commands main() dispatches to. Each returns the process exit code.
#pragma once

#include <optional>

#include "orchestrator/cli.h"
#include "workflows/plan.h"

namespace she {

/// Loads and validates the plan; prints every error with its position.
std::optional<Plan> load_plan_or_report(const Options& opts);

int command_validate(const Plan& plan);
/// Read-only steps run for real unless `offline`.
int command_dry_run(const Plan& plan, bool offline);
int command_run(const Plan& plan, const Options& opts);
int command_status_of(const Plan& plan, const Options& opts);
int command_steps(const Options& opts);
/// Exit 0 when the archive checks out, 1 (with every reason) when not.
int command_verify_backup(const Options& opts);

}  // namespace she
