// The report of a run, in JSON (for tools) and Markdown (for people): run
// id, plan, who, when, result, every step's timing, outcome and captured
// values, the operator's answers and the warnings. Written at every stop.
#pragma once

#include <string>
#include <vector>

#include "orchestrator/invocation.h"
#include "orchestrator/redactor.h"
#include "orchestrator/run_directory.h"
#include "orchestrator/run_state.h"
#include "workflows/plan.h"

namespace she {

/// A failure the run went on after (on_failure: continue). A resume does
/// not run such a step again; `--from` the first one does.
struct PassedOver {
  std::string step, label, error;
};
/// In plan order, one per failed iteration.
std::vector<PassedOver> passed_over(const Plan& plan, const RunState& state);

Value report_json(const Plan& plan, const RunState& state);
std::string report_markdown(const Value& report);
/// The few lines an operator reads at the end of a run: the result and
/// wall time, steps done / skipped / failed, the longest ones, the engine
/// hosts fenced, removed and added, and what is left for the operator (the
/// failures of steps that went on, with the `--from` that runs them again
/// when the run can be resumed).
std::string run_summary(const Plan& plan, const RunState& state, long long elapsed_ms, const Invocation* resume);

bool write_reports(const Plan& plan, const RunPaths& paths, const RunState& state, const Redactor& redactor,
                   std::string* err);

}  // namespace she
