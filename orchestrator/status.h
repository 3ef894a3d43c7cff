// `she-restore status PLAN`: where the last run of a plan stands, what it
// waits for, its last error and how to continue, read from the journal
// without changing anything.
#pragma once

#include <string>

#include "orchestrator/invocation.h"
#include "workflows/plan.h"

namespace she {

int command_status(const Plan& plan, const Invocation& inv, const std::string& output);

}  // namespace she
