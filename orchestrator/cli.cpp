#include "orchestrator/cli.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "orchestrator/exit_codes.h"

namespace she {

namespace {

const char* kExitCodes =
    "Exit codes: 0 ok, 1 a step failed, 2 usage error, 3 invalid plan (nothing ran),\n"
    "4 awaiting operator, 5 interrupted, 6 plan locked by another run,\n"
    "69 not implemented yet, 70 internal error.";

void add_plan_options(CLI::App& app, Options& opts, std::vector<std::string>& raw_params) {
  app.add_option("plan", opts.plan_file, "the plan file (YAML)")->required();
  app.add_option("--env", opts.env_file, "environment file to use instead of the plan's own");
  app.add_option("--param", raw_params, "set a procedure parameter: NAME=VALUE (VALUE is YAML); repeatable")
      ->type_name("NAME=VALUE");
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

}  // namespace

std::optional<int> parse_command_line(int argc, char** argv, Options& opts) {
  CLI::App app{"she-restore: restore a self-hosted oVirt / OLVM / RHV engine from backup, step by step,\n"
               "as a declarative, rehearsable plan."};
  app.set_version_flag("--version", std::string("she-restore ") + SHE_RESTORE_VERSION);
  app.footer(std::string("Run `she-restore --dry-run PLAN` first: it shows every call the plan would make.\n") +
             kExitCodes);
  std::vector<std::string> run_params, validate_params;
  bool dry_run = false;
  add_plan_options(app, opts, run_params);
  app.add_flag("-n,--dry-run", dry_run,
               "rehearse: print every step resolved, with the exact REST calls and SSH commands; write nothing");
  // The plan is optional at the top level only so that subcommands work.
  app.get_option("plan")->required(false);

  auto* validate = app.add_subcommand("validate", "check a plan and its environment; report every error");
  Options vopts;
  add_plan_options(*validate, vopts, validate_params);

  auto* steps = app.add_subcommand("steps", "list the step types, or show one with its parameters");
  steps->add_option("type", opts.step_type, "a step type, e.g. engine.host.remove");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? exit_code::kOk : exit_code::kUsage;
  }
  if (validate->parsed()) {
    vopts.command = Command::Validate;
    opts = vopts;
    if (!split_params(validate_params, opts)) return exit_code::kUsage;
    return std::nullopt;
  }
  if (steps->parsed()) {
    opts.command = Command::Steps;
    return std::nullopt;
  }
  if (opts.plan_file.empty()) {
    std::cerr << "she-restore: name a plan file (see --help)\n";
    return exit_code::kUsage;
  }
  opts.command = dry_run ? Command::DryRun : Command::Run;
  if (!split_params(run_params, opts)) return exit_code::kUsage;
  return std::nullopt;
}

}  // namespace she
