#include "orchestrator/executor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fmt/format.h>
#include <iostream>
#include <mutex>
#include <random>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <thread>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/durable_file.h"
#include "engine_api/client.h"
#include "orchestrator/exit_codes.h"
#include "orchestrator/journal.h"
#include "orchestrator/plan_lock.h"
#include "orchestrator/plan_snapshot.h"
#include "orchestrator/redactor.h"
#include "orchestrator/report.h"
#include "orchestrator/run_directory.h"
#include "orchestrator/run_connections.h"
#include "orchestrator/run_lifecycle.h"
#include "orchestrator/run_state.h"
#include "workflows/secret_ref.h"
#include "workflows/secret_store.h"
#include "workflows/step_expansion.h"

namespace she {

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};

extern "C" void on_stop_signal(int sig) {
  g_stop = true;
  g_signal = sig;
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

enum class Outcome { Succeeded, Failed, Skipped, Awaiting, Interrupted };

struct IterationResult {
  Outcome outcome = Outcome::Succeeded;
  Value item;
  Value outputs = Value::object();
  std::string error;
};

class JournalFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The operator, as every step of the run meets them: one question at a
/// time (loop threads take turns), answers journaled with who and when.
/// A prompt answered before an interruption is not asked again; questions
/// about one attempt carry the attempt in their key.
class JournaledOperator : public OperatorChannel {
 public:
  JournaledOperator(OperatorChannel& inner, std::function<void(const Value&)> record)
      : inner_(inner), record_(std::move(record)) {}

  void remember(const std::map<std::string, Answer>& answers) {
    std::lock_guard<std::mutex> lock(mutex_);
    known_ = answers;
  }

  std::optional<std::string> ask(const std::string& key, const std::string& question,
                                 const std::vector<std::string>& choices) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = known_.find(key); it != known_.end()) return it->second.answer;
    if (g_stop) return std::nullopt;
    auto answer = inner_.ask(key, question, choices);
    if (answer) {
      record_({{"t", rec::kAnswer}, {"key", key}, {"answer", *answer}, {"who", inner_.who()},
               {"source", inner_.source()}});
      known_[key] = {key, *answer, inner_.who(), "", inner_.source()};
    }
    return answer;
  }
  std::string who() const override { return inner_.who(); }
  std::string source() const override { return inner_.source(); }

 private:
  OperatorChannel& inner_;
  std::function<void(const Value&)> record_;
  std::map<std::string, Answer> known_;
  std::mutex mutex_;
};

class RunSession {
 public:
  RunSession(const Plan& plan, const RunOptions& opts, OperatorChannel& op)
      : plan_(plan), opts_(opts), op_(op), journaled_(op, [this](const Value& r) { record(r); }) {
    redactor_.preload(plan_, secrets_);  // values echoed before their first use are caught too
  }

  int run() {
    life_.begin_preflight();
    int code = exit_code::kOk;
    if (!preflight(&code)) {
      if (code != exit_code::kOk) life_.preflight_failed();
      return code;
    }
    life_.preflight_passed();
    install_signal_handlers();
    try {
      code = walk();
    } catch (const JournalFailure& e) {
      say("", fmt::format("cannot write the journal {}, stopping at once: {}. Free space or fix the file system, "
                          "then run again: the run resumes from the journal as it stands.",
                          paths_.journal(), e.what()));
      code = exit_code::kInternal;
    }
    finish_reports();
    lock_.release();
    return code;
  }

 private:
  // --- preflight -----------------------------------------------------------

  bool preflight(int* code) {
    // Refused before anything starts: a restore must not stop half-way at a
    // step this release cannot run.
    std::vector<std::string> missing;
    for (auto& s : plan_.steps)
      if (mode_allows(s) && !s.type->runnable() && std::find(missing.begin(), missing.end(), s.uses) == missing.end())
        missing.push_back(s.uses);
    if (!missing.empty()) {
      std::cerr << fmt::format(
          "she-restore: plan {} uses step types this release cannot run yet: {}.\n"
          "Nothing was started. Rehearse it with: she-restore --dry-run {}\n",
          plan_.name, fmt::join(missing, ", "), plan_.file);
      *code = exit_code::kNotImplemented;
      return false;
    }
    std::string err;
    plan_dir_ = plan_state_dir(state_root(opts_.state_dir), plan_.name);
    if (!make_private_directory(plan_dir_, &err)) return fail(code, exit_code::kInternal, err);
    std::string lock_path = plan_lock_path(plan_dir_);

    // Resume the latest run (its journal is read once, below, under the lock).
    auto runs = list_runs(plan_dir_);
    if (!runs.empty() && !opts_.new_run && !opts_.on_lab) run_id_ = runs.back();  // a lab run has nothing to resume
    bool resuming = !run_id_.empty();
    if (!resuming) run_id_ = new_run_id(plan_dir_);
    paths_ = run_paths(plan_dir_, run_id_);

    LockHolder me{static_cast<int>(::getpid()), this_host(), this_user(), run_id_, utc_now()}, holder;
    switch (lock_.acquire(lock_path, me, opts_.break_lock, &holder, &err)) {
      case PlanLock::Result::Acquired:
        if (!opts_.break_lock.empty()) say("", "took over the stale lock of run " + opts_.break_lock);
        break;
      case PlanLock::Result::HeldByLiveProcess:
        return fail(code, exit_code::kLocked,
                    fmt::format("plan {} is being run by {}; wait for it, or stop it first", plan_.name, holder.str()));
      case PlanLock::Result::Stale:
        return fail(code, exit_code::kLocked,
                    fmt::format("plan {} has a stale lock from {}: that process is gone. Make sure nothing is still "
                                "working on this plan, then run again with --break-lock {}",
                                plan_.name, holder.str(), holder.run_id));
      case PlanLock::Result::WrongRunId:
        return fail(code, exit_code::kLocked,
                    fmt::format("the stale lock belongs to run {}, not {}; pass --break-lock {}", holder.run_id,
                                opts_.break_lock, holder.run_id));
      case PlanLock::Result::Error: return fail(code, exit_code::kInternal, err);
    }

    if (!make_private_directory(paths_.dir, &err)) return fail(code, exit_code::kInternal, err);
    std::vector<Value> records;
    std::string warning;
    if (!journal_.open(paths_.journal(), &records, &warning, &err))
      return fail(code, exit_code::kInternal,
                  fmt::format("cannot read the journal {}: {}; nothing was done. Fix the file system, or start over "
                              "with --new-run",
                              paths_.journal(), err));
    if (!warning.empty()) std::cerr << "she-restore: warning: " << warning << "\n";
    state_ = RunState::replay(records);
    if (!warning.empty()) state_.warnings.push_back(warning);
    // One that succeeded is not run again by accident: re-running a whole
    // restore takes an explicit --new-run.
    if (resuming && state_.result == "succeeded" && opts_.from_step.empty()) {
      journal_.close();
      std::cerr << fmt::format("she-restore: run {} of plan {} succeeded at {}; nothing to do.\n"
                               "Run the plan again from the start with --new-run, or part of it with --from STEP.\n",
                               state_.run_id, plan_.name, state_.finished);
      *code = exit_code::kOk;
      return false;
    }
    start_log();

    Value fingerprints = step_fingerprints(plan_);
    if (resuming && !records.empty()) {
      auto changed = changed_steps(state_.step_hashes, fingerprints);
      if (!changed.empty() && !opts_.replan)
        return fail(code, exit_code::kInvalidPlan,
                    fmt::format("the plan changed since run {} started:\n  {}\nRun again with --replan to go on "
                                "with the changed plan (finished steps stay finished), or --new-run to start over",
                                run_id_, fmt::join(changed, "\n  ")));
      for (auto& c : changed) {
        std::string id = c.substr(0, c.find(':'));
        auto st = state_.steps.find(id);
        if (st != state_.steps.end() && st->second.loop_expanded && st->second.status() != "succeeded")
          return fail(code, exit_code::kInvalidPlan,
                      fmt::format("step {} is a loop that has started and its definition changed; --replan cannot "
                                  "change the items of a running loop. Restore the plan and finish the run, or "
                                  "start over with --new-run",
                                  id));
      }
      if (!changed.empty()) record({{"t", rec::kReplanned}, {"changed", changed}, {"step_hashes", fingerprints}});
      record({{"t", rec::kRunResumed}, {"pid", ::getpid()}, {"user", this_user()}, {"host", this_host()}});
      say("", fmt::format("resuming run {} ({})", run_id_, paths_.dir));
    } else {
      if (!write_file_durably(paths_.frozen_plan(), dump_json(frozen_plan(plan_, fingerprints), 2) + "\n", &err))
        return fail(code, exit_code::kInternal, err);
      record({{"t", rec::kRunStarted}, {"run", run_id_}, {"plan", plan_.name}, {"plan_file", plan_.file},
              {"user", this_user()}, {"host", this_host()}, {"pid", ::getpid()}, {"version", SHE_RESTORE_VERSION},
              {"step_hashes", fingerprints}});
      say("", fmt::format("started run {} ({})", run_id_, paths_.dir));
    }
    journaled_.remember(state_.answers);
    // One trust anchor per run: a resume pins the CA trusted on first use;
    // a first use is journaled before any credential goes out.
    connections_.set_recorded_ca_fingerprint(state_.trusted_ca_fingerprint);
    connections_.on_ca_trusted_first_use([this](const std::string& fp) {
      record({{"t", rec::kCaTrusted}, {"fingerprint", fp}});
    });
    // [tls] one trust anchor per run: a resume pins the CA trusted on first use; a first use is journaled.
    connections_.set_recorded_ca_fingerprint(state_.trusted_ca_fingerprint);
    connections_.on_ca_trusted_first_use([this](const std::string& fp) { record({{"t", rec::kCaTrusted}, {"fingerprint", fp}}); });
    return true;
  }

  bool fail(int* code, int value, const std::string& message) {
    std::cerr << "she-restore: " << redactor_.scrub(message) << "\n";
    *code = value;
    return false;
  }

  bool mode_allows(const Step& s) const {
    return plan_.env.mode == "rehearsal" ? s.in_rehearsal : s.in_real;
  }

  // --- journal, log, progress ---------------------------------------------

  /// Appends a record durably, then applies it to the one run state: the
  /// journal is never read again during the run.
  void record(Value r) {
    r["time"] = utc_now();
    r = redactor_.scrub(r);
    std::string err;
    if (!journal_.append(r, &err)) throw JournalFailure(fmt::format("{}: {}", paths_.journal(), err));
    std::lock_guard<std::mutex> lock(state_mutex_);
    state_.apply(r);
  }

  /// A step's iteration as the run state has it now (loop threads record
  /// while others read).
  std::optional<IterationState> iteration_now(const std::string& step, const std::string& key) {
    std::lock_guard<std::mutex> lock(state_mutex_);
    const IterationState* it = state_.iteration(step, key);
    return it ? std::optional<IterationState>(*it) : std::nullopt;
  }

  void start_log() {
    try {
      log_ = spdlog::basic_logger_mt("run-" + run_id_, paths_.log());
      log_->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
      log_->flush_on(spdlog::level::info);
    } catch (const spdlog::spdlog_ex& e) {
      std::cerr << "she-restore: warning: no log file: " << e.what() << "\n";
    }
  }

  /// A progress line for the operator (stderr) and the log, scrubbed.
  void say(const std::string& where, const std::string& message) {
    std::string line = redactor_.scrub(where.empty() ? message : where + ": " + message);
    std::lock_guard<std::mutex> lock(say_mutex_);
    std::cerr << line << "\n";
    if (log_) log_->info(line);
  }

  // --- the walk ------------------------------------------------------------

  int walk() {
    walk_started_ = Clock::now();
    roots_ = plan_.roots(false);
    roots_["run"]["id"] = run_id_;
    // Variables were bound before the run had an id; those built from
    // ${run.id} (an archive's name) are bound again, in order, with it.
    for (const auto& [name, node] : plan_.vars)
      if (!plan_.var_values[name].is_null()) roots_["vars"][name] = resolve_node(node, roots_);
    int from = opts_.from_step.empty() ? -1 : plan_.step_index(opts_.from_step);
    if (from >= 0) mark_rerun_from(static_cast<size_t>(from));
    bool step_mode = opts_.step_mode;
    int n = static_cast<int>(plan_.steps.size());
    for (int i = 0; i < n; ++i) {
      const Step& s = plan_.steps[static_cast<size_t>(i)];
      std::string where = fmt::format("[{}/{}] {}", i + 1, n, s.id);
      StepState prior = state_.steps.count(s.id) ? state_.steps.at(s.id) : StepState{};
      std::string status = prior.status();
      if (status == "succeeded" || status == "skipped" || (status == "failed" && s.on_failure == OnFailure::Continue)) {
        publish_outputs(s, prior);
        continue;
      }
      if (g_stop) return interrupted(s.id);
      if (!mode_allows(s)) {
        skip(s, fmt::format("runs only in {} mode", s.in_rehearsal ? "rehearsal" : "real"), where);
        continue;
      }
      if (step_mode) {
        auto answer = journaled_.ask(fmt::format("step:{}@{}", s.id, state_.resumes), fmt::format("Run step {} ({})? y: yes, n: skip it, c: continue without asking",
                                                         s.id, s.name), {"y", "n", "c"});
        if (!answer) return awaiting(s.id, "", "--step needs an answer for each step; run on a terminal");
        if (*answer == "n") {
          skip(s, "skipped by the operator (--step)", where);
          continue;
        }
        if (*answer == "c") step_mode = false;
      }
      StepOutcome out = run_step(s, prior, where);
      if (out.awaiting) return exit_code::kAwaitingOperator;
      if (out.interrupted) return interrupted(s.id);
      if (!out.failed.empty()) {
        std::string reason = fmt::format("{} failed: {}", s.id, out.failed);
        if (s.on_failure == OnFailure::Continue) {
          say(where, "failed, going on (on_failure: continue): " + out.failed);
          continue;
        }
        if (s.on_failure == OnFailure::Pause)
          return awaiting(s.id, "", reason + ". Fix the cause, then run again: the step is retried");
        record({{"t", rec::kRunStopped}, {"step", s.id}, {"reason", reason}});
        say(where, opts_.on_lab
                       ? fmt::format("FAILED: {}\nThis was a rehearsal on a lab started for it, gone with it: running "
                                     "`she-restore {}` again rehearses from the start.",
                                     out.failed, plan_.file)
                       : fmt::format("FAILED: {}\nFix the cause and run `she-restore {}` again: the run resumes with "
                                     "this step. `she-restore status {}` shows where it stands.",
                                     out.failed, plan_.file, plan_.file));
        tell_summary();
        life_.step_failed();
        return exit_code::kStepFailed;
      }
    }
    record({{"t", rec::kRunFinished}});
    life_.all_steps_done();
    say("", fmt::format("run {} succeeded; report: {}", run_id_, paths_.report_md()));
    tell_summary();
    return exit_code::kOk;
  }

  /// The end-of-run summary for the operator (report.h run_summary).
  void tell_summary() {
    long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - walk_started_).count();
    say("", run_summary(plan_, state_, ms, !opts_.on_lab));
  }

  void mark_rerun_from(size_t from) {
    std::vector<std::string> ids;
    for (size_t i = from; i < plan_.steps.size(); ++i) ids.push_back(plan_.steps[i].id);
    if (state_.rerun_from == opts_.from_step && state_.result != "succeeded") {
      // The same command run again after an interruption continues the
      // re-run it started; it does not start it over.
      say("", fmt::format("continuing the re-run from {} started earlier in this run (drop --from to silence this)",
                          opts_.from_step));
    } else if (!state_.run_id.empty() && state_.steps.size() > 0) {
      record({{"t", rec::kRerunFrom}, {"steps", ids}, {"from", opts_.from_step}});
    }
    // A new run started --from a later step: the steps before it are skipped.
    for (size_t i = 0; i < from; ++i) {
      const Step& s = plan_.steps[i];
      if (!state_.steps.count(s.id)) skip(s, "before --from " + opts_.from_step, "");
    }
  }

  void skip(const Step& s, const std::string& reason, const std::string& where) {
    record({{"t", rec::kStepSkipped}, {"step", s.id}, {"iter", ""}, {"reason", reason}});
    if (!where.empty()) say(where, "skipped: " + reason);
  }

  int interrupted(const std::string& step) {
    record({{"t", rec::kInterrupted}, {"step", step}, {"reason", fmt::format("signal {}", g_signal.load())}});
    life_.interrupted();
    say("", fmt::format("interrupted; the journal is safe. Run `she-restore {}` again to resume.", plan_.file));
    return exit_code::kInterrupted;
  }

  int awaiting(const std::string& step, const std::string& iter, const std::string& reason) {
    record({{"t", rec::kAwaiting}, {"step", step}, {"iter", iter}, {"reason", reason}});
    life_.operator_needed();
    say(step, "waiting for the operator: " + reason);
    std::cerr << fmt::format("Answer on a terminal by running `she-restore {}` again, or give the answer with "
                             "--yes or --answers FILE. `she-restore status {}` shows what is awaited.\n",
                             plan_.file, plan_.file);
    return exit_code::kAwaitingOperator;
  }

  void publish_outputs(const Step& s, const StepState& st) {
    if (s.foreach.kind == Foreach::Kind::None) {
      auto it = st.iterations.find("");
      if (it != st.iterations.end()) roots_["steps"][s.id] = it->second.outputs;
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
    roots_["steps"][s.id] = {{"results", results}};
  }

  struct StepOutcome {
    bool awaiting = false;
    bool interrupted = false;
    std::string failed;  // first error, empty when none failed
  };

  /// The items of a loop over a live host query: the engine's hosts as the
  /// query selects them, now (the list is then journaled like any other).
  std::string live_hosts(const Step& s, Value* list) {
    try {
      *list = connections_.live_hosts(s.foreach, roots_, [] { return g_stop.load(); });
      std::vector<std::string> names;
      for (auto& h : *list) names.push_back(label_of(h));
      say(s.id, fmt::format("{} host(s) selected from the engine: {}", names.size(), fmt::join(names, ", ")));
      return "";
    } catch (const EvalError& e) {
      return e.what();
    } catch (const engine_api::EngineError& e) {
      return "cannot list the engine's hosts for the loop: " + std::string(e.what());
    } catch (const StepError& e) {
      return e.what();
    }
  }

  StepOutcome run_step(const Step& s, const StepState& prior, const std::string& where) {
    StepOutcome out;
    // The items of a loop are fixed the first time it runs and journaled, so
    // a resumed loop works on the same list.
    std::vector<Value> items;
    if (s.foreach.kind == Foreach::Kind::None) {
      items.push_back(nullptr);
    } else if (prior.loop_expanded) {
      for (auto& item : prior.items) items.push_back(item);
    } else {
      Value list;
      std::string problem;
      if (s.foreach.kind == Foreach::Kind::HostQuery) {
        problem = live_hosts(s, &list);
      } else {
        try {
          list = resolve_node(s.foreach.items, roots_);
        } catch (const EvalError& e) {
          problem = e.what();
        }
        if (problem.empty() && (!list.is_array() || contains_deferred(list)))
          problem = "foreach did not give a list: " + to_text(list);
      }
      if (!problem.empty()) {
        record({{"t", rec::kStepFailed}, {"step", s.id}, {"iter", ""}, {"error", problem}, {"class", "fatal"},
                {"final", true}});
        out.failed = problem;
        return out;
      }
      std::vector<std::string> labels;
      for (auto& item : list) {
        items.push_back(item);
        labels.push_back(label_of(item));
      }
      record({{"t", rec::kLoopExpanded}, {"step", s.id}, {"items", list}, {"labels", labels}});
    }
    if (s.foreach.kind == Foreach::Kind::None && s.when_expr) {
      Value w;
      try {
        w = evaluate(*s.when_expr, roots_);
      } catch (const EvalError& e) {
        w = deferred(e.what());
      }
      if (is_deferred(w)) {
        out.failed = "its condition cannot be decided: " + s.when;
        record({{"t", rec::kStepFailed}, {"step", s.id}, {"iter", ""}, {"error", out.failed}, {"class", "fatal"},
                {"final", true}});
        return out;
      }
      if (!truthy(w)) {
        skip(s, "condition false: " + s.when, where);
        return out;
      }
    }

    say(where, items.size() > 1 || s.foreach.kind != Foreach::Kind::None
                   ? fmt::format("{} ({} item{}, {} at a time)", s.name, items.size(), items.size() == 1 ? "" : "s",
                                 s.concurrency)
                   : s.name);
    std::vector<IterationResult> results(items.size());
    std::atomic<size_t> next{0};
    std::atomic<bool> stop_starting{false};
    std::exception_ptr thrown;
    std::mutex thrown_mutex;
    auto worker = [&] {
      for (size_t i; (i = next++) < items.size();) {
        if (g_stop || stop_starting) {
          results[i].outcome = Outcome::Interrupted;
          if (!g_stop) results[i].outcome = Outcome::Skipped;
          continue;
        }
        std::string key = s.foreach.kind == Foreach::Kind::None ? "" : std::to_string(i);
        try {
          results[i] = run_iteration(s, key, items[i], where);
        } catch (...) {
          // A journal that cannot be written stops everything; the other
          // threads finish what they are doing first.
          std::lock_guard<std::mutex> lock(thrown_mutex);
          if (!thrown) thrown = std::current_exception();
          stop_starting = true;
          results[i].outcome = Outcome::Interrupted;
          continue;
        }
        if ((results[i].outcome == Outcome::Failed && s.on_failure != OnFailure::Continue) ||
            results[i].outcome == Outcome::Awaiting || results[i].outcome == Outcome::Interrupted)
          stop_starting = true;  // no new iterations after a stop; running ones finish
      }
    };
    size_t threads = std::min<size_t>(static_cast<size_t>(std::max(1, s.concurrency)), items.size());
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    if (thrown) std::rethrow_exception(thrown);

    publish_outputs(s, state_.steps[s.id]);
    for (auto& r : results) {
      if (r.outcome == Outcome::Awaiting) out.awaiting = true;
      if (r.outcome == Outcome::Interrupted && (g_stop || stop_starting)) out.interrupted = g_stop.load();
      if (r.outcome == Outcome::Failed && out.failed.empty())
        out.failed = (r.item.is_null() ? "" : label_of(r.item) + ": ") + r.error;
    }
    if (out.awaiting && out.interrupted) out.awaiting = false;  // a stop outranks an open question
    if (out.awaiting) life_.operator_needed();
    return out;
  }

  static std::string label_of(const Value& item) {
    std::string l = item_label(item);
    return l.size() > 60 ? l.substr(0, 57) + "..." : l;
  }

  IterationResult run_iteration(const Step& s, const std::string& key, const Value& item, const std::string& where) {
    IterationResult res;
    res.item = item;
    std::string at = key.empty() ? where : where + " (" + label_of(item) + ")";
    const std::optional<IterationState> prev = iteration_now(s.id, key);
    if (prev && (prev->status == "succeeded" || prev->status == "skipped")) {
      res.outcome = prev->status == "succeeded" ? Outcome::Succeeded : Outcome::Skipped;
      return res;
    }
    Value scope = roots_;
    if (s.foreach.kind != Foreach::Kind::None) scope[s.foreach.as] = item;
    Value params;
    std::string problem;
    try {
      if (s.foreach.kind != Foreach::Kind::None && s.when_expr) {
        Value w = evaluate(*s.when_expr, scope);
        if (!is_deferred(w) && !truthy(w)) {
          record({{"t", rec::kStepSkipped}, {"step", s.id}, {"iter", key}, {"reason", "condition false: " + s.when}});
          res.outcome = Outcome::Skipped;
          return res;
        }
        if (is_deferred(w)) problem = "its condition cannot be decided: " + s.when;
      }
      params = resolve_step_params(s, scope);
      if (problem.empty() && contains_deferred(params))
        problem = "a value it needs is missing (a step it depends on was skipped or captured nothing): " +
                  to_text(params);
    } catch (const EvalError& e) {
      problem = e.what();
    }
    if (!problem.empty()) {
      record({{"t", rec::kStepFailed}, {"step", s.id}, {"iter", key}, {"error", problem}, {"class", "fatal"},
              {"final", true}});
      say(at, "failed: " + problem);
      res.outcome = Outcome::Failed;
      res.error = problem;
      return res;
    }

    Clock::time_point attempt_deadline = Clock::time_point::max();
    RunServices services;
    services.operator_channel = &journaled_;
    services.iteration_key = key.empty() ? s.id : s.id + "/" + label_of(item);
    services.should_stop = [&attempt_deadline] { return g_stop.load() || Clock::now() > attempt_deadline; };
    services.progress = [this, at](const std::string& line) { say(at, line); };
    services.runner = &runner_;
    services.secrets = &secrets_;
    // Correlation-Id (the engine keeps 36 characters): the run's unique
    // suffix and the step, so its events can be matched to what we did.
    services.correlation_id = ("she-" + run_id_.substr(run_id_.size() - 6) + "-" + s.id).substr(0, 36);
    connections_.provide(services);
    StepContext ctx(plan_.env, s.id, params, &services);
    auto succeed = [&](const Value& outputs, long long ms, const std::string& note) {
      Value r = {{"t", rec::kStepSucceeded}, {"step", s.id}, {"iter", key}, {"outputs", outputs}, {"ms", ms}};
      if (!note.empty()) r["note"] = note;
      record(r);
      res.outcome = Outcome::Succeeded;
      res.outputs = outputs;
      say(at, note.empty() ? fmt::format("done in {}", format_duration(std::chrono::milliseconds(ms))) : note);
      return res;
    };

    int attempt = prev ? prev->attempts : 0;
    // A step that may already have acted (it was interrupted mid-flight, or
    // a `once` step failed after its call went out) is probed first, never
    // repeated blindly.
    bool may_have_acted = prev && (prev->status == "running" ||
                                   (prev->status == "failed" && s.type->kind() == StepKind::Once));
    if (may_have_acted) {
      Settled d = settle(s, ctx, services.iteration_key, attempt, prev->status == "running" ? "was interrupted while it ran"
                                                                                              : "failed after it may have acted");
      if (d.verdict == Settled::Done) return succeed(d.outputs, 0, d.note);
      if (d.verdict == Settled::Await) {
        res.outcome = g_stop ? Outcome::Interrupted : Outcome::Awaiting;
        return res;
      }
    }

    const RetryPolicy& retry = s.retry;
    Clock::time_point total_deadline =
        retry.total.count() > 0 ? Clock::now() + retry.total : Clock::time_point::max();
    std::mt19937 rng(std::random_device{}());
    for (int tries = 0;; ++tries) {
      ++attempt;
      record({{"t", rec::kStepStarted}, {"step", s.id}, {"iter", key}, {"label", key.empty() ? "" : label_of(item)},
              {"attempt", attempt}});
      auto started = Clock::now();
      attempt_deadline = std::min(started + s.timeout, total_deadline);
      std::string error, error_class;
      bool acted = false;  // apply returned: only verify is left
      try {
        StepResult r = s.type->apply(ctx);
        acted = true;
        s.type->verify(ctx);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
        return succeed(r.outputs, ms, "");
      } catch (const AwaitingOperator& e) {
        // It stopped before acting: on resume it starts afresh.
        record({{"t", rec::kStepFailed}, {"step", s.id}, {"iter", key}, {"error", e.what()},
                {"class", "awaiting_operator"}, {"attempt", attempt}, {"final", false}});
        if (g_stop) {  // Ctrl-C at the prompt: an interruption, not a question left open
          res.outcome = Outcome::Interrupted;
          return res;
        }
        awaiting_from_iteration(s.id, key, e.what());
        res.outcome = Outcome::Awaiting;
        return res;
      } catch (const StepError& e) {
        error = e.what();
        error_class = e.error_class();
      } catch (const std::exception& e) {
        error = e.what();
        error_class = "fatal";
      }
      if (error_class == "interrupted" && g_stop) {
        // Steps stop only at safe points. Before acting, the attempt simply
        // did not happen; after acting, it stays "running" so that resume
        // probes it.
        if (!acted)
          record({{"t", rec::kStepFailed}, {"step", s.id}, {"iter", key}, {"error", "interrupted"},
                  {"class", "interrupted"}, {"attempt", attempt}, {"final", false}});
        res.outcome = Outcome::Interrupted;
        return res;
      }
      if (error_class == "interrupted") {
        error_class = "timeout";
        error = fmt::format("timed out after {}: {}", format_duration(s.timeout), error);
      }
      bool retryable = std::find(retry.on.begin(), retry.on.end(), error_class) != retry.on.end() &&
                       tries + 1 < retry.attempts;
      auto backoff = std::min<Duration>(retry.max_backoff, retry.backoff * (1LL << std::min(tries, 20)));
      // ±20% jitter so parallel iterations do not retry in lockstep.
      backoff = Duration(static_cast<long long>(static_cast<double>(backoff.count()) *
                                                std::uniform_real_distribution<double>(0.8, 1.2)(rng)));
      if (retryable && Clock::now() + backoff > total_deadline) retryable = false;
      record({{"t", rec::kStepFailed}, {"step", s.id}, {"iter", key}, {"error", error}, {"class", error_class},
              {"attempt", attempt}, {"final", !retryable}});
      if (!retryable) {
        say(at, fmt::format("failed ({}): {}", error_class, error));
        res.outcome = Outcome::Failed;
        res.error = error;
        return res;
      }
      say(at, fmt::format("attempt {} failed ({}): {}; retrying in {}", attempt, error_class, error,
                          format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(backoff))));
      if (!wait_unless(std::chrono::duration_cast<Duration>(backoff), [] { return g_stop.load(); })) {
        res.outcome = Outcome::Interrupted;
        return res;
      }
      if (s.type->kind() == StepKind::Once) {
        // A `once` call may have reached its target before it failed.
        Settled d = settle(s, ctx, services.iteration_key, attempt, "failed after it may have acted");
        if (d.verdict == Settled::Done) return succeed(d.outputs, 0, d.note);
        if (d.verdict == Settled::Await) {
          res.outcome = g_stop ? Outcome::Interrupted : Outcome::Awaiting;
          return res;
        }
      }
    }
  }

  /// Whether a step that may have acted did: its probe decides, or else the
  /// operator, for this attempt only (an answer never carries over to a
  /// later interruption).
  struct Settled {
    enum Verdict { Done, Run, Await } verdict = Run;
    Value outputs = Value::object();
    std::string note;
  };

  Settled settle(const Step& s, const StepContext& ctx, const std::string& ikey, int attempt, const std::string& why) {
    Settled d;
    if (s.type->kind() == StepKind::Read) return d;
    Value outputs = Value::object();
    CheckResult probe = s.type->check(ctx, outputs);
    std::vector<std::string> unknown;
    for (auto& o : s.type->outputs())
      if (!outputs.contains(o.name)) unknown.push_back(o.name);
    bool has_outputs = unknown.empty();
    if (probe == CheckResult::Done) {
      // The probe saw the effect; what it did not see stays unknown, and a
      // step that needs it stops saying so (never an invented value).
      d.verdict = Settled::Done;
      d.outputs = outputs;
      d.note = "already in place (checked by its probe)";
      if (!unknown.empty()) d.note += fmt::format("; its {} stay unknown", fmt::join(unknown, ", "));
      return d;
    }
    if (probe == CheckResult::NotDone || (probe == CheckResult::Unknown && s.type->kind() != StepKind::Once)) return d;
    std::string answer_key = fmt::format("resolve:{}@{}", ikey, attempt);
    std::string question = fmt::format(
        "Step {} ({}) {} and cannot be repeated blindly; its probe cannot tell whether it took effect. Check by hand, "
        "then answer done (it took effect: go on) or redo (run it again). Unattended: put '{}: done' or '{}: redo' "
        "in the answers file.",
        ikey, s.uses, why, answer_key, answer_key);
    auto answer = journaled_.ask(answer_key, question, {"done", "redo"});
    if (!answer) {
      if (!g_stop) awaiting_from_iteration(s.id, ctx.services().iteration_key == s.id ? "" : ikey, question);
      d.verdict = Settled::Await;
      return d;
    }
    if (*answer == "done") {
      d.verdict = Settled::Done;
      d.note = "confirmed done by the operator";
      if (!has_outputs && !s.type->outputs().empty())
        d.note += "; it captured nothing, so steps that use its values will stop";
    }
    return d;
  }

  void awaiting_from_iteration(const std::string& step, const std::string& key, const std::string& reason) {
    record({{"t", rec::kAwaiting}, {"step", step}, {"iter", key}, {"reason", reason}});
    say(step, "waiting for the operator: " + reason);
    std::cerr << fmt::format("Answer on a terminal by running `she-restore {}` again, or give the answer with "
                             "--yes or --answers FILE. `she-restore status {}` shows what is awaited.\n",
                             plan_.file, plan_.file);
  }

  void finish_reports() {
    if (!journal_.is_open()) return;
    std::string err;
    if (!write_reports(plan_, paths_, state_, redactor_, &err))
      std::cerr << "she-restore: warning: " << err << "\n";
    if (log_) log_->flush();
  }

  const Plan& plan_;
  RunOptions opts_;
  OperatorChannel& op_;
  Redactor redactor_;
  JournaledOperator journaled_;
  RunLifecycle life_;
  PlanLock lock_;
  Journal journal_;
  std::string plan_dir_, run_id_;
  RunPaths paths_;
  RunState state_;
  std::mutex state_mutex_;
  Value roots_;
  Clock::time_point walk_started_ = Clock::now();
  std::shared_ptr<spdlog::logger> log_;
  std::mutex say_mutex_;
  // A run performs every operation; each value a secret resolves to is
  // scrubbed from then on. The one store: steps and connections read through it.
  SecretStore secrets_{SecretStore::Mode::Resolve, [this](const std::string& v) { redactor_.add_value(v); }};
  RunConnections connections_{plan_.env, secrets_, [this](const std::string& m) { say("", m); }};
  DirectRunner runner_;
};

}  // namespace

int execute_plan(const Plan& plan, const RunOptions& opts, OperatorChannel& op) {
  ::umask(077);  // the run directory, journal, log and reports are the operator's alone
  return RunSession(plan, opts, op).run();
}

}  // namespace she
