#include "orchestrator/settle.h"

#include <fmt/format.h>

#include "orchestrator/stop_signals.h"

namespace she {

Settled settle(RunContext& run, const Step& s, const StepContext& ctx, const std::string& ikey, int attempt,
               const std::string& why) {
  Settled d;
  if (s.type->kind() == StepKind::Read) return d;
  Value outputs = Value::object();
  CheckResult probe = s.type->check(ctx, outputs);
  std::vector<std::string> unknown;
  for (auto& o : s.type->outputs())
    if (!outputs.contains(o.name)) unknown.push_back(o.name);
  bool has_outputs = unknown.empty();
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
  std::string answer_key = fmt::format("resolve:{}@{}", ikey, attempt);
  std::string question = fmt::format(
      "Step {} ({}) {} and cannot be repeated blindly; its probe cannot tell whether it took effect. Check by hand, "
      "then answer done (it took effect: go on) or redo (run it again). Unattended: put '{}: done' or '{}: redo' "
      "in the answers file.",
      ikey, s.uses, why, answer_key, answer_key);
  auto answer = run.journaled.ask(answer_key, question, {"done", "redo"});
  if (!answer) {
    if (!stop_requested()) run.await_operator(s.id, ctx.services().iteration_key == s.id ? "" : ikey, question);
    d.verdict = Settled::Await;
    return d;
  }
  if (*answer == "done") {
    d.verdict = Settled::Done;
    d.note = "confirmed done by the operator";
    if (!has_outputs && !s.type->outputs().empty())
      d.note += "; it captured nothing, so steps that use its values will stop";
  }
  return d;
}

}  // namespace she
