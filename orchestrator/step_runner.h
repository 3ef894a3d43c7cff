// One step of the walk: its loop items (fixed and journaled the first time
// the loop runs, so a resumed loop works on the same list), its `when`, and
// its iterations on at most `concurrency` threads. After a failure, a
// question or a stop no new iteration starts; running ones finish.
#pragma once

#include <string>

#include "orchestrator/run_context.h"

namespace she {

struct StepOutcome {
  bool awaiting = false;
  bool interrupted = false;
  std::string failed;  // first error, empty when none failed
};

/// Runs `s`, resuming from `prior` (its state when the walk reached it).
/// Throws JournalFailure, after the loop's threads have finished.
StepOutcome run_step(RunContext& run, const Step& s, const StepState& prior, const std::string& where);

/// Makes a step's outputs visible to later steps as ${steps.ID...}: its
/// outputs, or for a loop {results: [...]} with each item and its outcome.
void publish_outputs(RunContext& run, const Step& s, const StepState& st);

}  // namespace she
