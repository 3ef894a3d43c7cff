// Opening a run: refuse step types this release cannot run, take the plan's
// lock, pick the run (the latest one to resume, or a new one), read its
// journal (the one read of the run) into the run state, refuse a changed
// plan unless --replan, and journal that the run started or resumed.
#pragma once

#include "orchestrator/run_context.h"

namespace she {

/// True when the walk may begin. False with the exit code in `code`: an
/// error (said on stderr), or kOk for a run that had already succeeded.
/// Throws JournalFailure when the opening record cannot be written.
bool open_run(RunContext& run, int* code);

}  // namespace she
