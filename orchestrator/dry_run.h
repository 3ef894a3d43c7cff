// The rehearsal printer: every step of a plan, resolved, with the exact
// REST calls and SSH commands, loop expansions and `when` results. It only
// describes: nothing is executed and nothing is written (no run directory,
// no journal), the way ninja's -n swaps in a runner that does nothing.
#pragma once

#include <chrono>
#include <iosfwd>

#include "workflows/plan.h"

namespace she {

class Redactor;
class RunConnections;

struct DryRunSummary {
  int steps = 0;
  int skipped = 0;
  int deferred = 0;  // decided at run time
  int writes = 0;    // write operations shown
  int live_reads = 0;   // read steps run for real
  int live_failed = 0;  // of those, how many could not read
  int predicted_reads = 0;  // answered from a prediction (a restored engine)
};

/// With `live`, read-only steps (hosts lists, vm-status, DNS, archive
/// checks, live host queries) run for real through it, so that later steps
/// and loops resolve to what is there now; writes are still only shown.
/// A read that waits (for a status, for health) gets `wait_limit`; what the
/// reads print goes through `redactor` (the run's, for the same secrets).
DryRunSummary print_dry_run(const Plan& plan, std::ostream& out, RunConnections* live = nullptr,
                            const Redactor* redactor = nullptr,
                            std::chrono::milliseconds wait_limit = std::chrono::seconds(5));

}  // namespace she
