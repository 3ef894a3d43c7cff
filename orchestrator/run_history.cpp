#include "orchestrator/run_history.h"

#include <algorithm>
#include <fmt/format.h>
#include <iostream>

#include "base/clock.h"
#include "orchestrator/exit_codes.h"
#include "orchestrator/journal.h"
#include "orchestrator/report.h"
#include "orchestrator/report_html.h"
#include "orchestrator/run_directory.h"
#include "orchestrator/run_state.h"

namespace she {

namespace {

std::string plan_dir_of(const Plan& plan, const Invocation& inv) {
  return plan_state_dir(state_root(inv.state_dir), plan.name);
}

/// A run's state from its journal; false with `err` when it cannot be read.
bool read_run(const std::string& plan_dir, const std::string& run_id, RunState* st, std::string* err) {
  std::string warning;
  return Journal::read_state(run_paths(plan_dir, run_id).journal(), st, &warning, err);
}

/// What the operator still has to do after a run: the failures of steps
/// that went on (on_failure: continue), and a question left unanswered.
std::vector<std::string> left_for_operator(const Plan& plan, const RunState& st) {
  std::vector<std::string> left;
  for (const auto& p : passed_over(plan, st)) left.push_back(p.step + (p.label.empty() ? "" : " (" + p.label + ")"));
  if (st.result == "awaiting_operator") left.push_back("an answer: " + st.stop_reason);
  return left;
}

}  // namespace

int command_runs(const Plan& plan, const Invocation& inv, const std::string& output) {
  std::string dir = plan_dir_of(plan, inv);
  Value runs = Value::array();
  for (const std::string& id : list_runs(dir)) {
    RunState st;
    std::string err;
    Value v = {{"run_id", id}};
    if (!read_run(dir, id, &st, &err)) {
      v["result"] = "unreadable";
      v["error"] = err;
      runs.push_back(v);
      continue;
    }
    long long t0 = utc_ms(st.started), t1 = utc_ms(st.finished);
    v["started"] = st.started;
    v["finished"] = st.finished;
    if (t0 >= 0 && t1 >= t0) v["duration_ms"] = t1 - t0;
    // A journal with no end is a run killed or still running: `status` tells which.
    v["result"] = st.result.empty() ? "unfinished" : st.result;
    v["by"] = st.user + "@" + st.host;
    v["resumes"] = st.resumes;
    v["left_for_operator"] = left_for_operator(plan, st);
    runs.push_back(v);
  }
  if (output == "json") {
    std::cout << dump_json(runs, 2) << "\n";
    return exit_code::kOk;
  }
  if (runs.empty()) {
    std::cout << fmt::format("plan {} has no runs under {}. `{}` rehearses it.\n", plan.name, dir, inv.dry_run());
    return exit_code::kOk;
  }
  std::cout << fmt::format("{:<32} {:<24} {:>9} {:<18} {:<24} {}\n", "RUN", "STARTED", "WALL", "RESULT", "BY",
                           "LEFT FOR THE OPERATOR");
  for (auto& v : runs) {
    std::string wall = v.contains("duration_ms")
                           ? fmt::format("{:.1f}s", static_cast<double>(v["duration_ms"].get<long long>()) / 1000.0)
                           : "-";
    std::vector<std::string> left;
    for (auto& l : v.value("left_for_operator", Value::array())) left.push_back(to_text(l));
    std::cout << fmt::format("{:<32} {:<24} {:>9} {:<18} {:<24} {}\n", to_text(v["run_id"]), v.value("started", ""),
                             wall, to_text(v["result"]), v.value("by", ""),
                             left.empty() ? "-" : fmt::format("{}", fmt::join(left, "; ")));
  }
  std::cout << fmt::format("`{}` shows one in full.\n", inv.subcommand("report", "--run RUN"));
  return exit_code::kOk;
}

int command_report(const Plan& plan, const Invocation& inv, const std::string& run_id, const std::string& format) {
  std::string dir = plan_dir_of(plan, inv);
  auto runs = list_runs(dir);
  if (runs.empty()) {
    std::cerr << fmt::format("she-restore: plan {} has no runs under {}\n", plan.name, dir);
    return exit_code::kUsage;
  }
  std::string id = run_id.empty() ? runs.back() : run_id;
  if (std::find(runs.begin(), runs.end(), id) == runs.end()) {
    std::cerr << fmt::format("she-restore: plan {} has no run {}; `{}` lists them\n", plan.name, id,
                             inv.subcommand("runs"));
    return exit_code::kUsage;
  }
  RunState st;
  std::string err;
  if (!read_run(dir, id, &st, &err)) {
    std::cerr << "she-restore: " << err << "\n";
    return exit_code::kInternal;
  }
  // The journal holds references, never secret values (a value a host
  // echoed was scrubbed before it was written): nothing to scrub here.
  Value r = report_json(plan, st);
  std::cout << (format == "json" ? dump_json(r, 2) + "\n" : format == "html" ? report_html(r) : report_markdown(r));
  return exit_code::kOk;
}

}  // namespace she
