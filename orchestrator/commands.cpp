#include "orchestrator/commands.h"

#include <fmt/format.h>
#include <iostream>
#include <unistd.h>

#include "orchestrator/dry_run.h"
#include "orchestrator/redactor.h"
#include "orchestrator/run_connections.h"
#include "orchestrator/exit_codes.h"
#include "orchestrator/operator_console.h"
#include "orchestrator/status.h"
#include "hosts/backup_archive.h"
#include "workflows/offline_checks.h"
#include "workflows/secret_store.h"

namespace she {

std::optional<Plan> load_plan_or_report(const Options& opts) {
  Diagnostics diags;
  LoadOptions lo;
  lo.env_file = opts.env_file;
  lo.params = opts.params;
  std::optional<Plan> plan = load_plan(opts.plan_file, lo, diags);
  if (!plan) {
    std::cerr << diags.str();
    std::cerr << "she-restore: the plan has errors; nothing was run\n";
  }
  return plan;
}

int command_validate(const Plan& plan) {
  // What the environment holds can be checked here too: a plan that cannot
  // work is not called valid. The values resolved are only looked at.
  Diagnostics diags;
  check_offline(plan, SecretStore(SecretStore::Mode::Resolve), diags);
  auto not_checked = [&] {
    auto live = checks_needing_live_environment(plan);
    if (live.empty()) return;
    std::cout << "not checked (needs the live environment):\n";
    for (auto& line : live) std::cout << "  - " << line << "\n";
  };
  if (!diags.ok()) {
    std::cerr << diags.str();
    std::cerr << "she-restore: the plan's environment has errors; nothing was run\n";
    not_checked();
    return exit_code::kInvalidPlan;
  }
  int writes = 0;
  for (auto& s : plan.steps) writes += s.type->kind() != StepKind::Read;
  std::cout << fmt::format("{}: valid: plan {} (procedure {}), environment {}, {} steps ({} not read-only)\n",
                           plan.file, plan.name, plan.procedure_name, plan.env.name, plan.steps.size(), writes);
  not_checked();
  return exit_code::kOk;
}

int command_dry_run(const Plan& plan, bool offline) {
  if (offline) {
    print_dry_run(plan, std::cout);
    return exit_code::kOk;
  }
  // The live reads sign in for real: their secrets (engine password, SSH
  // passphrases) come from a resolving store that feeds this redactor, as a
  // run's do. The steps themselves still see stand-ins (print_dry_run's own
  // StandIn store), so no secret value reaches what the dry run shows.
  Redactor redactor;
  const SecretStore secrets(SecretStore::Mode::Resolve, [&](const std::string& v) { redactor.add_value(v); });
  redactor.preload(plan, secrets);
  // Tunnel notes go to stderr, like a run's, through the redactor.
  RunConnections live(plan.env, secrets, [&](const std::string& line) { std::cerr << redactor.scrub(line) << "\n"; });
  live.set_dry_run(true);
  print_dry_run(plan, std::cout, &live, &redactor);
  return exit_code::kOk;
}

int command_run(const Plan& plan, const Options& opts) {
  if (!opts.run.from_step.empty() && !plan.find_step(opts.run.from_step)) {
    std::vector<std::string> ids;
    for (auto& s : plan.steps) ids.push_back(s.id);
    std::string hint = did_you_mean(opts.run.from_step, ids);
    std::cerr << "she-restore: --from: no step has the id '" << opts.run.from_step << "'"
              << (hint.empty() ? "" : "; " + hint) << "\n";
    return exit_code::kUsage;
  }
  ConsoleOperator op;
  std::string err;
  // The terminal is asked only when there is one to answer.
  if (!op.configure({opts.yes, opts.answers_file, ::isatty(STDIN_FILENO) != 0}, &err)) {
    std::cerr << err << "she-restore: the answers file (--answers) has errors; nothing was run\n";
    return exit_code::kInvalidPlan;
  }
  return execute_plan(plan, opts.run, op);
}

int command_status_of(const Plan& plan, const Options& opts) {
  return command_status(plan, opts.run.invocation, opts.output);
}

int command_steps(const Options& opts) {
  const StepCatalog& catalog = StepCatalog::builtin();
  if (opts.step_type.empty()) {
    for (auto& t : catalog.all())
      std::cout << fmt::format("{:<32} {:<10} {}\n", t->name(), kind_name(t->kind()), t->summary());
    return exit_code::kOk;
  }
  const StepType* t = catalog.find(opts.step_type);
  if (!t) {
    std::string hint = did_you_mean(opts.step_type, catalog.names());
    std::cerr << "she-restore: unknown step type '" << opts.step_type << "'" << (hint.empty() ? "" : "; " + hint)
              << "\n";
    return exit_code::kUsage;
  }
  std::cout << fmt::format("{} ({}): {}\n\nparameters:\n", t->name(), kind_name(t->kind()), t->summary());
  for (auto& p : t->params()) {
    std::string extra = p.required ? "required" : "default " + (p.default_value.is_null() ? std::string("none") : dump_json(p.default_value));
    if (!p.choices.empty()) extra += "; " + one_of(p.choices);
    std::cout << fmt::format("  {:<24} {:<18} {} ({})\n", p.name, type_name(p.type), p.help, extra);
  }
  if (!t->outputs().empty()) {
    std::cout << "\noutputs (${steps.ID.NAME}):\n";
    for (auto& o : t->outputs())
      std::cout << fmt::format("  {:<24} {}{}\n", o.name, o.is_list ? "(list) " : "", o.help);
  }
  return exit_code::kOk;
}

}  // namespace she

namespace she {

int command_verify_backup(const Options& opts) {
  // A directory would read as an empty archive and a FIFO or /dev/zero
  // would never end: not an archive file is a wrong argument, not a bad backup.
  if (std::string problem = backup_file_problem(opts.backup_file); !problem.empty()) {
    std::cerr << "she-restore: verify-backup: " << problem << "\n";
    return exit_code::kInvalidPlan;
  }
  BackupSummary s;
  std::vector<std::string> problems;
  bool ok = verify_backup_archive(opts.backup_file, opts.target_version, &s, &problems);
  std::cout << fmt::format("archive     {} ({:.1f} MiB, sha256 {})\n", opts.backup_file, s.bytes / 1048576.0, s.sha256);
  std::cout << fmt::format("engine      {} (version {}, os {})\n", s.engine_fqdn.empty() ? "?" : s.engine_fqdn,
                           s.version.empty() ? "?" : s.version, s.os_version.empty() ? "?" : s.os_version);
  std::cout << fmt::format("scopes      {}\n", fmt::join(s.scopes, ", "));
  std::cout << fmt::format("dump        {}; checksums {}\n", s.dump_format.empty() ? "?" : s.dump_format,
                           s.checksum_kind.empty() ? "none" : s.checksum_kind);
  if (!opts.target_version.empty())
    std::cout << fmt::format("restorable  by {}: {}\n", opts.target_version,
                             version_pair_problem(s.version, opts.target_version).empty() ? "yes" : "no");
  for (auto& p : problems) std::cerr << "she-restore: " << p << "\n";
  std::cout << (ok ? "the archive checks out\n" : "the archive does NOT check out\n");
  return ok ? exit_code::kOk : exit_code::kStepFailed;
}

}  // namespace she
