// Step types that involve the operator or check the plan's own conditions.
#include <fmt/format.h>

#include "workflows/steps/schema.h"

namespace she {

using namespace schema;

namespace {

class Prompt : public StepType {
 public:
  Prompt()
      : StepType("prompt", StepKind::Idempotent,
                 "ask the operator to confirm something only a human can (the answer, who and when, is journaled)",
                 {required("message", ParamType::String, "what to confirm; say what to check and where"),
                  optional("expect", ParamType::String, "yes", "the answer that lets the run go on")},
                 {{"answer", false, "the operator's answer"}}) {}

  bool runnable() const override { return true; }

  StepResult apply(const StepContext& ctx) const override {
    OperatorChannel* op = ctx.services().operator_channel;
    std::string expect = ctx.text("expect");
    std::optional<std::string> answer =
        op ? op->ask(ctx.services().iteration_key, ctx.text("message"), {expect, "no"}) : std::nullopt;
    if (!answer)
      throw AwaitingOperator(fmt::format("step {} asks: {} (answer '{}' to go on)", ctx.step_id(),
                                         ctx.text("message"), expect));
    if (*answer != expect)
      throw StepError("fatal", fmt::format("the operator answered '{}' to step {}, not '{}': stopping",
                                           *answer, ctx.step_id(), expect));
    StepResult r;
    r.outputs["answer"] = *answer;
    return r;
  }
};

class Assert : public StepType {
 public:
  Assert()
      : StepType("assert", StepKind::Read, "stop unless a condition holds",
                 {required("that", ParamType::Any, "a ${...} condition"),
                  required("message", ParamType::String, "why the run stops, and what to do")},
                 {}) {}

  bool runnable() const override { return true; }

  StepResult apply(const StepContext& ctx) const override {
    const Value& v = ctx.params()["that"];
    if (is_deferred(v)) {
      // A rehearsal meets values only the run will know: not a failure.
      if (ctx.services().runner && ctx.services().runner->rehearsal())
        throw RehearsalUnknown("the condition is decided at run time");
      throw StepError("fatal", "the condition of step " + ctx.step_id() + " could not be evaluated");
    }
    if (!truthy(v)) throw StepError("fatal", fmt::format("step {}: {}", ctx.step_id(), ctx.text("message")));
    return {};
  }
};

}  // namespace

void register_control_steps(StepCatalog& c) {
  c.add(std::make_unique<Prompt>());
  c.add(std::make_unique<Assert>());
}

}  // namespace she
