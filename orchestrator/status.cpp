#include "orchestrator/status.h"

#include <fmt/format.h>
#include <iostream>

#include "orchestrator/exit_codes.h"
#include "orchestrator/journal.h"
#include "orchestrator/plan_lock.h"
#include "orchestrator/run_directory.h"
#include "orchestrator/report.h"
#include "orchestrator/run_state.h"

namespace she {

namespace {

Value status_of(const Plan& plan, const Invocation& inv) {
  Value v;
  v["plan"] = plan.name;
  std::string plan_dir = plan_state_dir(state_root(inv.state_dir), plan.name);
  auto runs = list_runs(plan_dir);
  v["runs"] = runs.size();
  LockHolder holder;
  PlanLock::State lock_state = PlanLock::inspect(plan_lock_path(plan_dir), &holder);
  if (lock_state != PlanLock::State::Free) v["lock"] = holder.to_value();
  if (runs.empty()) {
    v["state"] = "never run";
    v["next"] = fmt::format("`{}` to rehearse; `{}` to run", inv.dry_run(), inv.run());
    return v;
  }
  RunPaths paths = run_paths(plan_dir, runs.back());
  RunState st;
  std::string warning, err;
  if (!Journal::read_state(paths.journal(), &st, &warning, &err)) {
    v["state"] = "unreadable";
    v["last_error"] = err;
    return v;
  }
  v["run_id"] = st.run_id;
  v["run_dir"] = paths.dir;
  v["started"] = st.started;
  v["by"] = st.user + "@" + st.host;
  if (!warning.empty()) v["warning"] = warning;

  bool live = lock_state == PlanLock::State::Held && holder.run_id == st.run_id;
  std::string state = live ? "running" : st.result.empty() ? "interrupted" : st.result;
  v["state"] = state;

  // The first step not finished is where the run stands.
  int done = 0, skipped = 0, failed = 0;
  std::string current;
  for (auto& s : plan.steps) {
    auto it = st.steps.find(s.id);
    std::string status = it == st.steps.end() ? "pending" : it->second.status();
    done += status == "succeeded";
    skipped += status == "skipped";
    failed += status == "failed";
    bool went_on = status == "failed" && s.on_failure == OnFailure::Continue;
    if (current.empty() && status != "succeeded" && status != "skipped" && !went_on) current = s.id;
  }
  std::vector<PassedOver> passed = passed_over(plan, st);
  std::string first_passed_over = passed.empty() ? "" : passed.front().step;
  v["steps"] = {{"total", plan.steps.size()}, {"succeeded", done}, {"skipped", skipped}, {"failed", failed}};
  v["current_step"] = st.stop_step.empty() ? current : st.stop_step;
  if (state == "awaiting_operator") v["waiting_for"] = st.stop_reason;
  for (auto& [id, ss] : st.steps)
    for (auto& [key, it] : ss.iterations)
      if (!it.error.empty()) v["last_error"] = id + (it.label.empty() ? "" : " (" + it.label + ")") + ": " + it.error;
  if (state == "failed" && !st.stop_reason.empty()) v["last_error"] = st.stop_reason;

  if (state == "succeeded" && first_passed_over.empty())
    v["next"] = fmt::format("nothing: the run finished. Report: {}/report.md", paths.dir);
  else if (state == "running")
    v["next"] = fmt::format("wait: pid {} on {} is running it", holder.pid, holder.host);
  else if (state == "awaiting_operator")
    v["next"] = fmt::format("answer it: run `{}` on a terminal, or add --yes or --answers FILE", inv.run());
  else if (lock_state == PlanLock::State::Stale && holder.host != this_host())
    v["next"] = fmt::format("a run on {} holds its lock: check nothing is working on the plan there, then "
                            "`{}`", holder.host, inv.run("--break-lock " + holder.run_id));
  else if (!first_passed_over.empty())
    // A resume does not run again what on_failure: continue passed over,
    // so it would stop at the same place; --from runs those steps again.
    v["next"] = fmt::format("fix what failed, then `{}`: it runs {} and the steps after it again (what is in "
                            "place is recognised, not repeated)",
                            inv.run("--from " + first_passed_over), first_passed_over);
  else
    v["next"] = fmt::format("run `{}` to resume at {}", inv.run(), to_text(v["current_step"]));
  return v;
}

}  // namespace

int command_status(const Plan& plan, const Invocation& inv, const std::string& output) {
  Value v = status_of(plan, inv);
  if (output == "json") {
    std::cout << dump_json(v, 2) << "\n";
    return exit_code::kOk;
  }
  std::cout << fmt::format("plan      {}\n", plan.name);
  if (v.contains("run_id")) {
    std::cout << fmt::format("run       {} ({} run{} in all), started {} by {}\n", to_text(v["run_id"]),
                             to_text(v["runs"]), v["runs"] == 1 ? "" : "s", to_text(v["started"]), to_text(v["by"]));
    std::cout << fmt::format("steps     {} of {} done, {} skipped, {} failed\n", to_text(v["steps"]["succeeded"]),
                             to_text(v["steps"]["total"]), to_text(v["steps"]["skipped"]),
                             to_text(v["steps"]["failed"]));
  }
  std::cout << fmt::format("state     {}\n", to_text(v["state"]));
  if (v.contains("current_step") && !to_text(v["current_step"]).empty())
    std::cout << fmt::format("at step   {}\n", to_text(v["current_step"]));
  if (v.contains("waiting_for")) std::cout << fmt::format("waiting   {}\n", to_text(v["waiting_for"]));
  if (v.contains("last_error")) std::cout << fmt::format("error     {}\n", to_text(v["last_error"]));
  if (v.contains("warning")) std::cout << fmt::format("warning   {}\n", to_text(v["warning"]));
  std::cout << fmt::format("next      {}\n", to_text(v["next"]));
  return exit_code::kOk;
}

}  // namespace she
