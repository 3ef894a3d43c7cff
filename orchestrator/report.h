// The report of a run, in JSON (for tools) and Markdown (for people): run
// id, plan, who, when, result, every step's timing, outcome and captured
// values, the operator's answers and the warnings. Written at every stop.
#pragma once

#include <string>

#include "orchestrator/redactor.h"
#include "orchestrator/run_directory.h"
#include "orchestrator/run_state.h"
#include "workflows/plan.h"

namespace she {

Value report_json(const Plan& plan, const RunState& state);
std::string report_markdown(const Value& report);
bool write_reports(const Plan& plan, const RunPaths& paths, const RunState& state, const Redactor& redactor,
                   std::string* err);

}  // namespace she
