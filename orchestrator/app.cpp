// she-restore: the phases of one invocation, in order.
#include <csignal>
#include <exception>
#include <iostream>
#include <memory>

#include "orchestrator/app.h"
#include "orchestrator/cli.h"
#include "orchestrator/commands.h"
#include "orchestrator/completion.h"
#include "orchestrator/exit_codes.h"
#include "orchestrator/lab_session.h"
#include "orchestrator/plan_schema.h"
#include "orchestrator/run_history.h"
#include "workflows/step_type.h"

namespace she {

namespace {

int print(const std::string& text) {
  std::cout << text << std::flush;
  return std::cout ? exit_code::kOk : exit_code::kInternal;
}

int phases(int argc, char** argv) {
  // Read the command line; help, version and usage errors end here.
  Options opts;
  if (auto code = parse_command_line(argc, argv, opts)) return *code;

  // Commands that need no plan: the step catalog, checking an archive, the
  // shell completion, the schema; the completion's step ids read the plan's
  // YAML only.
  if (opts.command == Command::Steps) return command_steps(opts);
  if (opts.command == Command::VerifyBackup) return command_verify_backup(opts);
  if (opts.command == Command::Completion) return print(opts.completion_script);
  if (opts.command == Command::Schema) return print(dump_json(plan_schema(StepCatalog::builtin()), 2) + "\n");
  if (opts.command == Command::StepIds) return print_step_ids(opts.plan_file);

  // A plan on a lab scenario: start the lab; its environment is the plan's,
  // and each run there is a new rehearsal (the lab starts from the scenario).
  std::unique_ptr<LabSession> lab;
  if (std::string scenario = lab_scenario_of(opts.plan_file); !scenario.empty() && opts.env_file.empty()) {
    try {
      lab = std::make_unique<LabSession>(scenario);
    } catch (const std::exception& e) {
      std::cerr << "she-restore: " << opts.plan_file << ": lab " << scenario << ": " << e.what() << "\n";
      return exit_code::kInvalidPlan;
    }
    opts.env_file = lab->environment();
    opts.run.on_lab = true;
  }

  // Load and validate the plan: every error reported, nothing run on any.
  std::optional<Plan> plan = load_plan_or_report(opts);
  if (!plan) return exit_code::kInvalidPlan;

  // Validate only, read the runs (status, history, a report), rehearse, or
  // run (resuming if unfinished).
  switch (opts.command) {
    case Command::Validate: return command_validate(*plan);
    case Command::Status: return command_status_of(*plan, opts);
    case Command::Runs: return command_runs(*plan, opts.run.invocation, opts.output);
    case Command::Report:
      return command_report(*plan, opts.run.invocation, opts.report_run, opts.report_format);
    case Command::DryRun: return command_dry_run(*plan, opts.offline);
    default: return command_run(*plan, opts);
  }
}

}  // namespace

int she_restore_main(int argc, char** argv) {
  // A peer that goes away (a host, a FIFO reader) is an error to report,
  // not a signal that kills the run without a word.
  std::signal(SIGPIPE, SIG_IGN);
  // Whatever slipped through is a bug: say so and exit with its own code,
  // never abort with a core dump at 3 a.m.
  try {
    return phases(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "she-restore: internal error: " << e.what() << "\nplease report it with the plan that caused it\n";
  } catch (...) {
    std::cerr << "she-restore: internal error\n";
  }
  return exit_code::kInternal;
}

}  // namespace she
