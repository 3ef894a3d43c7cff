// What one step of a plan amounts to at a given moment: whether it runs in
// this mode, what its `when` says, and its loop iterations with resolved
// parameters. The dry run prints this; the executor runs it. Values only
// known at run time stay deferred.
#pragma once

#include <string>
#include <vector>

#include "workflows/plan.h"

namespace she {

struct StepIteration {
  std::string label;  // "" for a step without foreach; the item's text otherwise
  Value params;       // resolved parameters
  Value item;         // the loop item (null without a loop)
};

struct StepExpansion {
  enum class Decision { Run, SkipMode, SkipWhen, Deferred };
  Decision decision = Decision::Run;
  std::string when_result;   // "true", "false", or "decided at run time"
  /// A loop whose items are known only at run time (a live query or a
  /// captured list): one iteration describes the body with the item deferred.
  bool loop_deferred = false;
  std::string loop_text;     // what the loop is over, for people
  std::vector<Value> items;  // a known loop's items, whatever their `when` says
  std::vector<StepIteration> iterations;
};

/// The rules a step's expansion follows, written once for the dry run
/// and the executor: whether it runs in the plan's mode (`runs_in`), and
/// what its `when` says in `scope` (no `when`: yes; a value only the run
/// will know: deferred). Throws EvalError.
bool runs_in_mode(const Plan& plan, const Step& step);
/// Why a step that does not run in this mode is passed by: "runs only in
/// rehearsal mode" (or real).
std::string mode_restriction(const Step& step);
enum class WhenVerdict { Yes, No, Deferred };
WhenVerdict when_verdict(const Step& step, const Scope& scope);

/// `live_items`: the items of a loop over a live host query, when they
/// were read (a dry run with live reads); else such a loop is deferred.
StepExpansion expand_step(const Plan& plan, const Step& step, const Scope& roots, const Value* live_items = nullptr);

/// How a loop item is shown: a host item by its name, a result of an
/// earlier loop by its item's, anything else as text.
std::string item_label(const Value& item);

/// "hosts with status in [a, b], hosted-engine only, except [x]" for a query.
std::string describe_host_query(const Foreach& f, const Scope& roots);

}  // namespace she
