// One step of the walk: its loop items (fixed and journaled the first time
// the loop runs, so a resumed loop works on the same list), its `when`, and
// its iterations on at most `concurrency` threads. After a failure, a
// question or a stop no new iteration starts; running ones finish.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "orchestrator/iteration_runner.h"
#include "orchestrator/run_context.h"

namespace she {

struct StepOutcome {
  bool awaiting = false;
  bool interrupted = false;
  std::string failed;  // first error, empty when none failed
  const Step* failed_step = nullptr;  // in a block: the step that failed
};

/// The items a loop works on: fixed and journaled the first time the loop
/// runs (a resumed loop works on the same list); one null item without a
/// loop. False when they cannot be had (`out` says why).
bool fix_loop_items(RunContext& run, const Step& s, const StepState& prior, std::vector<Value>* items,
                    StepOutcome* out);
/// Opens in the background the SSH sessions `steps` will need for each of
/// a loop's `items`, now that the items are known (RunConnections::prewarm):
/// an item's first command on its host then finds the handshake done.
/// A loop warmed once stays so (its hosts may be in use by then).
void warm_item_hosts(RunContext& run, const std::vector<const Step*>& steps, const std::vector<Value>& items);
/// How many steps from the next one a run looks at for loops to warm: a
/// bound, so a long plan pays no more per step.
constexpr size_t kLoopLookAhead = 16;
/// The loops among the kLoopLookAhead steps from index `next` whose items
/// `roots` fix now (a loop over what a selection found, once it ran), with
/// those items; the loops `skip` says are left out (warmed already, passed).
std::vector<std::pair<const Step*, std::vector<Value>>> loops_fixed_ahead(
    const Plan& plan, const Value& roots, size_t next, const std::function<bool(const Step&)>& skip);
/// How many steps from the next one a run looks at for a host the engine
/// is reached through (`via`): its tunnel's session is opened while the
/// step before it runs (a deploy), not at the start, where it would only
/// slow the first steps' own handshakes.
constexpr size_t kTunnelLookAhead = 2;
/// Warms, as soon as the steps run so far fix them, the item hosts of
/// loops_fixed_ahead and the tunnels of the steps close ahead: the
/// handshakes go on while the steps between run, not when the step needing
/// them starts.
void warm_ahead(RunContext& run, size_t next);

/// Connects ahead to the hosts the steps still to run name as their SSH
/// target or file end, where the name is known from `roots` (parameters,
/// variables; not an earlier step's output, known only when it runs, nor a
/// loop's items, warmed when the loop fixes them: warm_item_hosts).
void warm_hosts_ahead(RunContext& run, const Value& roots);

/// Runs `one(i)` for each i below `count` on at most `concurrency` threads
/// (the caller's among them). An exception (a journal that cannot be
/// written) sets `stop_starting`, `thrown_at(i)` marks its item, and it is
/// rethrown once every thread has finished.
void run_items(size_t count, int concurrency, std::atomic<bool>& stop_starting, const std::function<void(size_t)>& one,
               const std::function<void(size_t)>& thrown_at);
/// Whether the walk passes by a step or iteration of `s` in `status`:
/// done, or failed and passed over (on_failure: continue; --from runs it
/// again).
bool passed_by(const Step& s, const std::string& status);
/// passed_by as `state` has `s` now (between steps: no loop thread writes it).
bool passed_in(const RunState& state, const Step& s);
/// Journals `list` as the items of loop `s`.
void record_loop_items(RunContext& run, const Step& s, const Value& list);

/// Runs `s`, resuming from `prior` (its state when the walk reached it):
/// begin_step, run_iterations, end_step. Throws JournalFailure, after the
/// loop's threads have finished.
StepOutcome run_step(RunContext& run, const Step& s, const StepState& prior, const std::string& where);
/// What comes before a step's iterations, on the walk's thread (it reads
/// the run's roots, which only the walk writes): its loop items, fixed and
/// warmed, and its `when`. False when nothing is to run: skipped, or
/// failed (`out` says why).
bool begin_step(RunContext& run, const Step& s, const StepState& prior, const std::string& where,
                std::vector<Value>* items, StepOutcome* out);
/// The iterations of `s` over `items`, on at most its `concurrency`
/// threads (the caller's among them). Steps of a group run theirs on
/// threads of their own at the same time: only reads of the roots.
std::vector<IterationResult> run_iterations(RunContext& run, const Step& s, const std::vector<Value>& items,
                                            const std::string& where);
/// After them, on the walk's thread: the step's outputs published and its
/// outcome from its iterations'.
StepOutcome end_step(RunContext& run, const Step& s, const std::vector<IterationResult>& results);

/// Makes a step's outputs visible to later steps as ${steps.ID...}: its
/// outputs, or for a loop {results: [...]} with each item and its outcome.
void publish_outputs(RunContext& run, const Step& s, const StepState& st);

}  // namespace she
