#include "orchestrator/cli.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <tuple>
#include <unistd.h>

#include "orchestrator/completion.h"
#include "orchestrator/exit_codes.h"
#include "workflows/step_type.h"

namespace she {

namespace {

const char* kExitCodes =
    "Exit codes: 0 ok, 1 a step failed, 2 usage error, 3 invalid or changed plan (nothing ran),\n"
    "4 awaiting operator, 5 interrupted, 6 plan locked by another run,\n"
    "69 not implemented yet, 70 internal error.";

void add_plan_options(CLI::App& app, Options& opts, std::vector<std::string>& raw_params) {
  app.add_option("plan", opts.plan_file, "the plan file (YAML)")->required();
  app.add_option("--env", opts.env_file, "environment file to use instead of the plan's own");
  // One value per --param, so `--param NAME=VALUE PLAN` leaves PLAN to be
  // the plan (a vector option would swallow it).
  app.add_option("--param", raw_params, "set a procedure parameter: NAME=VALUE (VALUE is YAML); repeatable")
      ->type_name("NAME=VALUE")
      ->allow_extra_args(false);
}

bool split_params(const std::vector<std::string>& raw, Options& opts) {
  for (auto& p : raw) {
    auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "she-restore: --param wants NAME=VALUE, got '" << p.substr(0, eq) << "'\n";
      return false;
    }
    opts.params.emplace_back(p.substr(0, eq), p.substr(eq + 1));
  }
  return true;
}

/// The flags the operator gave, for the commands hints print.
void remember_invocation(Options& opts) {
  Invocation& inv = opts.run.invocation;
  inv.plan_file = opts.plan_file;
  inv.state_dir = opts.run.state_dir;
  inv.env_file = opts.env_file;
  inv.params = opts.params;
  inv.answers_file = opts.answers_file;
  inv.yes = opts.yes;
}

}  // namespace

std::optional<int> parse_command_line(int argc, char** argv, Options& opts) {
  CLI::App app{"she-restore: restore a self-hosted oVirt / OLVM / RHV engine from backup, step by step,\n"
               "as a declarative, rehearsable, resumable plan."};
  app.set_version_flag("--version", std::string("she-restore ") + SHE_RESTORE_VERSION);
  app.footer(std::string("Run `she-restore --dry-run PLAN` first: it shows every call the plan would make.\n") +
             kExitCodes);
  std::vector<std::string> run_params, validate_params, status_params;
  bool dry_run = false;
  add_plan_options(app, opts, run_params);
  app.add_flag("-n,--dry-run", dry_run,
               "rehearse: print every step resolved, with the exact REST calls and SSH commands; read-only steps "
               "(hosts lists, vm-status, DNS, archive checks) run for real so loops show the actual hosts; write "
               "nothing");
  CLI::Option* offline = app.add_flag("--offline", opts.offline,
                                      "with --dry-run: make no connection at all; values read live show as "
                                      "decided at run time");
  // The plan is optional at the top level only so that subcommands work.
  app.get_option("plan")->required(false);
  // Options of a real run; each is refused with --dry-run rather than ignored.
  std::vector<CLI::Option*> run_only = {
      app.add_option("--state-dir", opts.run.state_dir, "where runs are kept (default $XDG_STATE_HOME/she-restore)"),
      app.add_flag("--new-run", opts.run.new_run, "start a new run instead of resuming the unfinished one"),
      app.add_flag("--replan", opts.run.replan, "resume even though steps changed since the run started"),
      app.add_option("--from", opts.run.from_step, "run again from this step id (it and the steps after it)"),
      app.add_flag("--step", opts.run.step_mode, "ask before each step: y (run), n (skip), c (continue without asking)"),
      app.add_flag("-y,--yes", opts.yes, "answer yes to every yes/no prompt (unattended runs)"),
      app.add_option("--answers", opts.answers_file, "YAML file of prompt answers, by step id (unattended runs)"),
      app.add_option("--break-lock", opts.run.break_lock, "remove the stale lock left by run RUN_ID, then run")
          ->type_name("RUN_ID")};

  auto* validate = app.add_subcommand("validate", "check a plan and its environment; report every error");
  Options vopts;
  add_plan_options(*validate, vopts, validate_params);

  // The subcommands that read a plan's runs: each finds them as a run does.
  auto run_reader = [&app](const char* name, const char* help, Options& o, std::vector<std::string>& params) {
    CLI::App* sub = app.add_subcommand(name, help);
    add_plan_options(*sub, o, params);
    sub->add_option("--state-dir", o.run.state_dir, "where runs are kept");
    return sub;
  };
  Options sopts, ropts, popts;
  std::vector<std::string> runs_params, report_params;
  auto* status = run_reader("status", "where the last run of a plan stands, and how to continue", sopts, status_params);
  status->add_option("--output", sopts.output, "text or json")->check(CLI::IsMember({"text", "json"}));
  auto* runs = run_reader("runs", "every run of a plan: when, how long, result, who, what was left", ropts, runs_params);
  runs->add_option("--output", ropts.output, "text or json")->check(CLI::IsMember({"text", "json"}));
  auto* report = run_reader("report", "the report of a run (the latest unless --run), from its journal", popts,
                            report_params);
  report->add_option("--run", popts.report_run, "the run's id (see `runs`)")->type_name("RUN_ID");
  report->add_option("--format", popts.report_format, "md, json or html")
      ->check(CLI::IsMember({"md", "json", "html"}));

  auto* verify = app.add_subcommand("verify-backup", "check an engine-backup archive: layout, checksums, version pair");
  verify->add_option("file", opts.backup_file, "the archive")->required();
  verify->add_option("--target-version", opts.target_version, "the engine version that will restore it");

  auto* steps = app.add_subcommand("steps", "list the step types, or show one with its parameters");
  steps->add_option("type", opts.step_type, "a step type, e.g. engine.host.remove");

  auto* completion = app.add_subcommand("completion", "print a shell completion script: source <(she-restore completion bash)");
  std::string shell;
  completion->add_option("shell", shell, "the shell")->required()->check(CLI::IsMember({"bash"}));
  app.add_subcommand("schema", "print the JSON Schema of plans, procedures and environments (for editors)");
  // The completion script's helper: the step ids of a plan, for --from.
  auto* step_ids = app.add_subcommand(kStepIdsCommand, "the step ids of a plan, one a line")->group("");
  step_ids->add_option("plan", opts.plan_file)->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? exit_code::kOk : exit_code::kUsage;
  }
  // Subcommands that read a plan: each has its own options and --param.
  for (auto [sub, sub_opts, sub_params, command] :
       {std::tuple{validate, &vopts, &validate_params, Command::Validate},
        std::tuple{status, &sopts, &status_params, Command::Status}, std::tuple{runs, &ropts, &runs_params, Command::Runs},
        std::tuple{report, &popts, &report_params, Command::Report}}) {
    if (!sub->parsed()) continue;
    opts = *sub_opts;
    opts.command = command;
    if (!split_params(*sub_params, opts)) return exit_code::kUsage;
    remember_invocation(opts);
    return std::nullopt;
  }
  if (steps->parsed()) {
    opts.command = Command::Steps;
    return std::nullopt;
  }
  if (completion->parsed()) {
    opts.command = Command::Completion;
    opts.completion_script = bash_completion(app, StepCatalog::builtin());
    return std::nullopt;
  }
  if (app.got_subcommand("schema")) {
    opts.command = Command::Schema;
    return std::nullopt;
  }
  if (step_ids->parsed()) {
    opts.command = Command::StepIds;
    return std::nullopt;
  }
  if (verify->parsed()) {
    opts.command = Command::VerifyBackup;
    return std::nullopt;
  }
  if (opts.plan_file.empty()) {
    std::cerr << "she-restore: name a plan file (see --help)\n";
    return exit_code::kUsage;
  }
  opts.command = dry_run ? Command::DryRun : Command::Run;
  if (offline->count() > 0 && !dry_run) {
    std::cerr << "she-restore: --offline applies to --dry-run\n";
    return exit_code::kUsage;
  }
  if (dry_run)
    for (auto* o : run_only)
      if (o->count() > 0) {
        std::cerr << "she-restore: " << o->get_name() << " applies to a run, not to --dry-run\n";
        return exit_code::kUsage;
      }
  if (opts.run.step_mode && !::isatty(STDIN_FILENO)) {
    std::cerr << "she-restore: --step asks before each step and needs a terminal\n";
    return exit_code::kUsage;
  }
  if (!split_params(run_params, opts)) return exit_code::kUsage;
  remember_invocation(opts);
  return std::nullopt;
}

}  // namespace she
