#include "orchestrator/report.h"

#include <fmt/format.h>
#include <map>
#include <thread>

#include "base/clock.h"
#include "base/durable_file.h"
#include "orchestrator/report_html.h"

namespace she {

namespace {

/// What a step of this type does to the host an iteration names, for the
/// report's hosts section; nullptr for steps that touch no host record.
const char* host_effect(const std::string& uses) {
  if (uses == "engine.host.fence_manual") return "fenced";
  if (uses == "engine.host.remove") return "removed";
  if (uses == "engine.host.add" || uses == "engine.host.install") return "reinstalled";
  return nullptr;
}

/// Wall time of a step: from its first iteration's start to its last one's
/// end. Loop items run side by side, so their durations never add up.
long long wall_ms(const StepState& ss) {
  long long first = -1, last = -1;
  for (const auto& [key, it] : ss.iterations) {
    long long a = utc_ms(it.started), b = utc_ms(it.finished);
    if (a < 0 || b < 0) continue;
    if (first < 0 || a < first) first = a;
    last = std::max(last, b);
  }
  if (first >= 0) return std::max(0LL, last - first);
  long long longest = 0;  // journals written before times had milliseconds
  for (const auto& [key, it] : ss.iterations) longest = std::max(longest, it.duration_ms);
  return longest;
}

/// The host a step without a loop acts on, when the plan names it without
/// a value only the run knows: its lane on the report's timeline.
std::string step_host(const Step& s, const Value& roots) {
  const ParamSchema* p = s.type->param("host");
  if (!p || s.foreach.kind != Foreach::Kind::None) return "";
  try {
    Value v = resolve_step_param(s, *p, roots);
    return v.is_string() && !contains_deferred(v) && v != "local" ? v.get<std::string>() : "";
  } catch (const std::exception&) {
    return "";
  }
}

/// Steps whose time is spent waiting for the engine rather than acting.
bool is_wait(const std::string& uses) {
  return uses == "engine.health" || (uses.size() > 5 && uses.compare(uses.size() - 5, 5, ".wait") == 0);
}

/// A block's part of the critical path: the block's wall time, bounded by
/// its slowest item (from that item's first start to its last end); the
/// item's time in waiting steps is waiting, the rest of the wall acting
/// (an item waiting for a free slot waits on the others' actions).
Value block_path(const std::vector<const Value*>& steps, long long* wall, long long* waiting, long long* first,
                 long long* last) {
  struct Item {
    long long a = -1, b = -1, wait = 0;
    std::string label;
  };
  std::map<std::string, Item> items;
  long long lo = -1, hi = -1;
  for (const Value* s : steps)
    for (const auto& i : (*s)["iterations"]) {
      long long a = utc_ms(i.value("started", "")), b = utc_ms(i.value("finished", ""));
      if (a < 0 || b < a) continue;
      Item& it = items[i.value("key", "")];
      it.label = i.value("label", "");
      if (it.a < 0 || a < it.a) it.a = a;
      it.b = std::max(it.b, b);
      if (s->value("wait", false)) it.wait += b - a;
      if (lo < 0 || a < lo) lo = a;
      hi = std::max(hi, b);
    }
  const Item* slowest = nullptr;
  for (const auto& [key, it] : items)
    if (it.a >= 0 && (!slowest || it.b - it.a > slowest->b - slowest->a)) slowest = &it;
  if (!slowest) return nullptr;
  if (*first < 0 || lo < *first) *first = lo;
  *last = std::max(*last, hi);
  *wall = hi - lo;
  *waiting = slowest->wait;
  Value ids = Value::array();
  for (const Value* s : steps) ids.push_back(s->value("id", ""));
  return {{"step", (*steps.front())["block"]}, {"item", slowest->label}, {"ms", *wall},
          {"wait", slowest->wait * 2 > *wall}, {"block_steps", ids}, {"item_ms", slowest->b - slowest->a}};
}

/// A group's part of the critical path: from its first step's start to its
/// last one's end, bounded by its slowest step (waiting when that step is a
/// wait for the engine).
Value group_path(const std::vector<const Value*>& steps, long long* wall, long long* waiting, long long* first,
                 long long* last) {
  long long lo = -1, hi = -1;
  const Value* slowest = nullptr;
  long long slowest_ms = -1;
  for (const Value* s : steps) {
    long long a = -1, b = -1;
    for (const auto& i : (*s)["iterations"]) {
      long long x = utc_ms(i.value("started", "")), y = utc_ms(i.value("finished", ""));
      if (x < 0 || y < x) continue;
      a = a < 0 ? x : std::min(a, x);
      b = std::max(b, y);
    }
    if (a < 0) continue;
    if (lo < 0 || a < lo) lo = a;
    hi = std::max(hi, b);
    if (b - a > slowest_ms) {
      slowest = s;
      slowest_ms = b - a;
    }
  }
  if (!slowest) return nullptr;
  if (*first < 0 || lo < *first) *first = lo;
  *last = std::max(*last, hi);
  *wall = hi - lo;
  const bool wait = slowest->value("wait", false);
  *waiting = wait ? *wall : 0;
  Value ids = Value::array();
  for (const Value* s : steps) ids.push_back(s->value("id", ""));
  return {{"step", (*steps.front())["group"]}, {"item", slowest->value("id", "")}, {"ms", *wall},
          {"wait", wait}, {"group_steps", ids}};
}

/// What bounded the run's time. Steps run one after another and a loop
/// ends with its last item, so the path is each step's longest item (the
/// step itself without a loop), a group's slowest step, and a block's
/// slowest item through all of its steps; between steps is time of ours
/// (or a stop before a resume).
/// Waits for the engine are told apart from actions.
Value critical_path(const Value& steps) {
  Value path = Value::array();
  long long acting = 0, waiting = 0, first = -1, last = -1, walls = 0;
  for (size_t k = 0; k < steps.size(); ++k) {
    const Value& s = steps[k];
    const bool pipeline = !s.value("block", "").empty(), group = !s.value("group", "").empty();
    if (pipeline || group) {
      const char* kind = pipeline ? "block" : "group";
      std::vector<const Value*> block;
      for (; k < steps.size() && steps[k].value(kind, "") == s.value(kind, ""); ++k)
        if (steps[k].contains("iterations")) block.push_back(&steps[k]);
      --k;
      long long wall = 0, wait = 0;
      Value entry = block.empty() ? Value()
                    : pipeline    ? block_path(block, &wall, &wait, &first, &last)
                                  : group_path(block, &wall, &wait, &first, &last);
      if (entry.is_null()) continue;
      walls += wall;
      waiting += wait;
      acting += wall - wait;
      path.push_back(entry);
      continue;
    }
    if (!s.contains("iterations") || s["iterations"].empty()) continue;
    const Value* longest = nullptr;
    for (const auto& i : s["iterations"]) {
      long long a = utc_ms(i.value("started", "")), b = utc_ms(i.value("finished", ""));
      if (a < 0 || b < a) continue;
      if (first < 0 || a < first) first = a;
      last = std::max(last, b);
      if (!longest || i.value("duration_ms", 0LL) > longest->value("duration_ms", 0LL)) longest = &i;
    }
    if (!longest) continue;
    long long ms = s.value("wall_ms", 0LL);
    walls += ms;
    (s.value("wait", false) ? waiting : acting) += ms;
    path.push_back({{"step", s.value("id", "")}, {"item", longest->value("label", "")}, {"ms", ms},
                    {"wait", s.value("wait", false)}});
  }
  long long span = first >= 0 ? last - first : 0;
  return {{"steps", path}, {"acting_ms", acting}, {"waiting_ms", waiting},
          {"between_steps_ms", std::max(0LL, span - walls)}, {"span_ms", span}};
}

std::string seconds(long long ms) { return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000.0); }

}  // namespace

std::vector<PassedOver> passed_over(const Plan& plan, const RunState& st) {
  std::vector<PassedOver> out;
  for (const Step& s : plan.steps) {
    auto found = st.steps.find(s.id);
    if (found == st.steps.end() || s.on_failure != OnFailure::Continue) continue;
    for (const auto& [key, it] : found->second.iterations)
      if (it.status == "failed") out.push_back({s.id, it.label, it.error});
  }
  return out;
}

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
  long long t0 = utc_ms(st.started), t1 = utc_ms(st.finished);
  if (t0 >= 0 && t1 >= t0) r["duration_ms"] = t1 - t0;
  r["result"] = st.result.empty() ? "running" : st.result;
  r["stop_reason"] = st.stop_reason;
  r["stop_step"] = st.stop_step;
  r["resumes"] = st.resumes;
  r["steps"] = Value::array();
  r["backups"] = Value::array();
  r["hosts"] = {{"fenced", Value::array()}, {"removed", Value::array()}, {"reinstalled", Value::array()},
                {"left", Value::array()}};
  const Value roots = plan.roots(false);
  for (auto& s : plan.steps) {
    Value step = {{"id", s.id},       {"name", s.name},           {"uses", s.uses}, {"kind", kind_name(s.type->kind())},
                  {"wait", is_wait(s.uses)}, {"host", step_host(s, roots)}};
    if (const Block* b = plan.block_of(s)) step[b->kind == Block::Kind::Parallel ? "group" : "block"] = b->id;
    auto found = st.steps.find(s.id);
    if (found == st.steps.end()) {
      step["status"] = "pending";
      r["steps"].push_back(step);
      continue;
    }
    const StepState& ss = found->second;
    step["status"] = ss.status();
    step["loop"] = ss.loop_expanded;
    step["wall_ms"] = wall_ms(ss);
    if (!ss.skip_reason.empty()) step["reason"] = ss.skip_reason;
    step["iterations"] = Value::array();
    const char* effect = host_effect(s.uses);
    for (auto& [key, it] : ss.iterations) {
      Value i = {{"key", key},          {"label", it.label},      {"status", it.status},
                 {"attempts", it.attempts}, {"started", it.started}, {"finished", it.finished},
                 {"duration_ms", it.duration_ms}, {"outputs", it.outputs}};
      if (!it.error.empty()) i["error"] = it.error;
      if (!it.note.empty()) i["note"] = it.note;
      if (!it.retries.empty()) i["retries"] = it.retries;
      step["iterations"].push_back(i);
      std::string host = it.label.empty() ? s.id : it.label;
      if (effect && it.status == "succeeded") r["hosts"][effect].push_back(host);
      if (effect && it.status == "failed")
        r["hosts"]["left"].push_back({{"host", host}, {"step", s.id}, {"error", it.error}});
      // The archive a run took or restored: what backup.verify read in it.
      if (s.uses == "backup.verify" && it.status == "succeeded")
        r["backups"].push_back({{"step", s.id},
                                {"file", it.outputs.value("file", "")},
                                {"bytes", it.outputs.value("bytes", 0LL)},
                                {"sha256", it.outputs.value("sha256", "")},
                                {"engine_version", it.outputs.value("version", "")},
                                {"engine_fqdn", it.outputs.value("fqdn", "")}});
    }
    r["steps"].push_back(step);
  }
  r["critical_path"] = critical_path(r["steps"]);
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
  md += fmt::format("| by | {} on {} |\n| started | {} |\n| finished | {} |\n", to_text(r["user"]), to_text(r["host"]),
                    to_text(r["started"]), to_text(r["finished"]));
  if (r.contains("duration_ms")) md += fmt::format("| wall time | {} |\n", seconds(r["duration_ms"].get<long long>()));
  md += fmt::format("| resumes | {} |\n| result | **{}** |\n", to_text(r["resumes"]), to_text(r["result"]));
  if (!to_text(r["stop_reason"]).empty())
    md += fmt::format("| stopped at | {}: {} |\n", to_text(r["stop_step"]), to_text(r["stop_reason"]));

  for (auto& b : r["backups"])
    md += fmt::format("\n## Backup\n\n| | |\n|---|---|\n| file | `{}` |\n| size | {} bytes |\n| SHA-256 | `{}` |\n"
                      "| engine version | {} |\n| engine FQDN | {} |\n| checked by | {} |\n",
                      to_text(b["file"]), to_text(b["bytes"]), to_text(b["sha256"]), to_text(b["engine_version"]),
                      to_text(b["engine_fqdn"]).empty() ? "(not recorded)" : to_text(b["engine_fqdn"]),
                      to_text(b["step"]));

  const Value& hosts = r["hosts"];
  if (!hosts["fenced"].empty() || !hosts["removed"].empty() || !hosts["reinstalled"].empty() || !hosts["left"].empty()) {
    md += "\n## Hosts\n\n| | |\n|---|---|\n";
    for (const char* what : {"fenced", "removed", "reinstalled"})
      if (!hosts[what].empty()) {
        std::vector<std::string> names;
        for (auto& h : hosts[what]) names.push_back(to_text(h));
        md += fmt::format("| {} | {} |\n", what, fmt::join(names, ", "));
      }
    for (auto& h : hosts["left"])
      md += fmt::format("| left | {} ({} failed: {}) |\n", to_text(h["host"]), to_text(h["step"]), to_text(h["error"]));
  }

  const Value& cp = r["critical_path"];
  if (!cp["steps"].empty()) {
    std::vector<std::string> chain;
    for (const auto& c : cp["steps"]) {
      std::string item = to_text(c["item"]);
      if (c.contains("block_steps")) {
        std::vector<std::string> ids;
        for (const auto& id : c["block_steps"]) ids.push_back(to_text(id));
        item = fmt::format("{} through {}", item, fmt::join(ids, ", "));
      }
      if (c.contains("group_steps")) {
        std::vector<std::string> ids;
        for (const auto& id : c["group_steps"]) ids.push_back(to_text(id));
        item = fmt::format("slowest {} of {} side by side", item, fmt::join(ids, ", "));
      }
      chain.push_back(to_text(c["step"]) + (item.empty() ? "" : " (" + item + ")"));
    }
    md += fmt::format("\n## Critical path\n\n{} in all: acting {}, waiting for the engine {}, between steps {}.\n\n{}\n",
                      seconds(cp["span_ms"].get<long long>()), seconds(cp["acting_ms"].get<long long>()),
                      seconds(cp["waiting_ms"].get<long long>()), seconds(cp["between_steps_ms"].get<long long>()),
                      fmt::join(chain, " → "));
  }

  md += "\n## Steps\n\nWall time runs from a step's first start to its last end: loop items run side by side, "
        "so their own times are listed below, never added up.\n\n"
        "| step | type | status | attempts | wall time | notes |\n|---|---|---|---|---|---|\n";
  std::string items, retries;
  for (auto& s : r["steps"]) {
    int attempts = 0;
    std::string notes = s.value("reason", "");
    bool ran = s.contains("iterations") && !s["iterations"].empty();
    if (ran)
      for (auto& i : s["iterations"]) {
        attempts += i.value("attempts", 0);
        std::string label = i.value("label", "");
        std::string what = i.contains("error") ? to_text(i["error"]) : i.value("note", "");
        if (!what.empty()) notes += (notes.empty() ? "" : "; ") + (label.empty() ? "" : label + ": ") + what;
        if (s.value("loop", false))
          items += fmt::format("| {} | {} | {} | {} | {} |\n", to_text(s["id"]), label.empty() ? i.value("key", "") : label,
                               to_text(i["status"]), i.value("attempts", 0), seconds(i.value("duration_ms", 0LL)));
        if (i.contains("retries"))
          for (auto& f : i["retries"])
            retries += fmt::format("| {}{} | {} | {} | {} |\n", to_text(s["id"]), label.empty() ? "" : " (" + label + ")",
                                   to_text(f["time"]), to_text(f["class"]), to_text(f["error"]));
      }
    md += fmt::format("| {} | {} | {} | {} | {} | {} |\n", to_text(s["id"]), to_text(s["uses"]), to_text(s["status"]),
                      ran ? std::to_string(attempts) : "-", ran ? seconds(s.value("wall_ms", 0LL)) : "-", notes);
  }
  if (!items.empty())
    md += "\n## Loop items\n\n| step | item | status | attempts | time |\n|---|---|---|---|---|\n" + items;
  if (!retries.empty())
    md += "\n## Retries\n\nEach failure a retry followed, with its cause.\n\n| step | when | class | error |\n"
          "|---|---|---|---|\n" + retries;
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
      const char* what = host_effect(s.uses);
      if (what && it.status == "succeeded" && !it.label.empty()) hosts[what].push_back(it.label);
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
  for (const char* what : {"fenced", "removed", "reinstalled"})
    if (hosts.count(what))
      out += fmt::format("  hosts {}: {}\n", what == std::string("reinstalled") ? "added or reinstalled" : what,
                         fmt::join(hosts[what], ", "));
  std::vector<PassedOver> passed = passed_over(plan, st);
  std::vector<std::string> left;
  for (const auto& p : passed)
    left.push_back(fmt::format("    {}{}: {}", p.step, p.label.empty() ? "" : " (" + p.label + ")", p.error));
  if (left.empty()) {
    out += "  left for the operator: nothing";
  } else {
    out += fmt::format("  left for the operator (steps that went on after these failures):\n{}", fmt::join(left, "\n"));
    if (resume)
      out += fmt::format("\n  once each cause is fixed, `{}` runs that step and the ones after it "
                         "again; what is already in place is recognised and not repeated.",
                         resume->run("--from " + passed.front().step));
  }
  return out;
}

bool write_reports(const Plan& plan, const RunPaths& paths, const RunState& state, const Redactor& redactor,
                   std::string* err) {
  const Value r = redactor.scrub(report_json(plan, state));
  // Three renderings and three fsyncs at the end of every run, side by
  // side: the disk's waits overlap (one fsync took 15 ms on a VM), and the
  // renderings only read the one report.
  struct Out {
    std::string path, err;
    bool ok = false;
  } outs[3] = {{paths.report_json(), {}, false}, {paths.report_md(), {}, false}, {paths.report_html(), {}, false}};
  auto write = [&r](Out& o, std::string (*render)(const Value&)) { o.ok = write_file_durably(o.path, render(r), &o.err); };
  std::thread json(write, std::ref(outs[0]), [](const Value& v) { return dump_json(v, 2) + "\n"; });
  std::thread markdown(write, std::ref(outs[1]), &report_markdown);
  write(outs[2], &report_html);
  json.join();
  markdown.join();
  for (const Out& o : outs)
    if (!o.ok) {
      *err = o.err;
      return false;
    }
  return true;
}

}  // namespace she
