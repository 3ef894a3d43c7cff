#include "orchestrator/iteration_runner.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>
#include <fmt/format.h>

#include "base/backoff.h"
#include "base/digest.h"
#include "base/duration.h"
#include "base/interrupted.h"
#include "orchestrator/settle.h"
#include "orchestrator/stop_signals.h"
#include "workflows/step_expansion.h"

namespace she {

using Clock = std::chrono::steady_clock;

std::string correlation_id(const std::string& run_id, const std::string& step_id) {
  // The engine keeps 36 characters, and probes match events on the id: two
  // steps must never share one, however long their ids. A step id that
  // does not fit is cut and told apart by a digest of the whole id.
  std::string id = "she-" + run_id.substr(run_id.size() > 6 ? run_id.size() - 6 : 0) + "-" + step_id;
  if (id.size() <= 36) return id;
  Digest d;
  d.update(step_id.data(), step_id.size());
  return id.substr(0, 27) + "-" + d.hex().substr(0, 8);
}

IterationResult run_iteration(RunContext& run, const Step& s, const std::string& key, const Value& item,
                              const std::string& where, const Value* item_steps) {
  IterationResult res;
  res.item = item;
  std::string at = key.empty() ? where : where + " (" + label_of(item) + ")";
  const std::optional<IterationState> prev = run.iteration_now(s.id, key);
  if (prev && (prev->status == "succeeded" || prev->status == "skipped")) {
    res.outcome = prev->status == "succeeded" ? Outcome::Succeeded : Outcome::Skipped;
    return res;
  }
  // This item's values over the run's, not in a copy of them (no other
  // thread writes the run's values while items run: outputs are published
  // once every item is done).
  Value item_values = Value::object();
  if (s.foreach.kind != Foreach::Kind::None) item_values[s.foreach.as] = item;
  if (item_steps)
    for (auto it = item_steps->begin(); it != item_steps->end(); ++it) item_values["steps"][it.key()] = it.value();
  const Scope scope(run.roots, item_values);
  Value params;
  std::string problem;
  try {
    if (s.foreach.kind != Foreach::Kind::None) {
      WhenVerdict w = when_verdict(s, scope);
      if (w == WhenVerdict::No) {
        run.record({{"t", rec::kStepSkipped}, {"step", s.id}, {"iter", key}, {"reason", "condition false: " + s.when}});
        res.outcome = Outcome::Skipped;
        return res;
      }
      if (w == WhenVerdict::Deferred) problem = "its condition cannot be decided: " + s.when;
    }
    params = resolve_step_params(s, scope);
    if (problem.empty() && contains_deferred(params))
      problem = "a value it needs is missing (a step it depends on was skipped or captured nothing): " +
                to_text(params);
  } catch (const EvalError& e) {
    problem = e.what();
  }
  // A step that cannot start fails as is: nothing was done, nothing to retry.
  auto fail_before_acting = [&](const std::string& why) {
    run.record({{"t", rec::kStepFailed}, {"step", s.id}, {"iter", key}, {"error", why}, {"class", "fatal"},
                {"final", true}});
    run.say(at, "failed: " + why);
    res.outcome = Outcome::Failed;
    res.error = why;
    return res;
  };
  if (!problem.empty()) return fail_before_acting(problem);

  Clock::time_point attempt_deadline = Clock::time_point::max();
  RunServices services;
  services.operator_channel = &run.journaled;
  services.iteration_key = key.empty() ? s.id : s.id + "/" + label_of(item);
  services.should_stop = [&attempt_deadline] { return stop_requested() || Clock::now() > attempt_deadline; };
  services.progress = [&run, at](const std::string& line) { run.say(at, line); };
  services.runner = &run.runner;
  services.secrets = &run.secrets;
  services.secret_file = [&run](const std::string& host, const std::string& path, bool placed) {
    run.record({{"t", placed ? rec::kSecretFilePlaced : rec::kSecretFileRemoved}, {"host", host}, {"path", path}});
  };
  services.correlation_id = correlation_id(run.run_id, s.id);
  run.connections.provide(services);
  StepContext ctx(run.plan.env, s.id, params, &services);
  // Values made of earlier steps' outputs are known only now: checked
  // before anything is done with them.
  try {
    s.type->check_values(ctx);
  } catch (const StepRuleError& e) {
    return fail_before_acting(std::string("the step's parameters break a rule: ") + e.what());
  }
  auto succeed = [&](const Value& outputs, long long ms, const std::string& note) {
    Value r = {{"t", rec::kStepSucceeded}, {"step", s.id}, {"iter", key}, {"outputs", outputs}, {"ms", ms}};
    if (!note.empty()) r["note"] = note;
    run.record(r);
    res.outcome = Outcome::Succeeded;
    res.outputs = outputs;
    run.say(at, note.empty() ? fmt::format("done in {}", format_duration(std::chrono::milliseconds(ms))) : note);
    return res;
  };

  int attempt = prev ? prev->attempts : 0;
  // A probe the stop cut short decides nothing: the run stops. One that
  // ran out of the step's time fails the step rather than ask anyone.
  auto settled = [&](const std::string& why) -> std::optional<Settled> {
    attempt_deadline = Clock::now() + s.timeout;
    try {
      return settle(run, s, ctx, services.iteration_key, attempt, why);
    } catch (const Interrupted& e) {
      if (stop_requested()) {
        res.outcome = Outcome::Interrupted;
        return std::nullopt;
      }
      res.error = fmt::format("timed out after {} while its probe checked whether it took effect: {}",
                              format_duration(s.timeout), e.what());
      run.record({{"t", rec::kStepFailed}, {"step", s.id}, {"iter", key}, {"error", res.error}, {"class", "timeout"},
                  {"attempt", attempt}, {"final", true}});
      run.say(at, "failed (timeout): " + res.error);
      res.outcome = Outcome::Failed;
      return std::nullopt;
    }
  };

  // A step that may already have acted (it was interrupted mid-flight, or
  // a `once` step failed after its call went out) is probed first, never
  // repeated blindly.
  bool may_have_acted = prev && (prev->status == "running" ||
                                 (prev->status == "failed" && s.type->kind() == StepKind::Once));
  std::optional<Value> under_way;  // the probe's outputs of an effect under way: verified, not redone
  if (may_have_acted) {
    std::optional<Settled> probed =
        settled(prev->status == "running" ? "was interrupted while it ran" : "failed after it may have acted");
    if (!probed) return res;
    const Settled& d = *probed;
    if (d.verdict == Settled::Done) return succeed(d.outputs, 0, d.note);
    if (d.verdict == Settled::Finish) {
      run.say(at, d.note);
      under_way = d.outputs;
    }
    if (d.verdict == Settled::Await) {
      res.outcome = stop_requested() ? Outcome::Interrupted : Outcome::Awaiting;
      return res;
    }
  }

  const RetryPolicy& retry = s.retry;
  Clock::time_point total_deadline =
      retry.total.count() > 0 ? Clock::now() + retry.total : Clock::time_point::max();
  // Jittered so that parallel iterations do not retry in lockstep.
  const Backoff backoff_policy{retry.backoff, retry.max_backoff};
  for (int tries = 0;; ++tries) {
    ++attempt;
    // A read step acts on nothing, so no action waits for its start to be
    // on disk: it goes with the next sync, as outcomes do. A power cut that
    // loses it leaves the step pending (or running, its outcome lost too),
    // and a read is simply done again.
    run.record({{"t", rec::kStepStarted}, {"step", s.id}, {"iter", key}, {"label", key.empty() ? "" : label_of(item)},
                {"attempt", attempt}},
               s.type->kind() == StepKind::Read ? Journal::Sync::WithNext : Journal::Sync::Now);
    auto started = Clock::now();
    attempt_deadline = std::min(started + s.timeout, total_deadline);
    std::string error, error_class;
    bool acted = false;  // apply returned: only verify is left
    try {
      StepResult r;
      if (under_way) r.outputs = *std::exchange(under_way, std::nullopt);
      else r = s.type->apply(ctx);
      acted = true;
      s.type->verify(ctx);
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
      return succeed(r.outputs, ms, "");
    } catch (const AwaitingOperator& e) {
      // It stopped before acting: on resume it starts afresh.
      run.record({{"t", rec::kStepFailed}, {"step", s.id}, {"iter", key}, {"error", e.what()},
                  {"class", "awaiting_operator"}, {"attempt", attempt}, {"final", false}});
      if (stop_requested()) {  // Ctrl-C at the prompt: an interruption, not a question left open
        res.outcome = Outcome::Interrupted;
        return res;
      }
      run.await_operator(s.id, key, e.what());
      res.outcome = Outcome::Awaiting;
      return res;
    } catch (const Interrupted& e) {
      error = e.what();
      error_class = "interrupted";
    } catch (const StepError& e) {
      error = e.what();
      error_class = e.error_class();
    } catch (const std::exception& e) {
      error = e.what();
      error_class = "fatal";
    }
    if (stop_requested()) {
      // After a signal, whatever ended the attempt is an interruption,
      // never the step's own failure: calls were abandoned, and what failed
      // after the signal may be its doing (a transfer cut short leaves a
      // truncated archive; a terminal's Ctrl-C reaches the processes of the
      // whole group). An attempt that may have acted (apply returned, or a
      // `once` step whose call may have gone out) stays "running", so that
      // resume probes it; any other simply did not happen.
      if (!acted && s.type->kind() != StepKind::Once)
        run.record({{"t", rec::kStepFailed}, {"step", s.id}, {"iter", key}, {"error", "interrupted: " + error},
                    {"class", "interrupted"}, {"attempt", attempt}, {"final", false}});
      res.outcome = Outcome::Interrupted;
      return res;
    }
    if (error_class == "interrupted") {
      // Not a signal: the step's own time ran out and its calls gave up.
      error_class = "timeout";
      error = fmt::format("timed out after {} (the step's timeout): {}", format_duration(s.timeout), error);
    }
    bool retryable = std::find(retry.on.begin(), retry.on.end(), error_class) != retry.on.end() &&
                     tries + 1 < retry.attempts;
    Duration backoff = backoff_policy.next(tries + 1);
    if (retryable && Clock::now() + backoff > total_deadline) retryable = false;
    run.record({{"t", rec::kStepFailed}, {"step", s.id}, {"iter", key}, {"error", error}, {"class", error_class},
                {"attempt", attempt}, {"final", !retryable}});
    if (!retryable) {
      run.say(at, fmt::format("failed ({}): {}", error_class, error));
      res.outcome = Outcome::Failed;
      res.error = error;
      return res;
    }
    run.say(at, fmt::format("attempt {} failed ({}): {}; retrying in {}", attempt, error_class, error,
                            format_duration(backoff)));
    if (!wait_unless(backoff, [] { return stop_requested(); })) {
      res.outcome = Outcome::Interrupted;
      return res;
    }
    if (s.type->kind() == StepKind::Once) {
      // A `once` call may have reached its target before it failed.
      std::optional<Settled> probed = settled("failed after it may have acted");
      if (!probed) return res;
      const Settled& d = *probed;
      if (d.verdict == Settled::Done) return succeed(d.outputs, 0, d.note);
      if (d.verdict == Settled::Finish) under_way = d.outputs;
      if (d.verdict == Settled::Await) {
        res.outcome = stop_requested() ? Outcome::Interrupted : Outcome::Awaiting;
        return res;
      }
    }
  }
}

}  // namespace she
