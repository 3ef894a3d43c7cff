// The executor, part by part (each a file pair under orchestrator/):
//
//   run_context      what the parts share: the journal and the one run
//                    state it feeds (record()), progress lines, the lock
//   run_opening      lock, pick and open the run, read its journal once,
//                    refuse a changed plan, journal that it started/resumed
//   stop_signals     SIGINT/SIGTERM: stop at the next safe point
//   step_runner      one step: loop items, `when`, iterations on threads
//   iteration_runner one iteration: attempts, retries with back-off
//   settle           a step that may have acted: its probe, or the operator
//   journaled_operator  questions asked once, answers journaled
//
// This file walks the plan's steps in order and drives the run lifecycle
// (run_lifecycle.h): every way a run ends is one lifecycle event.
#include "orchestrator/executor.h"

#include <chrono>
#include <fmt/format.h>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sys/stat.h>

#include "orchestrator/block_runner.h"
#include "orchestrator/exit_codes.h"
#include "orchestrator/group_runner.h"
#include "orchestrator/report.h"
#include "orchestrator/run_context.h"
#include "orchestrator/run_opening.h"
#include "orchestrator/step_runner.h"
#include "orchestrator/stop_signals.h"
#include "hosts/shell_quote.h"
#include "hosts/ssh_session.h"

namespace she {

namespace {

using Clock = std::chrono::steady_clock;

class RunSession {
 public:
  RunSession(const Plan& plan, const RunOptions& opts, OperatorChannel& op) : run_(plan, opts, op) {}

  int execute() {
    int code = exit_code::kOk;
    // Installed once the run is open, kept until the reports are written.
    std::optional<StopSignals> signals;
    try {
      // Open the run: lock, journal (read once), resume or start.
      run_.life.begin_preflight();
      if (!open_run(run_, &code)) {
        if (code == exit_code::kOk)
          run_.life.nothing_to_do();  // the run had succeeded
        else
          run_.life.preflight_failed();
        return code;
      }
      run_.life.preflight_passed();
      // Walk the steps, stopping at a safe point on SIGINT/SIGTERM.
      signals.emplace();
      code = walk();
      // Files holding secrets the journal says are still on hosts.
      clear_secret_files();
    } catch (const JournalFailure& e) {
      run_.life.journal_failed();
      run_.say("", fmt::format("cannot write the journal {}, stopping at once: {}. Free space or fix the file "
                               "system, then run again: the run resumes from the journal as it stands.",
                               run_.paths.journal(), e.what()));
      code = exit_code::kInternal;
    } catch (const LifecycleError& e) {
      // The executor asked for a transition its lifecycle forbids: a bug,
      // reported as one rather than carried on with a run whose state no
      // longer says what happened.
      std::cerr << "she-restore: " << e.what() << "\nplease report it with the plan that caused it\n";
      code = exit_code::kInternal;
    }
    // Write the reports from the run state and let go of the plan.
    run_.finish_reports();
    run_.lock.release();
    return code;
  }

 private:
  int walk() {
    walk_started_ = Clock::now();
    run_.roots = run_.plan.roots(false);
    run_.roots["run"]["id"] = run_.run_id;
    // Variables were bound before the run had an id; those built from
    // ${run.id} (an archive's name) are bound again, in order, with it.
    for (const auto& [name, node] : run_.plan.vars)
      if (!run_.plan.var_values[name].is_null()) run_.roots["vars"][name] = resolve_node(node, run_.roots);
    int from = run_.opts.from_step.empty() ? -1 : run_.plan.step_index(run_.opts.from_step);
    if (from >= 0) mark_rerun_from(static_cast<size_t>(from));
    // Connect to the hosts ahead while the first steps run.
    warm_hosts_ahead(run_, run_.roots);
    bool step_mode = run_.opts.step_mode;
    int n = static_cast<int>(run_.plan.steps.size());
    for (int i = 0; i < n; ++i) {
      const Step& s = run_.plan.steps[static_cast<size_t>(i)];
      std::string where = fmt::format("[{}/{}] {}", i + 1, n, s.id);
      // What the steps so far fixed: loops ahead, the tunnel of the next.
      warm_ahead(run_, static_cast<size_t>(i));
      if (const Block* block = run_.plan.block_of(s)) {
        // A block is walked as one: its steps run item by item, or side by
        // side (a group).
        i = static_cast<int>(block->first + block->count) - 1;
        int code = block->kind == Block::Kind::Parallel ? walk_group(*block, &step_mode)
                                                        : walk_block(*block, &step_mode);
        if (code >= 0) return code;
        continue;
      }
      // No loop thread runs between steps: the state is read without its lock.
      StepState prior = run_.state.steps.count(s.id) ? run_.state.steps.at(s.id) : StepState{};
      std::string status = prior.status();
      if (passed_by(s, status)) {
        publish_outputs(run_, s, prior);
        continue;
      }
      if (stop_requested()) return interrupted(s.id);
      if (run_.skipped_by_mode(s, where)) continue;
      if (step_mode) {
        auto answer = run_.journaled.ask(
            fmt::format("step:{}@{}", s.id, run_.state.resumes),
            fmt::format("Run step {} ({})? y: yes, n: skip it, c: continue without asking", s.id, s.name),
            {"y", "n", "c"});
        if (!answer) return awaiting(s.id, "--step needs an answer for each step; run on a terminal");
        if (*answer == "n") {
          run_.skip(s, "skipped by the operator (--step)", where);
          continue;
        }
        if (*answer == "c") step_mode = false;
      }
      int code = settle_outcome(s, run_step(run_, s, prior, where), where);
      if (code >= 0) return code;
    }
    run_.record({{"t", rec::kRunFinished}});
    run_.life.all_steps_done();
    run_.say("", fmt::format("run {} succeeded; report: {}", run_.run_id, run_.paths.report_md()));
    tell_summary();
    return exit_code::kOk;
  }

  /// How the walk goes on after a step (or a block's step `out` names):
  /// -1 to go on, else the run's exit code.
  int settle_outcome(const Step& s, const StepOutcome& out, const std::string& where) {
    if (out.awaiting) {
      run_.life.operator_needed();  // the step journaled what it waits for
      return exit_code::kAwaitingOperator;
    }
    if (out.interrupted) return interrupted(s.id);
    if (out.failed.empty()) return -1;
    std::string reason = fmt::format("{} failed: {}", s.id, out.failed);
    if (s.on_failure == OnFailure::Continue) {
      run_.say(where, "failed, going on (on_failure: continue): " + out.failed);
      return -1;
    }
    if (s.on_failure == OnFailure::Pause)
      return awaiting(s.id, reason + ". Fix the cause, then run again: the step is retried");
    return failed(s.id, reason, out.failed, where);
  }

  /// A block: passed by when every item went through every step, else its
  /// items run (`--step` asks once for the whole block). -1 to go on.
  int walk_block(const Block& b, bool* step_mode) {
    const Plan& plan = run_.plan;
    size_t end = b.first + b.count;
    std::string where = fmt::format("[{}-{}/{}] {}", b.first + 1, end, plan.steps.size(), b.id);
    if (block_done(run_, b)) return publish_block(b);
    if (stop_requested()) return interrupted(plan.steps[b.first].id);
    if (int code = ask_for_block(b, where, step_mode); code != kRunIt) return code;
    StepOutcome out = run_block(run_, b, where);
    if (!out.failed_step) return settle_outcome(plan.steps[b.first], out, where);
    const Step& s = *out.failed_step;
    return settle_outcome(s, out, fmt::format("[{}/{}] {}", plan.step_index(s.id) + 1, plan.steps.size(), s.id));
  }

  /// A block or group passed by: its steps' outputs made visible, as if
  /// they had run now. -1: the walk goes on.
  int publish_block(const Block& b) {
    for (size_t j = b.first; j < b.first + b.count; ++j)
      publish_outputs(run_, run_.plan.steps[j], run_.state.steps[run_.plan.steps[j].id]);
    return -1;
  }

  /// ask_for_block: the block is to run.
  static constexpr int kRunIt = -2;

  /// `--step` asks once for a whole block or group: kRunIt to run it, -1
  /// when the operator skipped it (its steps not done are journaled as
  /// skipped), else the run's exit code.
  int ask_for_block(const Block& b, const std::string& where, bool* step_mode) {
    if (!*step_mode) return kRunIt;
    const Plan& plan = run_.plan;
    const size_t end = b.first + b.count;
    std::vector<std::string> ids;
    for (size_t j = b.first; j < end; ++j) ids.push_back(plan.steps[j].id);
    const bool group = b.kind == Block::Kind::Parallel;
    auto answer = run_.journaled.ask(
        fmt::format("step:{}@{}", b.id, run_.state.resumes),
        fmt::format("Run {} {} ({}: {})? y: yes, n: skip it, c: continue without asking", group ? "group" : "block",
                    b.id, b.name,
                    group ? fmt::format("{} side by side", fmt::join(ids, ", "))
                          : fmt::format("{} for each item", fmt::join(ids, " -> "))),
        {"y", "n", "c"});
    if (!answer) return awaiting(b.id, "--step needs an answer for each step; run on a terminal");
    if (*answer == "n") {
      for (size_t j = b.first; j < end; ++j) {
        const Step& s = plan.steps[j];
        if (!run_.state.steps.count(s.id) || run_.state.steps.at(s.id).status() != "succeeded")
          run_.skip(s, "skipped by the operator (--step)", where);
      }
      return -1;
    }
    if (*answer == "c") *step_mode = false;
    return kRunIt;
  }

  /// A group: passed by when each of its steps has passed, else the steps
  /// left run side by side and are settled in plan order. -1 to go on.
  int walk_group(const Block& g, bool* step_mode) {
    const Plan& plan = run_.plan;
    std::string where = fmt::format("[{}-{}/{}] {}", g.first + 1, g.first + g.count, plan.steps.size(), g.id);
    auto step_where = [&plan](const Step& s) {
      return fmt::format("[{}/{}] {}", &s - plan.steps.data() + 1, plan.steps.size(), s.id);
    };
    if (group_done(run_, g)) return publish_block(g);
    if (stop_requested()) return interrupted(plan.steps[g.first].id);
    if (int code = ask_for_block(g, where, step_mode); code != kRunIt) return code;
    for (const auto& [s, out] : run_group(run_, g, where, step_where))
      if (int code = settle_outcome(*s, out, step_where(*s)); code >= 0) return code;
    return -1;
  }

  /// Files holding secrets the journal says are still on hosts (a removal
  /// failed, or the process died between writing and removing one): removed
  /// now, or named with the command that removes them; the report lists
  /// what is left. After a signal nothing more is sent: the next run does it.
  void clear_secret_files() {
    if (stop_requested()) return;
    std::map<std::string, std::set<std::string>> left;
    {
      std::lock_guard<std::mutex> lock(run_.state_mutex);
      left = run_.state.secret_files;
    }
    for (const auto& [host, paths] : left)
      for (const auto& path : paths) {
        const std::vector<std::string> argv = {"rm", "-f", "--", path};
        SshEndpoint ep = StepContext(run_.plan.env, "", Value{{"host", host}}).ssh("host");
        std::string why;
        try {
          ExecOptions o;
          o.runner = &run_.runner;
          o.timeout = std::chrono::seconds(15);
          ExecResult r = run_.connections.ssh(ep, 0).exec(shell_join(argv), o);
          if (r.exit_status == 0) {
            run_.record({{"t", rec::kSecretFileRemoved}, {"host", host}, {"path", path}});
            run_.say("", fmt::format("removed {} on {}: it held a secret and was left by an earlier attempt", path, host));
            continue;
          }
          why = fmt::format("exit {}: {}", r.exit_status, r.stderr_tail.substr(0, 200));
        } catch (const std::exception& e) {
          why = e.what();
        }
        run_.say("", fmt::format("WARNING: {} on {} holds a secret and could not be removed ({}). Remove it by hand: "
                                 "ssh {}@{} {}",
                                 path, host, why, ep.user, ep.address, shell_join(argv)));
      }
  }

  /// --from: the steps from there on run again in this run.
  void mark_rerun_from(size_t from) {
    std::vector<std::string> ids;
    for (size_t i = from; i < run_.plan.steps.size(); ++i) ids.push_back(run_.plan.steps[i].id);
    if (run_.state.rerun_from == run_.opts.from_step && run_.state.result != "succeeded") {
      // The same command run again after an interruption continues the
      // re-run it started; it does not start it over.
      run_.say("", fmt::format("continuing the re-run from {} started earlier in this run (drop --from to silence "
                               "this)",
                               run_.opts.from_step));
    } else if (!run_.state.run_id.empty() && run_.state.steps.size() > 0) {
      run_.record({{"t", rec::kRerunFrom}, {"steps", ids}, {"from", run_.opts.from_step}});
    }
    // A new run started --from a later step: the steps before it are skipped.
    for (size_t i = 0; i < from; ++i) {
      const Step& s = run_.plan.steps[i];
      if (!run_.state.steps.count(s.id)) run_.skip(s, "before --from " + run_.opts.from_step, "");
    }
  }

  // --- the ways a walk ends besides success ---------------------------------

  int failed(const std::string& step, const std::string& reason, const std::string& error, const std::string& where) {
    run_.record({{"t", rec::kRunStopped}, {"step", step}, {"reason", reason}});
    run_.life.step_failed();
    const Invocation& inv = run_.opts.invocation;
    std::vector<PassedOver> passed = passed_over(run_.plan, run_.state);
    std::string first = passed.empty() ? "" : passed.front().step;
    if (run_.opts.on_lab)
      run_.say(where, fmt::format("FAILED: {}\nThis was a rehearsal on a lab started for it, gone with it: "
                                  "running `{}` again rehearses from the start.",
                                  error, inv.run()));
    else if (!first.empty())
      // A resume does not run again what on_failure: continue passed over:
      // this step would meet the same gap. --from runs those steps again.
      run_.say(where, fmt::format("FAILED: {}\nEarlier steps failed and were passed over (on_failure: continue), "
                                  "starting with {}. Fix what failed, then `{}` runs {} and the steps after it "
                                  "again; what is in place is recognised, not repeated. `{}` shows where it stands.",
                                  error, first, inv.run("--from " + first), first, inv.status()));
    else
      run_.say(where, fmt::format("FAILED: {}\nFix the cause and run `{}` again: the run resumes with this step. "
                                  "`{}` shows where it stands.",
                                  error, inv.run(), inv.status()));
    tell_summary();
    return exit_code::kStepFailed;
  }

  int interrupted(const std::string& step) {
    run_.record({{"t", rec::kInterrupted}, {"step", step}, {"reason", fmt::format("signal {}", stop_signal())}});
    run_.life.interrupted();
    run_.say("", run_.opts.on_lab ? fmt::format("interrupted; the lab started for this rehearsal is gone with it: "
                                                "`{}` rehearses from the start.", run_.opts.invocation.run())
                                  : fmt::format("interrupted; the journal is safe. Run `{}` again to resume.",
                                                run_.opts.invocation.run()));
    return exit_code::kInterrupted;
  }

  int awaiting(const std::string& step, const std::string& reason) {
    run_.await_operator(step, "", reason);
    run_.life.operator_needed();
    return exit_code::kAwaitingOperator;
  }

  /// The end-of-run summary for the operator (report.h run_summary).
  void tell_summary() {
    long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - walk_started_).count();
    run_.say("", run_summary(run_.plan, run_.state, ms, run_.opts.on_lab ? nullptr : &run_.opts.invocation));
  }

  RunContext run_;
  Clock::time_point walk_started_ = Clock::now();
};

}  // namespace

int execute_plan(const Plan& plan, const RunOptions& opts, OperatorChannel& op) {
  ::umask(077);  // the run directory, journal, log and reports are the operator's alone
  return RunSession(plan, opts, op).execute();
}

}  // namespace she
