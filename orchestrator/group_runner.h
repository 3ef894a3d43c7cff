// A group (`parallel:`): its steps run side by side, each once; steps that
// reach the same host run one after the other (a lane: one thread, one SSH
// session), lanes side by side; the walk goes on when every lane has ended.
// What comes before and after a step (its `when`, its outputs) stays on the
// walk's thread; each step is journaled as any other, so resume, --from,
// status and reports read a group as its steps, and a resumed group runs
// only the steps that had not passed.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "orchestrator/run_context.h"
#include "orchestrator/step_runner.h"

namespace she {

/// Whether every step of group `g` has passed (succeeded, skipped, or
/// failed and passed over by on_failure: continue).
bool group_done(RunContext& run, const Block& g);

/// Runs the steps of group `g` that have not passed, side by side, and
/// returns each one's outcome in plan order, for the walk to settle in that
/// order (the first that stops the run names it). The lanes start
/// together; after a failure, a question or a stop no lane starts its next
/// step (left pending, with no outcome); steps under way finish. A stop
/// before the group starts nothing (the walk looks first). In progress
/// lines `at` places the group and `where(step)` a step. Throws
/// JournalFailure, after every step's thread has finished.
std::vector<std::pair<const Step*, StepOutcome>> run_group(RunContext& run, const Block& g, const std::string& at,
                                                           const std::function<std::string(const Step&)>& where);

}  // namespace she
