// Settling a step that may have acted: it was interrupted mid-flight, or a
// `once` step failed after its call went out. Such a step is never repeated
// blindly: its probe decides, or else the operator, for this attempt only
// (an answer never carries over to a later interruption).
#pragma once

#include <string>

#include "orchestrator/run_context.h"

namespace she {

struct Settled {
  enum Verdict {
    Done,   // the effect is in place: the attempt counts as succeeded
    Run,    // it did not happen (or may be repeated): run it
    Await,  // nobody can tell yet: the run waits for the operator
    Finish, // under way: verify (wait for) it, with the probe's outputs, without acting again
  } verdict = Run;
  Value outputs = Value::object();
  std::string note;  // how it was decided, for the journal and progress
};

/// Whether step `s` (iteration `ikey`, attempt `attempt`) took effect; `why`
/// says what happened to it, for the operator's question.
Settled settle(RunContext& run, const Step& s, const StepContext& ctx, const std::string& ikey, int attempt,
               const std::string& why);

}  // namespace she
