#include "orchestrator/step_runner.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <fmt/format.h>
#include <mutex>
#include <set>
#include <thread>

#include "base/interrupted.h"
#include "engine_api/engine_error.h"
#include "orchestrator/iteration_runner.h"
#include "orchestrator/stop_signals.h"
#include "workflows/step_expansion.h"

namespace she {

namespace {

/// The items of a loop over a live host query: the engine's hosts as the
/// query selects them, now (the list is then journaled like any other).
std::string live_hosts(RunContext& run, const Step& s, Value* list) {
  try {
    *list = run.connections.live_hosts(s.foreach, run.roots, [] { return stop_requested(); });
    std::vector<std::string> names;
    for (auto& h : *list) names.push_back(label_of(h));
    run.say(s.id, fmt::format("{} host(s) selected from the engine: {}", names.size(), fmt::join(names, ", ")));
    return "";
  } catch (const EvalError& e) {
    return e.what();
  } catch (const engine_api::EngineError& e) {
    return "cannot list the engine's hosts for the loop: " + std::string(e.what());
  } catch (const StepError& e) {
    return e.what();
  }
}

}  // namespace

void publish_outputs(RunContext& run, const Step& s, const StepState& st) {
  if (s.foreach.kind == Foreach::Kind::None) {
    auto it = st.iterations.find("");
    if (it != st.iterations.end()) run.roots["steps"][s.id] = it->second.outputs;
    return;
  }
  Value results = Value::array();
  for (size_t i = 0; i < st.items.size(); ++i) {
    auto it = st.iterations.find(std::to_string(i));
    Value r = it == st.iterations.end() ? Value::object() : it->second.outputs;
    r["item"] = st.items[i];
    r["outcome"] = it == st.iterations.end() ? "pending" : it->second.status;
    results.push_back(r);
  }
  run.roots["steps"][s.id] = {{"results", results}};
}

bool fix_loop_items(RunContext& run, const Step& s, const StepState& prior, std::vector<Value>* items,
                    StepOutcome* out) {
  if (s.foreach.kind == Foreach::Kind::None) {
    items->push_back(nullptr);
    return true;
  }
  if (prior.loop_expanded) {
    for (auto& item : prior.items) items->push_back(item);
    return true;
  }
  Value list;
  std::string problem;
  if (s.foreach.kind == Foreach::Kind::HostQuery) {
    try {
      problem = live_hosts(run, s, &list);
    } catch (const Interrupted&) {
      out->interrupted = true;  // its only stop is the run's: a signal
      return false;
    }
  } else {
    try {
      list = resolve_node(s.foreach.items, run.roots);
    } catch (const EvalError& e) {
      problem = e.what();
    }
    if (problem.empty() && (!list.is_array() || contains_deferred(list)))
      problem = "foreach did not give a list: " + to_text(list);
  }
  if (!problem.empty()) {
    run.record({{"t", rec::kStepFailed}, {"step", s.id}, {"iter", ""}, {"error", problem}, {"class", "fatal"},
                {"final", true}});
    out->failed = problem;
    return false;
  }
  for (auto& item : list) items->push_back(item);
  record_loop_items(run, s, list);
  return true;
}

bool passed_by(const Step& s, const std::string& status) {
  return status == "succeeded" || status == "skipped" || (status == "failed" && s.on_failure == OnFailure::Continue);
}

bool passed_in(const RunState& state, const Step& s) {
  auto st = state.steps.find(s.id);
  return st != state.steps.end() && passed_by(s, st->second.status());
}

void record_loop_items(RunContext& run, const Step& s, const Value& list) {
  std::vector<std::string> labels;
  for (auto& item : list) labels.push_back(label_of(item));
  run.record({{"t", rec::kLoopExpanded}, {"step", s.id}, {"items", list}, {"labels", labels}});
}

void run_items(size_t count, int concurrency, std::atomic<bool>& stop_starting, const std::function<void(size_t)>& one,
               const std::function<void(size_t)>& thrown_at) {
  std::atomic<size_t> next{0};
  std::exception_ptr thrown;
  std::mutex thrown_mutex;
  auto worker = [&] {
    for (size_t i; (i = next++) < count;) {
      try {
        one(i);
      } catch (...) {
        // A journal that cannot be written stops everything; the other
        // threads finish what they are doing first.
        std::lock_guard<std::mutex> lock(thrown_mutex);
        if (!thrown) thrown = std::current_exception();
        stop_starting = true;
        thrown_at(i);
      }
    }
  };
  size_t threads = std::min<size_t>(static_cast<size_t>(std::max(1, concurrency)), count);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (thrown) std::rethrow_exception(thrown);
}

void warm_item_hosts(RunContext& run, const std::vector<const Step*>& steps, const std::vector<Value>& items) {
  std::vector<SshEndpoint> hosts;
  std::set<std::string> seen;
  Value scope = run.roots;
  std::vector<const Step*> loops;
  for (const Step* s : steps)
    if (s->foreach.kind != Foreach::Kind::None && run.loops_warmed.insert(s).second) loops.push_back(s);
  for (const Value& item : items)
    for (const Step* s : loops) {
      scope[s->foreach.as] = item;
      RunConnections::hosts_named(run.plan, *s, scope, &seen, &hosts);
    }
  if (!hosts.empty()) run.connections.prewarm(hosts);
}

std::vector<std::pair<const Step*, std::vector<Value>>> loops_fixed_ahead(
    const Plan& plan, const Value& roots, size_t next, const std::function<bool(const Step&)>& skip) {
  std::vector<std::pair<const Step*, std::vector<Value>>> out;
  for (size_t j = next; j < plan.steps.size() && j < next + kLoopLookAhead; ++j) {
    const Step& s = plan.steps[j];
    if (s.foreach.kind != Foreach::Kind::Items || skip(s)) continue;
    try {
      Value list = resolve_node(s.foreach.items, roots);
      if (list.is_array() && !contains_deferred(list)) out.emplace_back(&s, std::vector<Value>(list.begin(), list.end()));
    } catch (const EvalError&) {
      // Not known yet: the loop fixes its items (and says why not) when it starts.
    }
  }
  return out;
}

void warm_ahead(RunContext& run, size_t next) {
  auto skip = [&run](const Step& s) { return run.loops_warmed.count(&s) || passed_in(run.state, s); };
  for (const auto& [step, items] : loops_fixed_ahead(run.plan, run.roots, next, skip))
    warm_item_hosts(run, {step}, items);
  std::vector<SshEndpoint> tunnels;
  for (size_t j = next; j < run.plan.steps.size() && j < next + kTunnelLookAhead; ++j)
    if (!passed_in(run.state, run.plan.steps[j]))
      RunConnections::hosts_named(run.plan, run.plan.steps[j], run.roots, &run.tunnels_warmed, &tunnels, true);
  if (!tunnels.empty()) run.connections.prewarm(tunnels, true);
}

void warm_hosts_ahead(RunContext& run, const Value& roots) {
  std::vector<SshEndpoint> hosts;
  std::set<std::string> seen;
  for (const Step& step : run.plan.steps)
    if (!passed_in(run.state, step)) RunConnections::hosts_named(run.plan, step, roots, &seen, &hosts);
  if (!hosts.empty()) run.connections.prewarm(hosts);
}

bool begin_step(RunContext& run, const Step& s, const StepState& prior, const std::string& where,
                std::vector<Value>* items, StepOutcome* out) {
  if (!fix_loop_items(run, s, prior, items, out)) return false;
  warm_item_hosts(run, {&s}, *items);
  if (s.foreach.kind == Foreach::Kind::None) {
    WhenVerdict w;
    try {
      w = when_verdict(s, run.roots);
    } catch (const EvalError&) {
      w = WhenVerdict::Deferred;
    }
    if (w == WhenVerdict::Deferred) {
      out->failed = "its condition cannot be decided: " + s.when;
      run.record({{"t", rec::kStepFailed}, {"step", s.id}, {"iter", ""}, {"error", out->failed}, {"class", "fatal"},
                  {"final", true}});
      return false;
    }
    if (w == WhenVerdict::No) {
      run.skip(s, "condition false: " + s.when, where);
      return false;
    }
  }
  run.say(where, items->size() > 1 || s.foreach.kind != Foreach::Kind::None
                     ? fmt::format("{} ({} item{}, {} at a time)", s.name, items->size(), items->size() == 1 ? "" : "s",
                                   s.concurrency)
                     : s.name);
  return true;
}

std::vector<IterationResult> run_iterations(RunContext& run, const Step& s, const std::vector<Value>& items,
                                            const std::string& where) {
  std::vector<IterationResult> results(items.size());
  std::atomic<bool> stop_starting{false};
  run_items(
      items.size(), s.concurrency, stop_starting,
      [&](size_t i) {
        if (stop_requested() || stop_starting) {
          results[i].outcome = stop_requested() ? Outcome::Interrupted : Outcome::Skipped;
          return;
        }
        std::string key = s.foreach.kind == Foreach::Kind::None ? "" : std::to_string(i);
        results[i] = run_iteration(run, s, key, items[i], where);
        if ((results[i].outcome == Outcome::Failed && s.on_failure != OnFailure::Continue) ||
            results[i].outcome == Outcome::Awaiting || results[i].outcome == Outcome::Interrupted)
          stop_starting = true;  // no new iterations after a stop; running ones finish
      },
      [&](size_t i) { results[i].outcome = Outcome::Interrupted; });
  return results;
}

StepOutcome end_step(RunContext& run, const Step& s, const std::vector<IterationResult>& results) {
  StepOutcome out;
  StepState st;
  {
    std::lock_guard<std::mutex> lock(run.state_mutex);
    auto found = run.state.steps.find(s.id);
    if (found != run.state.steps.end()) st = found->second;
  }
  publish_outputs(run, s, st);
  for (auto& r : results) {
    if (r.outcome == Outcome::Awaiting) out.awaiting = true;
    if (r.outcome == Outcome::Interrupted) out.interrupted = out.interrupted || stop_requested();
    if (r.outcome == Outcome::Failed && out.failed.empty())
      out.failed = (r.item.is_null() ? "" : label_of(r.item) + ": ") + r.error;
  }
  if (out.awaiting && out.interrupted) out.awaiting = false;  // a stop outranks an open question
  return out;
}

StepOutcome run_step(RunContext& run, const Step& s, const StepState& prior, const std::string& where) {
  StepOutcome out;
  std::vector<Value> items;
  if (!begin_step(run, s, prior, where, &items, &out)) return out;
  return end_step(run, s, run_iterations(run, s, items, where));
}

}  // namespace she
