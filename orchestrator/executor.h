// Running a plan for real, durably: the journal records every step and loop
// iteration before and after it acts, so `she-restore PLAN` run again after
// any interruption resumes where the last run stopped without repeating a
// destructive action (design brief sections 3 and 4).
#pragma once

#include <string>

#include "orchestrator/invocation.h"
#include "workflows/plan.h"
#include "workflows/step_type.h"

namespace she {

struct RunOptions {
  std::string state_dir;   // --state-dir
  bool new_run = false;    // --new-run: start over instead of resuming
  bool replan = false;     // --replan: resume although steps changed
  std::string from_step;   // --from: run again from this step
  bool step_mode = false;  // --step: ask before each step
  std::string break_lock;  // --break-lock RUN_ID
  bool on_lab = false;     // the plan's lab scenario, started for this command: no resume
  Invocation invocation;   // for the commands hints print
};

/// Runs or resumes `plan`; returns the process exit code.
int execute_plan(const Plan& plan, const RunOptions& opts, OperatorChannel& op);

}  // namespace she
