#include "orchestrator/report.h"

#include <fmt/format.h>

#include "base/durable_file.h"

namespace she {

Value report_json(const Plan& plan, const RunState& st) {
  Value r;
  r["run_id"] = st.run_id;
  r["plan"] = plan.name;
  r["plan_file"] = plan.file;
  r["procedure"] = plan.procedure_name;
  r["environment"] = plan.env.name;
  r["mode"] = plan.env.mode;
  r["user"] = st.user;
  r["host"] = st.host;
  r["started"] = st.started;
  r["finished"] = st.finished;
  r["result"] = st.result.empty() ? "running" : st.result;
  r["stop_reason"] = st.stop_reason;
  r["stop_step"] = st.stop_step;
  r["resumes"] = st.resumes;
  r["steps"] = Value::array();
  for (auto& s : plan.steps) {
    Value step = {{"id", s.id}, {"name", s.name}, {"uses", s.uses}, {"kind", kind_name(s.type->kind())}};
    auto found = st.steps.find(s.id);
    if (found == st.steps.end()) {
      step["status"] = "pending";
    } else {
      const StepState& ss = found->second;
      step["status"] = ss.status();
      if (!ss.skip_reason.empty()) step["reason"] = ss.skip_reason;
      step["iterations"] = Value::array();
      for (auto& [key, it] : ss.iterations) {
        Value i = {{"key", key},          {"label", it.label},      {"status", it.status},
                   {"attempts", it.attempts}, {"started", it.started}, {"finished", it.finished},
                   {"duration_ms", it.duration_ms}, {"outputs", it.outputs}};
        if (!it.error.empty()) i["error"] = it.error;
        if (!it.note.empty()) i["note"] = it.note;
        step["iterations"].push_back(i);
      }
    }
    r["steps"].push_back(step);
  }
  r["answers"] = Value::array();
  for (auto& [key, a] : st.answers)
    r["answers"].push_back(
        {{"key", a.key}, {"answer", a.answer}, {"who", a.who}, {"source", a.source}, {"time", a.time}});
  r["warnings"] = st.warnings;
  r["secret_files_left"] = Value::array();
  for (const auto& [host, paths] : st.secret_files)
    for (const auto& path : paths) r["secret_files_left"].push_back({{"host", host}, {"path", path}});
  return r;
}

std::string report_markdown(const Value& r) {
  std::string md = fmt::format("# she-restore run {}\n\n", r["run_id"].get<std::string>());
  md += fmt::format("| | |\n|---|---|\n| plan | {} (procedure {}) |\n| environment | {} ({}) |\n", to_text(r["plan"]),
                    to_text(r["procedure"]), to_text(r["environment"]), to_text(r["mode"]));
  md += fmt::format("| by | {} on {} |\n| started | {} |\n| finished | {} |\n| result | **{}** |\n", to_text(r["user"]),
                    to_text(r["host"]), to_text(r["started"]), to_text(r["finished"]), to_text(r["result"]));
  if (!to_text(r["stop_reason"]).empty())
    md += fmt::format("| stopped at | {}: {} |\n", to_text(r["stop_step"]), to_text(r["stop_reason"]));
  md += "\n## Steps\n\n| step | type | status | attempts | duration | notes |\n|---|---|---|---|---|---|\n";
  for (auto& s : r["steps"]) {
    long long ms = 0;
    int attempts = 0;
    std::string notes = s.value("reason", "");
    if (s.contains("iterations"))
      for (auto& i : s["iterations"]) {
        ms += i.value("duration_ms", 0LL);
        attempts += i.value("attempts", 0);
        std::string what = i.contains("error") ? to_text(i["error"]) : i.value("note", "");
        if (!what.empty()) notes += (notes.empty() ? "" : "; ") + (i.value("label", "").empty() ? "" : i.value("label", "") + ": ") + what;
      }
    md += fmt::format("| {} | {} | {} | {} | {:.1f}s | {} |\n", to_text(s["id"]), to_text(s["uses"]), to_text(s["status"]),
                      attempts, static_cast<double>(ms) / 1000.0, notes);
  }
  if (!r["answers"].empty()) {
    md += "\n## Operator answers\n\n| question | answer | who | given by | when |\n|---|---|---|---|---|\n";
    for (auto& a : r["answers"])
      md += fmt::format("| {} | {} | {} | {} | {} |\n", to_text(a["key"]), to_text(a["answer"]), to_text(a["who"]),
                        to_text(a["source"]), to_text(a["time"]));
  }
  if (!r["secret_files_left"].empty()) {
    md += "\n## Files holding secrets left on hosts\n\nRemove each by hand (`rm -f -- PATH` on the host), or run "
          "the plan again: a run removes those its journal lists.\n\n";
    for (auto& f : r["secret_files_left"]) md += "- " + to_text(f["host"]) + ": `" + to_text(f["path"]) + "`\n";
  }
  if (!r["warnings"].empty()) {
    md += "\n## Warnings\n\n";
    for (auto& w : r["warnings"]) md += "- " + to_text(w) + "\n";
  }
  return md;
}

std::string run_summary(const Plan& plan, const RunState& st, long long elapsed_ms, const Invocation* resume) {
  int done = 0, skipped = 0, failed = 0;
  std::vector<std::pair<long long, std::string>> durations;
  std::map<std::string, std::vector<std::string>> hosts;  // what happened -> host labels
  std::vector<std::string> left;
  std::string first_left;
  for (const auto& s : plan.steps) {
    auto found = st.steps.find(s.id);
    std::string status = found == st.steps.end() ? "pending" : found->second.status();
    done += status == "succeeded";
    skipped += status == "skipped";
    failed += status == "failed";
    if (found == st.steps.end()) continue;
    long long ms = 0;
    for (const auto& [key, it] : found->second.iterations) {
      ms = std::max(ms, it.duration_ms);
      const char* what = s.uses == "engine.host.fence_manual" ? "fenced"
                         : s.uses == "engine.host.remove"      ? "removed"
                         : s.uses == "engine.host.add" || s.uses == "engine.host.install" ? "added or reinstalled"
                                                                                            : nullptr;
      if (what && it.status == "succeeded" && !it.label.empty()) hosts[what].push_back(it.label);
      if (it.status == "failed" && s.on_failure == OnFailure::Continue) {
        if (first_left.empty()) first_left = s.id;
        left.push_back(fmt::format("    {}{}: {}", s.id, it.label.empty() ? "" : " (" + it.label + ")", it.error));
      }
    }
    durations.push_back({ms, s.id});
  }
  std::sort(durations.rbegin(), durations.rend());
  std::vector<std::string> longest;
  for (size_t i = 0; i < durations.size() && i < 3 && durations[i].first > 0; ++i)
    longest.push_back(fmt::format("{} {:.1f} s", durations[i].second, durations[i].first / 1000.0));
  std::string out = fmt::format("Summary of run {}: {} in {:.1f} s\n", st.run_id,
                                st.result.empty() ? "stopped" : st.result, elapsed_ms / 1000.0);
  out += fmt::format("  steps: {} done, {} skipped, {} failed, {} not run (of {})\n", done, skipped, failed,
                     plan.steps.size() - static_cast<size_t>(done + skipped + failed), plan.steps.size());
  if (!longest.empty()) out += fmt::format("  longest: {}\n", fmt::join(longest, ", "));
  for (const char* what : {"fenced", "removed", "added or reinstalled"})
    if (hosts.count(what)) out += fmt::format("  hosts {}: {}\n", what, fmt::join(hosts[what], ", "));
  if (left.empty()) {
    out += "  left for the operator: nothing";
  } else {
    out += fmt::format("  left for the operator (steps that went on after these failures):\n{}", fmt::join(left, "\n"));
    if (resume)
      out += fmt::format("\n  once each cause is fixed, `{}` runs that step and the ones after it "
                         "again; what is already in place is recognised and not repeated.",
                         resume->run("--from " + first_left));
  }
  return out;
}

bool write_reports(const Plan& plan, const RunPaths& paths, const RunState& state, const Redactor& redactor,
                   std::string* err) {
  Value r = redactor.scrub(report_json(plan, state));
  return write_file_durably(paths.report_json(), dump_json(r, 2) + "\n", err) &&
         write_file_durably(paths.report_md(), report_markdown(r), err);
}

}  // namespace she
