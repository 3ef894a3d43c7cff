#include "orchestrator/dry_run.h"

#include <fmt/format.h>
#include <ostream>

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

std::string params_line(const Plan& plan) {
  std::vector<std::string> parts;
  for (auto& d : plan.param_decls) parts.push_back(d.name + "=" + dump_json(plan.params[d.name]));
  return fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace

DryRunSummary print_dry_run(const Plan& plan, std::ostream& out) {
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
  out << "Nothing is executed or written: no run directory, no journal. Reads and writes are shown, not made.\n";

  Value roots = plan.roots(true);
  int n = static_cast<int>(plan.steps.size());
  for (int i = 0; i < n; ++i) {
    const Step& s = plan.steps[static_cast<size_t>(i)];
    ++sum.steps;
    out << "\n[" << (i + 1) << "/" << n << "] " << s.id << ": " << s.name << "\n";
    out << kIndent << step_header(s) << "\n";
    StepExpansion x = expand_step(plan, s, roots);
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
    if (s.foreach.kind == Foreach::Kind::HostQuery) {
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
    }
  }
  out << fmt::format("\nSummary: {} steps; {} skipped; {} decided at run time; {} write operations shown, none made.\n",
                     sum.steps, sum.skipped, sum.deferred, sum.writes);
  return sum;
}

}  // namespace she
