// `she-restore runs PLAN` and `she-restore report PLAN`: every run of a plan
// kept under the state directory, and the report of any of them, rebuilt
// from its journal (the record of what happened) rather than read from a
// report file a killed run may never have rewritten.
#pragma once

#include <string>

#include "orchestrator/invocation.h"
#include "workflows/plan.h"

namespace she {

/// One line per run (id, start, end, wall time, result, who, what was left
/// for the operator); `output` is text or json.
int command_runs(const Plan& plan, const Invocation& inv, const std::string& output);
/// The report of run `run_id` (the latest when empty) as md or json.
int command_report(const Plan& plan, const Invocation& inv, const std::string& run_id, const std::string& format);

}  // namespace she
