// What a run remembers of its plan: the frozen, resolved plan written into
// the run directory, and one fingerprint per step, so a resumed run can tell
// which steps changed since it started (Terraform's stale-plan check).
#pragma once

#include <string>
#include <vector>

#include "workflows/plan.h"

namespace she {

/// {step id: fingerprint of its definition and statically resolved parameters}.
Value step_fingerprints(const Plan& plan);
/// The plan as the run saw it: names, environment, parameters, steps and
/// the text of every source file (secret references only, never values).
Value frozen_plan(const Plan& plan, const Value& fingerprints);
/// "id: changed", "id: added", "id: removed", in plan order.
std::vector<std::string> changed_steps(const Value& before, const Value& now);

}  // namespace she
