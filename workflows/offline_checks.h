// What can be known about a loaded plan before any connection: that every
// secret it will need resolves, that every local file its environment names
// is there and of the right kind (SSH keys, known_hosts, the engine CA),
// that a role the procedure takes one host of is given to exactly one, and
// that no timeout is zero. `validate` reports these with the plan's own
// errors, and a run makes the same checks before its first remote call, so
// neither says "valid" for a plan that cannot work. What only the engine
// and the hosts can answer is listed, not guessed.
#pragma once

#include <string>
#include <vector>

#include "base/diagnostics.h"
#include "workflows/plan.h"

namespace she {

class SecretStore;

/// Adds a positioned diagnostic for each problem, all of them. Only what
/// the steps that run in the environment's mode use is checked: a plan
/// without engine steps needs no engine password. Secrets are resolved
/// through `secrets` (the one resolver) and never appear in a message.
void check_offline(const Plan& plan, const SecretStore& secrets, Diagnostics& diags);

/// What remains for the live environment, for what this plan uses: one
/// line each ("the engine answers at ...").
std::vector<std::string> checks_needing_live_environment(const Plan& plan);

}  // namespace she
