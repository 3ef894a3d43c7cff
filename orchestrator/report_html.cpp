#include "orchestrator/report_html.h"

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <vector>

#include "base/clock.h"

namespace she {

namespace {

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string text_of(const Value& v) { return escape(to_text(v)); }

/// One bar on the timeline: a step, or one loop item of it.
struct Bar {
  std::string lane, step, item, status, title;
  long long from = 0, to = 0;  // ms since the run started
  bool wait = false, pause = false;
};

const char* kStyle = R"(
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}
.result-succeeded{color:#176b2c}.result-failed,.result-interrupted{color:#a11}.result-awaiting_operator{color:#a60}
.timeline{border:1px solid #ccc;padding:.5em}.lane{display:flex;align-items:center;height:26px}
.lane-name{width:12em;flex:none;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;font-weight:600}
.track{position:relative;flex:1;height:20px;background:#f4f4f4}
.bar{position:absolute;top:2px;height:16px;min-width:3px;background:#3b7dd8;border-radius:2px}
.bar.wait{background:repeating-linear-gradient(45deg,#9bbbe8,#9bbbe8 4px,#d5e3f6 4px,#d5e3f6 8px)}
.bar.critical{outline:2px solid #111;z-index:1}.bar.failed{background:#c0392b}.bar.pause{background:#e6a100}.bar.running{background:#888}
.legend span{display:inline-block;width:1.2em;height:.8em;margin:0 .3em 0 1em;vertical-align:middle}
)";

}  // namespace

std::string report_html(const Value& r) {
  const long long t0 = utc_ms(r.value("started", ""));
  long long end = 0;
  std::vector<Bar> bars;
  std::vector<std::string> lanes;  // engine-wide first, then hosts as they appear
  const std::string engine_lane = "engine and plan";
  lanes.push_back(engine_lane);
  for (const auto& s : r["steps"]) {
    if (!s.contains("iterations")) continue;
    for (const auto& i : s["iterations"]) {
      long long a = utc_ms(i.value("started", "")), b = utc_ms(i.value("finished", ""));
      if (t0 < 0 || a < 0) continue;
      Bar bar;
      bar.step = s.value("id", "");
      bar.item = i.value("label", "");
      bar.status = i.value("status", "");
      bar.from = a - t0;
      // A step still running (or killed) when the report was written ends
      // where the report's knowledge ends: drawn to the last known instant.
      bar.to = b >= a ? b - t0 : bar.from;
      bar.wait = s.value("wait", false);
      bar.pause = s.value("uses", "") == "prompt";
      std::string host = !bar.item.empty() && s.value("loop", false) ? bar.item : s.value("host", "");
      bar.lane = host.empty() ? engine_lane : host;
      if (std::find(lanes.begin(), lanes.end(), bar.lane) == lanes.end()) lanes.push_back(bar.lane);
      bar.title = fmt::format("{}{} ({}): {}, {:.1f} s{}", bar.step, bar.item.empty() ? "" : " / " + bar.item,
                              s.value("uses", ""), bar.status, static_cast<double>(bar.to - bar.from) / 1000.0,
                              i.contains("error") ? " - " + to_text(i["error"]) : "");
      end = std::max(end, bar.to);
      bars.push_back(bar);
    }
  }
  const double span = static_cast<double>(std::max(end, 1LL));
  // The bars that bounded the run (report.cpp critical_path) are outlined.
  std::map<std::string, std::string> critical;  // step -> item
  for (const auto& c : r["critical_path"].value("steps", Value::array())) {
    critical[c.value("step", "")] = c.value("item", "");
    for (const auto& id : c.value("block_steps", Value::array())) critical[id.get<std::string>()] = c.value("item", "");
    // A group: its slowest step bounded the run, not the others beside it.
    if (c.contains("group_steps")) critical[c.value("item", "")] = "";
  }

  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  h += fmt::format("<title>she-restore run {}</title>\n<style>{}</style></head><body>\n", text_of(r["run_id"]), kStyle);
  h += fmt::format("<h1>she-restore run {}</h1>\n<table>\n", text_of(r["run_id"]));
  h += fmt::format("<tr><th>plan</th><td>{} (procedure {})</td></tr>\n", text_of(r["plan"]), text_of(r["procedure"]));
  h += fmt::format("<tr><th>environment</th><td>{} ({})</td></tr>\n", text_of(r["environment"]), text_of(r["mode"]));
  h += fmt::format("<tr><th>by</th><td>{} on {}</td></tr>\n", text_of(r["user"]), text_of(r["host"]));
  h += fmt::format("<tr><th>started</th><td>{}</td></tr><tr><th>finished</th><td>{}</td></tr>\n", text_of(r["started"]),
                   text_of(r["finished"]));
  h += fmt::format("<tr><th>result</th><td class=\"result-{0}\" id=\"result\"><b>{0}</b></td></tr>\n", text_of(r["result"]));
  if (!to_text(r["stop_reason"]).empty())
    h += fmt::format("<tr><th>stopped at</th><td>{}: {}</td></tr>\n", text_of(r["stop_step"]), text_of(r["stop_reason"]));
  h += "</table>\n";

  for (const auto& b : r.value("backups", Value::array()))
    h += fmt::format("<h2>Backup</h2>\n<table><tr><th>file</th><td><code>{}</code></td></tr><tr><th>size</th><td>{} "
                     "bytes</td></tr><tr><th>SHA-256</th><td><code>{}</code></td></tr><tr><th>engine</th><td>{} {}</td>"
                     "</tr></table>\n",
                     text_of(b["file"]), text_of(b["bytes"]), text_of(b["sha256"]), text_of(b["engine_fqdn"]),
                     text_of(b["engine_version"]));

  h += "<h2>Timeline</h2>\n<p class=\"legend\">one lane per host, one for engine-wide steps;"
       "<span style=\"background:#3b7dd8\"></span>acting"
       "<span style=\"background:#9bbbe8\"></span>waiting for the engine"
       "<span style=\"background:#e6a100\"></span>operator"
       "<span style=\"background:#c0392b\"></span>failed</p>\n<div class=\"timeline\">\n";
  for (const auto& lane : lanes) {
    std::string track;
    for (const auto& b : bars) {
      if (b.lane != lane) continue;
      std::string cls = "bar";
      if (b.wait) cls += " wait";
      if (b.pause) cls += " pause";
      if (b.status == "failed") cls += " failed";
      if (b.status == "running") cls += " running";
      if (auto c = critical.find(b.step); c != critical.end() && c->second == b.item) cls += " critical";
      track += fmt::format(
          "<div class=\"{}\" data-step=\"{}\" data-item=\"{}\" data-status=\"{}\" style=\"left:{:.3f}%;width:{:.3f}%\" "
          "title=\"{}\"></div>",
          cls, escape(b.step), escape(b.item), escape(b.status), 100.0 * static_cast<double>(b.from) / span,
          100.0 * static_cast<double>(b.to - b.from) / span, escape(b.title));
    }
    if (track.empty() && lane == engine_lane) continue;
    h += fmt::format("<div class=\"lane\" data-lane=\"{0}\"><div class=\"lane-name\">{0}</div><div class=\"track\">{1}"
                     "</div></div>\n",
                     escape(lane), track);
  }
  h += fmt::format("</div>\n<p>0 s to {:.1f} s after the run started.", span / 1000.0);
  const Value& cp = r["critical_path"];
  if (cp.contains("span_ms"))
    h += fmt::format(" Outlined: the critical path, {:.1f} s acting, {:.1f} s waiting for the engine, {:.1f} s between "
                     "steps.",
                     cp["acting_ms"].get<long long>() / 1000.0, cp["waiting_ms"].get<long long>() / 1000.0,
                     cp["between_steps_ms"].get<long long>() / 1000.0);
  h += "</p>\n";

  h += "<h2>Steps</h2>\n<table><tr><th>step</th><th>type</th><th>status</th><th>wall time</th><th>notes</th></tr>\n";
  for (const auto& s : r["steps"]) {
    std::string notes = escape(s.value("reason", ""));
    if (s.contains("iterations"))
      for (const auto& i : s["iterations"])
        if (i.contains("error")) notes += (notes.empty() ? "" : "; ") + text_of(i["error"]);
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", text_of(s["id"]),
                     text_of(s["uses"]), text_of(s["status"]),
                     s.contains("wall_ms")
                         ? fmt::format("{:.1f} s", static_cast<double>(s["wall_ms"].get<long long>()) / 1000.0)
                         : "-",
                     notes);
  }
  h += "</table>\n";
  if (!r["answers"].empty()) {
    h += "<h2>Operator answers</h2>\n<table><tr><th>question</th><th>answer</th><th>who</th><th>given by</th>"
         "<th>when</th></tr>\n";
    for (const auto& a : r["answers"])
      h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", text_of(a["key"]),
                       text_of(a["answer"]), text_of(a["who"]), text_of(a["source"]), text_of(a["time"]));
    h += "</table>\n";
  }
  h += "</body></html>\n";
  return h;
}

}  // namespace she
