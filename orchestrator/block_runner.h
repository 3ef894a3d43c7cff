// A block (a pipeline): each loop item goes through the block's steps in
// order on its own, at most `concurrency` items in flight, so no item waits
// for another item's step (fence -> remove -> wipe -> reinstall of one host
// never waits for the slowest fence of the others). Each item's step is
// one iteration of that step, journaled as any loop iteration, so resume,
// --from, status and reports read a block as its steps.
#pragma once

#include <string>

#include "orchestrator/run_context.h"
#include "orchestrator/step_runner.h"

namespace she {

/// Whether every item has been through every step of block `b` (each
/// step succeeded, skipped, or failed and passed over by on_failure:
/// continue); a resumed walk passes such a block by.
bool block_done(RunContext& run, const Block& b);

/// Runs what is left of block `b`. After a failure, a question or a stop
/// no item starts a new step; steps under way finish. Throws
/// JournalFailure, after the item threads have finished.
StepOutcome run_block(RunContext& run, const Block& b, const std::string& where);

}  // namespace she
