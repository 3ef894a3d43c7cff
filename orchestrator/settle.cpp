#include "orchestrator/settle.h"

#include <fmt/format.h>
#include <regex>

#include "orchestrator/stop_signals.h"

namespace she {

namespace {
/// An answer as an output's value: whole numbers and true/false keep their
/// type (an exit status compares as a number), anything else is text.
Value answered_value(const std::string& a) {
  static const std::regex integer("-?[0-9]{1,17}");
  if (std::regex_match(a, integer)) return Value(std::stoll(a));
  if (a == "true" || a == "false") return Value(a == "true");
  return Value(a);
}
}  // namespace

Settled settle(RunContext& run, const Step& s, const StepContext& ctx, const std::string& ikey, int attempt,
               const std::string& why) {
  Settled d;
  if (s.type->kind() == StepKind::Read) return d;
  Value outputs = Value::object();
  CheckResult probe = s.type->check(ctx, outputs);
  std::vector<std::string> unknown;
  for (auto& o : s.type->outputs())
    if (!outputs.contains(o.name)) unknown.push_back(o.name);
  if (probe == CheckResult::Done) {
    // The probe saw the effect; what it did not see stays unknown, and a
    // step that needs it stops saying so (never an invented value).
    d.verdict = Settled::Done;
    d.outputs = outputs;
    d.note = "already in place (checked by its probe)";
    if (!unknown.empty()) d.note += fmt::format("; its {} stay unknown", fmt::join(unknown, ", "));
    return d;
  }
  if (probe == CheckResult::InProgress) {
    // Its effect is under way: wait for it with the step's own verify.
    d.verdict = Settled::Finish;
    d.outputs = outputs;
    d.note = "under way when the run stopped: waited for (checked by its probe)";
    return d;
  }
  if (probe == CheckResult::NotDone || (probe == CheckResult::Unknown && s.type->kind() != StepKind::Once)) return d;

  // Values later steps read that the probe could not recover: an operator
  // who says "done" gives them too, or the run would stop further on.
  std::vector<OutputUse> needed;
  for (auto& use : output_uses(run.plan, s.id))
    if (!outputs.contains(use.output)) needed.push_back(use);
  std::string needs;
  for (auto& use : needed) needs += fmt::format("{}{} (read by {})", needs.empty() ? "" : ", ", use.output, use.by_step);

  std::string answer_key = fmt::format("resolve:{}@{}", ikey, attempt);
  std::string question = fmt::format(
      "Step {} ({}) {} and cannot be repeated blindly; its probe cannot tell whether it took effect. Check by hand, "
      "then answer done (it took effect: go on{}) or redo (run it again). Unattended: put '{}: done' or '{}: redo' "
      "in the answers file.",
      ikey, s.uses, why,
      needed.empty() ? "" : fmt::format("; you are then asked for the values it would have captured: {}", needs),
      answer_key, answer_key);
  auto answer = run.journaled.ask(answer_key, question, {"done", "redo"});
  auto await = [&](const std::string& q) {
    if (!stop_requested()) run.await_operator(s.id, ctx.services().iteration_key == s.id ? "" : ikey, q);
    d.verdict = Settled::Await;
    return d;
  };
  if (!answer) return await(question);
  if (*answer == "redo") return d;
  d.verdict = Settled::Done;
  d.outputs = outputs;
  d.note = "confirmed done by the operator";
  for (auto& use : needed) {
    if (d.outputs.contains(use.output)) continue;  // read by several steps: asked once
    const OutputSchema* o = s.type->output(use.output);
    std::string key = fmt::format("{}.{}", answer_key, use.output);
    std::string q = fmt::format(
        "Step {} took effect by the operator's word; step {} reads its {} ({}). Give the value the effect left "
        "(look it up by hand). Unattended: put '{}: VALUE' in the answers file.",
        ikey, use.by_step, use.output, o ? o->help : "an output", key);
    auto value = run.journaled.ask(key, q, {});
    if (!value) return await(q);
    d.outputs[use.output] = answered_value(*value);
    d.note += fmt::format("; its {} given by the operator", use.output);
  }
  return d;
}

}  // namespace she
