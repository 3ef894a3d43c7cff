// The rehearsal printer: every step of a plan, resolved, with the exact
// REST calls and SSH commands, loop expansions and `when` results. It only
// describes: nothing is executed and nothing is written (no run directory,
// no journal), the way ninja's -n swaps in a runner that does nothing.
#pragma once

#include <iosfwd>

#include "workflows/plan.h"

namespace she {

struct DryRunSummary {
  int steps = 0;
  int skipped = 0;
  int deferred = 0;  // decided at run time
  int writes = 0;    // write operations shown
};

DryRunSummary print_dry_run(const Plan& plan, std::ostream& out);

}  // namespace she
