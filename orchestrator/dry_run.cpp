#include "orchestrator/dry_run.h"

#include <fmt/format.h>
#include <ostream>
#include <thread>

#include "engine_api/engine_error.h"
#include "orchestrator/redactor.h"
#include "orchestrator/run_connections.h"
#include "workflows/step_expansion.h"

namespace she {

namespace {

constexpr const char* kIndent = "       ";

std::string step_header(const Step& s) {
  std::string h = fmt::format("{} ({})", s.uses, kind_name(s.type->kind()));
  h += " · timeout " + format_duration(s.timeout);
  if (s.retry.attempts > 1)
    h += fmt::format(" · retry {}x from {}{}", s.retry.attempts, format_duration(s.retry.backoff),
                     s.retry.on.empty() ? "" : " on " + fmt::format("{}", fmt::join(s.retry.on, ", ")));
  h += fmt::format(" · on failure {}", on_failure_name(s.on_failure));
  if (s.foreach.kind != Foreach::Kind::None && s.concurrency > 1)
    h += fmt::format(" · concurrency {}", s.concurrency);
  return h;
}

void print_operations(const std::vector<Operation>& ops, const std::string& indent, std::ostream& out,
                      DryRunSummary& sum) {
  for (auto& op : ops) {
    out << indent << (op.writes ? "write  " : "read   ") << op.line << "\n";
    if (op.writes) ++sum.writes;
    for (auto& block : op.detail) {
      size_t start = 0;
      while (start < block.size()) {
        size_t end = block.find('\n', start);
        if (end == std::string::npos) end = block.size();
        out << indent << "         " << block.substr(start, end - start) << "\n";
        start = end + 1;
      }
    }
  }
}

/// A captured value, short: host items by name, long text cut.
std::string brief(const Value& v) {
  if (v.is_array() && !v.empty() && v[0].is_object() && v[0].contains("name")) {
    std::vector<std::string> names;
    for (auto& item : v) names.push_back(to_text(item["name"]));
    return "[" + fmt::format("{}", fmt::join(names, ", ")) + "]";
  }
  std::string t = to_text(v);
  return t.size() > 160 ? t.substr(0, 157) + "..." : t;
}

bool reads_live(const Step& s) { return s.type->kind() == StepKind::Read && s.type->runnable(); }

/// Runs one read-only step for real and prints what it found; its outputs,
/// or null when it could not read (later steps then stay "at run time").
Value read_live(const Plan& plan, const Step& s, const Value& params, RunConnections& live,
                std::chrono::milliseconds wait_limit, const Redactor& redactor, std::ostream& out,
                DryRunSummary& sum) {
  ++sum.live_reads;
  RunServices services;
  auto deadline = std::chrono::steady_clock::now() + wait_limit;
  services.should_stop = [deadline] { return std::chrono::steady_clock::now() > deadline; };
  services.correlation_id = "dry-run-" + s.id;
  live.provide(services);
  StepContext ctx(plan.env, s.id, params, &services);
  // What a host or the engine says goes through the run's redactor, as in
  // a real run: a probe's output may hold a secret's value.
  auto say = [&](const std::string& line) { out << kIndent << "live   " << redactor.scrub(line) << "\n"; };
  try {
    Value outputs = s.type->apply(ctx).outputs;
    for (auto it = outputs.begin(); it != outputs.end(); ++it) say(it.key() + " = " + brief(it.value()));
    if (outputs.empty()) say("ok");
    return outputs;
  } catch (const StepError& e) {
    if (s.uses == "assert") {
      say(std::string("the condition does not hold: a run stops here: ") + e.what());
      return nullptr;
    }
    ++sum.live_failed;
    say((e.error_class() == "interrupted" ? fmt::format("not reached within {} (a run waits): ", format_duration(wait_limit))
                                          : std::string("could not read: ")) +
        e.what());
  } catch (const std::exception& e) {
    ++sum.live_failed;
    say(std::string("could not read: ") + e.what());
  }
  return nullptr;
}

std::string params_line(const Plan& plan) {
  std::vector<std::string> parts;
  for (auto& d : plan.param_decls) parts.push_back(d.name + "=" + dump_json(plan.params[d.name]));
  return fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace

DryRunSummary print_dry_run(const Plan& plan, std::ostream& out, RunConnections* live,
                            const Redactor* redactor_in, std::chrono::milliseconds wait_limit) {
  DryRunSummary sum;
  const Environment& env = plan.env;
  out << "Dry run of plan " << plan.name << "\n";
  out << "  procedure    " << plan.procedure_name << " (" << plan.procedure_file << ")\n";
  out << "  environment  " << (env.name.empty() ? "(unnamed)" : env.name) << " (" << env.file << "), mode "
      << env.mode << "\n";
  std::string trust = !env.engine.ca_file.empty()          ? "CA file " + env.engine.ca_file
                      : !env.engine.ca_fingerprint.empty() ? "CA pinned " + env.engine.ca_fingerprint
                                                           : "CA trusted on first use";
  out << "  engine       " << env.engine.api_url << " as " << env.engine.user << ", password "
      << env.engine.password << ", " << trust << "\n";
  if (!plan.param_decls.empty()) out << "  params       " << params_line(plan) << "\n";
  out << (live ? "Read-only steps run for real (marked live); writes are shown, not made. No run directory, no "
                 "journal.\n"
               : "Nothing is executed or written: no run directory, no journal. Reads and writes are shown, not "
                 "made.\n");

  Value roots = plan.roots(true);
  const Redactor none;
  const Redactor& redactor = redactor_in ? *redactor_in : none;
  int n = static_cast<int>(plan.steps.size());
  for (int i = 0; i < n; ++i) {
    const Step& s = plan.steps[static_cast<size_t>(i)];
    ++sum.steps;
    out << "\n[" << (i + 1) << "/" << n << "] " << s.id << ": " << s.name << "\n";
    out << kIndent << step_header(s) << "\n";
    Value live_items;
    bool have_items = false;
    if (live && s.foreach.kind == Foreach::Kind::HostQuery) {
      ++sum.live_reads;
      try {
        live_items = live->live_hosts(s.foreach, roots, [] { return false; });
        have_items = true;
      } catch (const std::exception& e) {
        ++sum.live_failed;
        out << kIndent << "live   cannot list the engine's hosts: " << redactor.scrub(std::string(e.what())) << "\n";
      }
    }
    StepExpansion x = expand_step(plan, s, roots, have_items ? &live_items : nullptr);
    if (x.decision == StepExpansion::Decision::SkipMode) {
      out << kIndent << "SKIPPED: runs only in " << (s.in_rehearsal ? "rehearsal" : "real")
          << " mode; this environment is " << env.mode << "\n";
      ++sum.skipped;
      continue;
    }
    if (s.when_expr) out << kIndent << "when   " << s.when << " -> " << x.when_result << "\n";
    if (x.decision == StepExpansion::Decision::SkipWhen) {
      out << kIndent << "SKIPPED: its condition is false\n";
      ++sum.skipped;
      continue;
    }
    if (x.decision == StepExpansion::Decision::Deferred) ++sum.deferred;
    if (s.foreach.kind == Foreach::Kind::HostQuery && !x.loop_deferred) {
      out << kIndent << "query  " << describe_host_query(s.foreach, roots) << " (read live)\n";
      out << kIndent << "for each " << s.foreach.as << " in [" << x.loop_text << "]: " << x.iterations.size()
          << " iteration" << (x.iterations.size() == 1 ? "" : "s") << "\n";
    } else if (s.foreach.kind == Foreach::Kind::HostQuery) {
      out << kIndent << "query  " << x.loop_text << "\n";
      out << kIndent << "for each " << s.foreach.as << " of the query (live: resolved when the step runs):\n";
    } else if (x.loop_deferred) {
      out << kIndent << "for each " << s.foreach.as << " in " << x.loop_text << ":\n";
    } else if (s.foreach.kind == Foreach::Kind::Items) {
      out << kIndent << "for each " << s.foreach.as << " in [" << x.loop_text << "]: " << x.iterations.size()
          << " iteration" << (x.iterations.size() == 1 ? "" : "s") << "\n";
    }
    bool looping = s.foreach.kind != Foreach::Kind::None && !x.loop_deferred;
    std::string indent = s.foreach.kind != Foreach::Kind::None ? std::string(kIndent) + "  " : kIndent;
    for (auto& it : x.iterations) {
      if (looping) out << kIndent << "  " << s.foreach.as << " = " << it.label << ":\n";
      StepContext ctx(env, s.id, it.params);
      print_operations(s.type->describe(ctx), looping ? indent + "  " : indent, out, sum);
      bool resolved = x.decision == StepExpansion::Decision::Run && !x.loop_deferred && !contains_deferred(it.params);
      if (live && reads_live(s) && resolved) {
        Value outputs = read_live(plan, s, it.params, *live, wait_limit, redactor, out, sum);
        if (s.foreach.kind == Foreach::Kind::None && !outputs.is_null()) roots["steps"][s.id] = outputs;
      }
    }
  }
  out << fmt::format("\nSummary: {} steps; {} skipped; {} decided at run time; {} write operations shown, none made.\n",
                     sum.steps, sum.skipped, sum.deferred, sum.writes);
  if (live)
    out << fmt::format("Live reads: {} made, {} could not read (their values stay decided at run time).\n",
                       sum.live_reads, sum.live_failed);
  return sum;
}

}  // namespace she
