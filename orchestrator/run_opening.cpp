#include "orchestrator/run_opening.h"

#include <algorithm>
#include <fmt/format.h>
#include <iostream>
#include <unistd.h>

#include "base/clock.h"
#include "base/durable_file.h"
#include "orchestrator/exit_codes.h"
#include "orchestrator/plan_snapshot.h"
#include "orchestrator/step_runner.h"
#include "workflows/offline_checks.h"
#include "workflows/step_expansion.h"

namespace she {

namespace {

bool fail(RunContext& run, int* code, int value, const std::string& message) {
  std::cerr << "she-restore: " << run.redactor.scrub(message) << "\n";
  *code = value;
  return false;
}

}  // namespace

bool open_run(RunContext& run, int* code) {
  // Refused before anything starts: a restore must not stop half-way at a
  // step this release cannot run.
  std::vector<std::string> missing;
  for (auto& s : run.plan.steps)
    if (runs_in_mode(run.plan, s) && !s.type->runnable() && std::find(missing.begin(), missing.end(), s.uses) == missing.end())
      missing.push_back(s.uses);
  if (!missing.empty()) {
    std::cerr << fmt::format(
        "she-restore: plan {} uses step types this release cannot run yet: {}.\n"
        "Nothing was started. Rehearse it with: {}\n",
        run.plan.name, fmt::join(missing, ", "), run.opts.invocation.dry_run());
    *code = exit_code::kNotImplemented;
    return false;
  }
  // Resume the latest run (its journal is read once, below, under the lock).
  std::string err;
  run.plan_dir = plan_state_dir(state_root(run.opts.state_dir), run.plan.name);
  auto runs = list_runs(run.plan_dir);  // none yet when the directory is not there
  // A lab run has nothing to resume: its lab was started for it.
  if (!runs.empty() && !run.opts.new_run && !run.opts.on_lab) run.run_id = runs.back();
  bool resuming = !run.run_id.empty();
  // A new run connects to the hosts its steps name while its checks, lock,
  // directory and journal are made (fsyncs, before the first step): the
  // first step's host answers sooner. A connection is no action, and one
  // the run does not use (or a run refused below) is closed.
  if (!resuming) warm_hosts_ahead(run, run.plan.roots(false));

  // The checks `validate` makes, before any remote call and before the
  // lock: a missing secret or key file found now, not hours into a restore.
  Diagnostics offline;
  check_offline(run.plan, run.secrets, offline);
  if (!offline.ok()) {
    std::cerr << run.redactor.scrub(offline.str())
              << "she-restore: the plan's environment has errors; nothing was run\n";
    *code = exit_code::kInvalidPlan;
    return false;
  }
  if (!make_private_directory(run.plan_dir, &err)) return fail(run, code, exit_code::kInternal, err);
  std::string lock_path = plan_lock_path(run.plan_dir);
  if (!resuming) run.run_id = new_run_id(run.plan_dir);
  run.paths = run_paths(run.plan_dir, run.run_id);

  LockHolder me{static_cast<int>(::getpid()), this_host(), this_user(), run.run_id, utc_now()}, holder;
  switch (run.lock.acquire(lock_path, me, run.opts.break_lock, &holder, &err)) {
    case PlanLock::Result::Acquired:
      if (!run.opts.break_lock.empty()) run.say("", "took over the stale lock of run " + run.opts.break_lock);
      break;
    case PlanLock::Result::TakenOver:
      run.say("", fmt::format("warning: took over the lock of {}: that process is gone", holder.str()));
      break;
    case PlanLock::Result::HeldByLiveProcess:
      return fail(run, code, exit_code::kLocked,
                  fmt::format("plan {} is being run by {}; wait for it, or stop it first", run.plan.name,
                              holder.str()));
    case PlanLock::Result::Stale:
      return fail(run, code, exit_code::kLocked,
                  fmt::format("plan {} has a lock from {}, written on another host: that process may still be "
                              "working on this plan. Make sure it is not, then run `{}`",
                              run.plan.name, holder.str(), run.opts.invocation.run("--break-lock " + holder.run_id)));
    case PlanLock::Result::WrongRunId:
      return fail(run, code, exit_code::kLocked,
                  fmt::format("the stale lock belongs to run {}, not {}: run `{}`", holder.run_id,
                              run.opts.break_lock, run.opts.invocation.run("--break-lock " + holder.run_id)));
    case PlanLock::Result::Error: return fail(run, code, exit_code::kInternal, err);
  }

  if (!make_private_directory(run.paths.dir, &err)) return fail(run, code, exit_code::kInternal, err);
  std::string warning;
  if (!run.journal.open(run.paths.journal(), &run.state, &warning, &err))
    return fail(run, code, exit_code::kInternal,
                fmt::format("cannot read the journal {}: {}; nothing was done. Fix the file system, or start over "
                            "with `{}`",
                            run.paths.journal(), err, run.opts.invocation.run("--new-run")));
  if (!warning.empty()) std::cerr << "she-restore: warning: " << warning << "\n";
  // One that succeeded is not run again by accident: re-running a whole
  // restore takes an explicit --new-run.
  if (resuming && run.state.result == "succeeded" && run.opts.from_step.empty()) {
    run.journal.close();
    std::cerr << fmt::format("she-restore: run {} of plan {} succeeded at {}; nothing to do.\n"
                             "Run the plan again from the start with `{}`, or part of it with `{}`.\n",
                             run.state.run_id, run.plan.name, run.state.finished, run.opts.invocation.run("--new-run"),
                             run.opts.invocation.run("--from STEP"));
    *code = exit_code::kOk;
    return false;
  }
  run.start_log();

  Value fingerprints = step_fingerprints(run.plan);
  if (resuming && run.state.records > 0) {
    auto changed = changed_steps(run.state.step_hashes, fingerprints);
    if (!changed.empty() && !run.opts.replan)
      return fail(run, code, exit_code::kInvalidPlan,
                  fmt::format("the plan changed since run {} started:\n  {}\nRun `{}` to go on with the changed "
                              "plan (finished steps stay finished), or `{}` to start over",
                              run.run_id, fmt::join(changed, "\n  "), run.opts.invocation.run("--replan"),
                              run.opts.invocation.run("--new-run")));
    for (auto& c : changed) {
      std::string id = c.substr(0, c.find(':'));
      auto st = run.state.steps.find(id);
      if (st != run.state.steps.end() && st->second.loop_expanded && st->second.status() != "succeeded")
        return fail(run, code, exit_code::kInvalidPlan,
                    fmt::format("step {} is a loop that has started and its definition changed; --replan cannot "
                                "change the items of a running loop. Restore the plan and finish the run, or "
                                "start over with `{}`",
                                id, run.opts.invocation.run("--new-run")));
    }
    if (!changed.empty()) run.record({{"t", rec::kReplanned}, {"changed", changed}, {"step_hashes", fingerprints}});
    run.record({{"t", rec::kRunResumed}, {"pid", ::getpid()}, {"user", this_user()}, {"host", this_host()}});
    run.say("", fmt::format("resuming run {} ({})", run.run_id, run.paths.dir));
  } else {
    if (!write_file_durably(run.paths.frozen_plan(), dump_json(frozen_plan(run.plan, fingerprints), 2) + "\n", &err))
      return fail(run, code, exit_code::kInternal, err);
    run.record({{"t", rec::kRunStarted}, {"run", run.run_id}, {"plan", run.plan.name}, {"plan_file", run.plan.file},
                {"user", this_user()}, {"host", this_host()}, {"pid", ::getpid()}, {"version", SHE_RESTORE_VERSION},
                {"step_hashes", fingerprints}});
    run.say("", fmt::format("started run {} ({})", run.run_id, run.paths.dir));
  }
  run.journaled.remember(run.state.answers);
  // One trust anchor per run: a resume pins the CA trusted on first use;
  // a first use is journaled before any credential goes out.
  run.connections.set_recorded_ca_fingerprint(run.state.trusted_ca_fingerprint);
  run.connections.on_ca_trusted_first_use([&run](const std::string& fp) {
    run.record({{"t", rec::kCaTrusted}, {"fingerprint", fp}});
  });
  return true;
}

}  // namespace she
