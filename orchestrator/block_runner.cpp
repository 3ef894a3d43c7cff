#include "orchestrator/block_runner.h"

#include <algorithm>
#include <atomic>
#include <fmt/format.h>
#include <mutex>

#include "orchestrator/iteration_runner.h"
#include "orchestrator/stop_signals.h"
#include "workflows/step_expansion.h"

namespace she {

namespace {

/// An iteration the walk does not run again.
bool settled_for_good(const Step& s, const IterationState* it) { return it && passed_by(s, it->status); }

/// What stopped one item, for the block's outcome.
struct ItemEnd {
  Outcome outcome = Outcome::Succeeded;
  const Step* step = nullptr;
  std::string error;
};

}  // namespace

bool block_done(RunContext& run, const Block& b) {
  std::lock_guard<std::mutex> lock(run.state_mutex);
  const Step& head = run.plan.steps[b.first];
  auto found = run.state.steps.find(head.id);
  if (found == run.state.steps.end() || !found->second.loop_expanded) return false;
  size_t items = found->second.items.size();
  for (size_t j = b.first; j < b.first + b.count; ++j) {
    const Step& s = run.plan.steps[j];
    auto st = run.state.steps.find(s.id);
    if (st != run.state.steps.end() && !st->second.skip_reason.empty()) continue;
    for (size_t i = 0; i < items; ++i)
      if (!settled_for_good(s, run.state.iteration(s.id, std::to_string(i)))) return false;
  }
  return true;
}

StepOutcome run_block(RunContext& run, const Block& b, const std::string& where) {
  StepOutcome out;
  const Plan& plan = run.plan;
  const Step& head = plan.steps[b.first];
  StepState prior;
  {
    std::lock_guard<std::mutex> lock(run.state_mutex);
    if (run.state.steps.count(head.id)) prior = run.state.steps.at(head.id);
  }
  // One list for the whole block, journaled for each of its steps.
  std::vector<Value> items;
  if (!fix_loop_items(run, head, prior, &items, &out)) {
    if (!out.failed.empty()) out.failed_step = &head;
    return out;
  }
  std::vector<const Step*> steps;
  for (size_t j = b.first; j < b.first + b.count; ++j) {
    const Step& s = plan.steps[j];
    bool expanded, skipped;
    {
      std::lock_guard<std::mutex> lock(run.state_mutex);
      auto st = run.state.steps.find(s.id);
      expanded = st != run.state.steps.end() && st->second.loop_expanded;
      skipped = st != run.state.steps.end() && !st->second.skip_reason.empty();
    }
    if (skipped) continue;
    if (run.skipped_by_mode(s, fmt::format("[{}/{}] {}", j + 1, plan.steps.size(), s.id))) continue;
    if (!expanded) record_loop_items(run, s, Value(items));
    steps.push_back(&s);
  }
  warm_item_hosts(run, steps, items);
  std::vector<std::string> ids;
  for (const Step* s : steps) ids.push_back(s->id);
  run.say(where, fmt::format("{} ({} item{} through {}, {} at a time)", b.name, items.size(),
                             items.size() == 1 ? "" : "s", fmt::join(ids, " -> "), head.concurrency));

  std::vector<ItemEnd> ends(items.size());
  std::atomic<bool> stop_starting{false};
  auto one_item = [&](size_t i) {
    const std::string key = std::to_string(i);
    Value mine = Value::object();  // this item's outputs of the steps it went through
    for (const Step* s : steps) {
      std::optional<IterationState> prev = run.iteration_now(s->id, key);
      if (prev && prev->status == "succeeded") {
        mine[s->id] = prev->outputs;
        continue;
      }
      if (settled_for_good(*s, prev ? &*prev : nullptr)) continue;
      // Between two steps of an item is a safe point: after a stop or a
      // failure elsewhere the item waits there for the next run.
      if (stop_requested() || stop_starting) {
        ends[i].outcome = stop_requested() ? Outcome::Interrupted : Outcome::Skipped;
        return;
      }
      size_t index = static_cast<size_t>(s - plan.steps.data());
      IterationResult r =
          run_iteration(run, *s, key, items[i], fmt::format("[{}/{}] {}", index + 1, plan.steps.size(), s->id), &mine);
      switch (r.outcome) {
        case Outcome::Succeeded: mine[s->id] = r.outputs; continue;
        case Outcome::Skipped: continue;
        case Outcome::Failed:
          if (s->on_failure == OnFailure::Continue) continue;
          ends[i] = {Outcome::Failed, s, r.error};
          stop_starting = true;
          return;
        case Outcome::Awaiting:
        case Outcome::Interrupted:
          ends[i] = {r.outcome, s, ""};
          stop_starting = true;
          return;
      }
    }
  };
  run_items(items.size(), head.concurrency, stop_starting, one_item,
            [&](size_t i) { ends[i].outcome = Outcome::Interrupted; });

  for (size_t j = b.first; j < b.first + b.count; ++j)
    publish_outputs(run, plan.steps[j], run.state.steps[plan.steps[j].id]);
  for (size_t i = 0; i < ends.size(); ++i) {
    const ItemEnd& e = ends[i];
    if (e.outcome == Outcome::Awaiting) out.awaiting = true;
    if (e.outcome == Outcome::Interrupted) out.interrupted = stop_requested();
    if (e.outcome == Outcome::Failed && out.failed.empty()) {
      out.failed = label_of(items[i]) + ": " + e.error;
      out.failed_step = e.step;
    }
  }
  if (out.awaiting && out.interrupted) out.awaiting = false;  // a stop outranks an open question
  return out;
}

}  // namespace she
