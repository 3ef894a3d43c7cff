// One iteration of one step (the step itself when it has no loop), from its
// `when` and parameters through its attempts: each attempt is journaled
// before and after it acts, failures retry with back-off as the step's
// `retry` allows, and one that may have acted is settled, not repeated.
// Loop threads run iterations concurrently.
#pragma once

#include <string>

#include "orchestrator/run_context.h"

namespace she {

enum class Outcome { Succeeded, Failed, Skipped, Awaiting, Interrupted };

struct IterationResult {
  Outcome outcome = Outcome::Succeeded;
  Value item;
  Value outputs = Value::object();
  std::string error;
};

/// Runs iteration `key` ("" without a loop) of `s` on `item`; `where` names
/// the step in progress lines. Throws JournalFailure.
/// The Correlation-Id of a step's calls in a run: "she-" + the run's unique
/// suffix + the step id, at most 36 characters, distinct per step.
std::string correlation_id(const std::string& run_id, const std::string& step_id);

/// `item_steps`: inside a block, the outputs this item got from the
/// block's earlier steps, by step id (what ${steps.ID...} means there).
IterationResult run_iteration(RunContext& run, const Step& s, const std::string& key, const Value& item,
                              const std::string& where, const Value* item_steps = nullptr);

}  // namespace she
