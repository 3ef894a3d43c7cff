// Step types around engine-backup, engine-setup and hosted-engine: the
// backup and the redeploy of the engine from it.
#include <fmt/format.h>

#include "hosts/engine_backup_command.h"
#include "hosts/hosted_engine_command.h"
#include "hosts/shell_quote.h"
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <sstream>
#include <sys/stat.h>
#include <atomic>
#include <thread>
#include <unistd.h>

#include "engine_api/restored_engine.h"
#include "hosts/backup_archive.h"
#include "hosts/backup_scopes.h"
#include "hosts/tool_output.h"
#include "base/poller.h"
#include "workflows/steps/host_step.h"
#include "workflows/steps/schema.h"

namespace she {

using namespace schema;

namespace {

ParamSchema engine_vm_param() {
  return optional("host", ParamType::SshTarget, "engine", "where the engine runs (SSH target)");
}

std::vector<std::string> scopes(const StepContext& ctx) { return ctx.texts("scope"); }

/// engine-backup's own rules on its options, broken: a rule of the plan.
std::vector<std::string> engine_backup_command(const EngineBackupOptions& o) {
  std::string err;
  auto argv = engine_backup_argv(o, &err);
  if (argv.empty()) throw StepRuleError("engine-backup: " + err);
  return argv;
}

/// One database's credentials from the params named `prefix`_host and
/// so on; the password goes through a passfile named for the step.
EngineBackupOptions::Credentials credentials(const StepContext& ctx, const std::string& prefix, const char* change) {
  EngineBackupOptions::Credentials c;
  c.change = ctx.flag(change);
  c.host = ctx.text(prefix + "_host");
  c.port = ctx.text(prefix + "_port");
  c.user = ctx.text(prefix + "_user");
  c.name = ctx.text(prefix + "_name");
  if (ctx.has(prefix + "_password")) c.passfile = "/root/.she-restore-" + ctx.step_id() + "." + prefix + "pass";
  return c;
}

class EngineBackupRun : public HostStep {
 public:
  EngineBackupRun()
      : HostStep("engine_backup.backup", StepKind::Idempotent, "run engine-backup --mode=backup on the engine",
                 {engine_vm_param(),
                  required("file", ParamType::RemotePath, "archive to write on the engine machine"),
                  optional("log", ParamType::RemotePath, nullptr, "log file"),
                  optional("scope", ParamType::StringList, Value::array(), "scopes (default: all)"),
                  optional("archive_compressor", ParamType::String, nullptr, "gzip, bzip2, xz or None"),
                  optional("files_compressor", ParamType::String, nullptr, "gzip, bzip2, xz or None"),
                  optional("db_compressor", ParamType::String, nullptr, "gzip, bzip2, xz or None"),
                  optional("db_dump_format", ParamType::String, nullptr, "plain or custom")},
                 {{"file", false, "the archive written"}}) {}

  void check_rules(const StepContext& ctx) const override { engine_backup_command(options(ctx)); }

  static EngineBackupOptions options(const StepContext& ctx) {
    EngineBackupOptions o;
    o.mode = EngineBackupOptions::Mode::Backup;
    o.file = ctx.text("file");
    o.log = ctx.text("log");
    o.scopes = scopes(ctx);
    o.archive_compressor = ctx.text("archive_compressor");
    o.files_compressor = ctx.text("files_compressor");
    o.db_compressor = ctx.text("db_compressor");
    o.db_dump_format = ctx.text("db_dump_format");
    return o;
  }

 protected:
  StepResult run(const StepContext& ctx) const override {
    auto argv = engine_backup_command(options(ctx));
    SshSession& ssh = session(ctx);
    ExecResult r = exec(ctx, ssh, argv, Effect::Writes, true);
    EngineBackupOutcome out = parse_engine_backup(r.stdout_tail, r.stderr_tail, r.exit_status);
    if (!out.ok && !r.rehearsed)
      throw StepError("command", fmt::format("{}: engine-backup failed (exit {}): {}", ssh.target().name, r.exit_status,
                                             out.fatal.empty() ? r.stderr_tail.substr(0, 300) : fmt::format("{}", fmt::join(out.fatal, "; "))));
    StepResult res;
    res.outputs["file"] = ctx.text("file");
    return res;
  }
};

class EngineBackupRestore : public HostStep {
 public:
  EngineBackupRestore()
      : HostStep("engine_backup.restore", StepKind::Once, "run engine-backup --mode=restore",
                 {engine_vm_param(),
                  required("file", ParamType::RemotePath, "archive on that machine"),
                  optional("log", ParamType::RemotePath, nullptr, "log file"),
                  optional("scope", ParamType::StringList, Value::array(), "scopes (default: all)"),
                  optional("provision_db", ParamType::Bool, false, "provision the engine database (localhost only)"),
                  optional("provision_dwh_db", ParamType::Bool, false, "provision the DWH database"),
                  optional("provision_all_databases", ParamType::Bool, false, "provision every database in the backup"),
                  choice("permissions", {"restore", "no-restore", "unset"}, "unset",
                         "--restore-permissions or --no-restore-permissions (required for custom dumps unless provisioning)"),
                  choice("backup_dump_format", {"custom", "plain"}, "custom", "dump format of the backup"),
                  optional("db_restore_jobs", ParamType::Int, 0, "pg_restore jobs (0: tool default)"),
                  optional("change_db_credentials", ParamType::Bool, false, "restore into another database"),
                  optional("db_host", ParamType::HostAddress, nullptr, "with change_db_credentials"),
                  optional("db_port", ParamType::String, nullptr, "with change_db_credentials"),
                  optional("db_user", ParamType::String, nullptr, "with change_db_credentials"),
                  optional("db_name", ParamType::String, nullptr, "with change_db_credentials"),
                  optional("db_password", ParamType::Secret, nullptr, "with change_db_credentials: goes through a passfile"),
                  optional("change_dwh_db_credentials", ParamType::Bool, false, "restore DWH into another database"),
                  optional("dwh_db_host", ParamType::HostAddress, nullptr, "with change_dwh_db_credentials"),
                  optional("dwh_db_port", ParamType::String, nullptr, "with change_dwh_db_credentials"),
                  optional("dwh_db_user", ParamType::String, nullptr, "with change_dwh_db_credentials"),
                  optional("dwh_db_name", ParamType::String, nullptr, "with change_dwh_db_credentials"),
                  optional("dwh_db_password", ParamType::Secret, nullptr,
                           "with change_dwh_db_credentials: goes through a passfile"),
                  optional("he_remove_hosts", ParamType::Bool, false, "--he-remove-hosts (off unless asked)"),
                  optional("he_remove_storage_vm", ParamType::Bool, false, "--he-remove-storage-vm (off unless asked)")},
                 {}) {}

  void check_rules(const StepContext& ctx) const override { engine_backup_command(options(ctx)); }

  static EngineBackupOptions options(const StepContext& ctx) {
    EngineBackupOptions o;
    o.mode = EngineBackupOptions::Mode::Restore;
    o.file = ctx.text("file");
    o.log = ctx.text("log");
    o.scopes = scopes(ctx);
    o.provision_db = ctx.flag("provision_db");
    o.provision_dwh_db = ctx.flag("provision_dwh_db");
    o.provision_all_databases = ctx.flag("provision_all_databases");
    std::string perm = ctx.text("permissions");
    o.permissions = perm == "restore"      ? EngineBackupOptions::Permissions::Restore
                    : perm == "no-restore" ? EngineBackupOptions::Permissions::NoRestore
                                           : EngineBackupOptions::Permissions::Unset;
    o.db_dump_format = ctx.text("backup_dump_format");
    o.db_restore_jobs = static_cast<int>(ctx.number("db_restore_jobs"));
    o.engine_db = credentials(ctx, "db", "change_db_credentials");
    o.dwh_db = credentials(ctx, "dwh_db", "change_dwh_db_credentials");
    o.he_remove_hosts = ctx.flag("he_remove_hosts");
    o.he_remove_storage_vm = ctx.flag("he_remove_storage_vm");
    return o;
  }

 protected:
  StepResult run(const StepContext& ctx) const override {
    EngineBackupOptions o = options(ctx);
    auto argv = engine_backup_command(o);
    SshSession& ssh = session(ctx);
    std::vector<std::string> passfiles;
    ExecResult r;
    try {
      for (auto [c, secret] : {std::pair{&o.engine_db, "db_password"}, std::pair{&o.dwh_db, "dwh_db_password"}})
        if (!c->passfile.empty()) {
          passfiles.push_back(c->passfile);
          upload_secret(ctx, ssh, c->passfile, ctx.secret(secret) + "\n");
        }
      r = exec(ctx, ssh, argv, Effect::Writes, true);
    } catch (...) {
      if (!passfiles.empty()) remove_secret_files(ctx, ssh, passfiles);
      throw;
    }
    if (!passfiles.empty()) remove_secret_files(ctx, ssh, passfiles);
    EngineBackupOutcome out = parse_engine_backup(r.stdout_tail, r.stderr_tail, r.exit_status);
    if (!out.ok && !r.rehearsed) {
      // Why a connection failed (pg_hba.conf, the password) is only in the
      // tool's log: read back, it names the remedy.
      std::string cause;
      if (!o.log.empty()) cause = engine_backup_log_cause(exec(ctx, ssh, {"cat", "--", o.log}, Effect::Reads).stdout_tail);
      const std::string remedy = engine_backup_restore_remedy(r.stderr_tail + r.stdout_tail + cause);
      throw StepError("command", fmt::format("{}: engine-backup --mode=restore failed (exit {}): {}{}{}", ssh.target().name,
                                             r.exit_status,
                                             out.fatal.empty() ? r.stderr_tail.substr(0, 300) : fmt::format("{}", fmt::join(out.fatal, "; ")),
                                             cause.empty() ? "" : fmt::format(" (its log {}: {})", o.log, cause),
                                             remedy.empty() ? "" : ". Remedy: " + remedy));
    }
    return {};
  }

  // engine-backup writes its log from the start and ends a restore with
  // "You should now run engine-setup": in this step's own log that line is
  // evidence of its effect, the log's absence evidence of none.
  CheckResult probe(const StepContext& ctx, Value&) const override {
    if (!ctx.has("log") || ctx.text("log").empty()) return CheckResult::Unknown;
    ExecResult r = exec(ctx, session(ctx), {"cat", "--", ctx.text("log")}, Effect::Reads);
    if (r.rehearsed) return CheckResult::Unknown;
    if (r.exit_status != 0) return r.stderr_tail.find("No such file") != std::string::npos ? CheckResult::NotDone
                                                                                            : CheckResult::Unknown;
    return r.stdout_tail.find("You should now run engine-setup") != std::string::npos ? CheckResult::Done
                                                                                         : CheckResult::Unknown;
  }
};

class EngineSetupRun : public HostStep {
 public:
  EngineSetupRun()
      : HostStep("engine_setup.run", StepKind::Once, "run engine-setup on the engine",
                 {engine_vm_param(),
                  optional("answer_file", ParamType::RemotePath, nullptr, "answer file on that machine"),
                  optional("offline", ParamType::Bool, true, "do not update packages (--offline)")},
                 {}) {}

 protected:
  StepResult run(const StepContext& ctx) const override {
    exec_ok(ctx, session(ctx), engine_setup_argv(ctx.text("answer_file"), ctx.flag("offline")), Effect::Writes, true);
    return {};
  }
  // engine-setup ends by starting the engine service; before it (after a
  // restore or a cleanup) the service is stopped.
  CheckResult probe(const StepContext& ctx, Value&) const override {
    ExecResult r = exec(ctx, session(ctx), {"systemctl", "is-active", "--quiet", "ovirt-engine"}, Effect::Reads);
    if (r.rehearsed) return CheckResult::Unknown;
    return r.exit_status == 0 ? CheckResult::Done : r.exit_status == 3 ? CheckResult::NotDone : CheckResult::Unknown;
  }
};

/// The deploy runs as a transient systemd unit that outlives any SSH
/// session; its output is appended to a log file that steps follow.
constexpr const char* kDeployUnit = "she-restore-deploy";
const std::string kDeployLog = "/var/log/she-restore/she-restore-deploy.log";

std::vector<std::string> deploy_unit_argv(const std::vector<std::string>& command) {
  std::vector<std::string> argv = {"systemd-run", std::string("--unit=") + kDeployUnit, "--collect",
                                   "--property=StandardOutput=append:" + kDeployLog,
                                   "--property=StandardError=append:" + kDeployLog, "--"};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

/// Follows the deploy's log from `offset`, narrating each line after the
/// one holding `quiet_until` (all when empty: what an earlier step showed
/// is not shown again), until `until` appears (true) or the unit ends
/// (false); the log's lines so far are left in `log`.
///
/// While the unit runs, one command follows it: `tail --pid` prints what
/// the log gains as it is written and ends after the unit's process does,
/// and the read stops at `until` (the deploy paused, or done) without
/// waiting for the command, whose next write finds its output closed. A
/// deploy of an hour is one command, not one a poll interval, and its
/// pause is seen as it is written. Where that cannot follow (the unit's
/// process unknown, tail refused), the log is read in pieces as it grows.
bool follow_deploy(const StepContext& ctx, SshSession& ssh, const std::string& until, long long& offset, std::string& log,
                   bool (*still_running)(const StepContext&, SshSession&), const std::string& quiet_until = "") {
  bool narrate = quiet_until.empty(), found = false;
  size_t narrated = log.size();
  auto reads = [&] {
    ExecOptions o;
    o.runner = ctx.services().runner;
    o.writes = false;
    o.should_stop = ctx.services().should_stop;
    return o;
  };
  // Takes in what the log gained: narrates its complete lines, looks for
  // `until` only where it can newly appear (a long log is not searched
  // again with every piece).
  auto take = [&](const char* d, size_t n) {
    const size_t before = log.size();
    offset += static_cast<long long>(n);
    log.append(d, n);
    for (size_t nl; (nl = log.find('\n', narrated)) != std::string::npos; narrated = nl + 1) {
      std::string line = log.substr(narrated, nl - narrated);
      if (narrate && ctx.services().progress) ctx.services().progress(ssh.target().name + ": " + line);
      if (!narrate && line.find(quiet_until) != std::string::npos) narrate = true;
    }
    if (!found) found = log.find(until, before >= until.size() ? before - until.size() + 1 : 0) != std::string::npos;
  };
  // Reads what the log gained since `offset`; true when it gained anything.
  auto read_more = [&] {
    ExecOptions o = reads();
    const long long before = offset;
    o.on_stdout = take;
    ExecResult r = ssh.exec(shell_join({"dd", "if=" + kDeployLog, "bs=65536", "skip=" + std::to_string(offset),
                                        "iflag=skip_bytes", "status=none"}),
                            o);
    return r.exit_status == 0 && offset > before;
  };
  // The unit's main process; 0 when the unit is not running, -1 unknown.
  // `MainPID=N`, not `--value`, which systemd 219 (EL7's) does not know.
  auto main_pid = [&]() -> long long {
    ExecResult r = ssh.exec(shell_join({"systemctl", "show", "--property=MainPID", kDeployUnit}), reads());
    const std::string& text = r.stdout_tail;
    const std::string prefix = "MainPID=";
    if (r.exit_status != 0 || text.compare(0, prefix.size(), prefix) != 0) return -1;
    const char* digits = text.c_str() + prefix.size();
    char* end = nullptr;
    const long long pid = std::strtoll(digits, &end, 10);
    return end != digits && (*end == '\n' || *end == '\0') && pid >= 0 ? pid : -1;
  };
  // A rehearsal looks once and never follows: a deploy under way would
  // hold its look for as long as it runs.
  const bool rehearsal = ctx.services().runner && ctx.services().runner->rehearsal();
  auto look = [&] {
    const long long pid = main_pid();
    if (pid > 0 && !rehearsal) {
      ExecOptions o = reads();
      o.on_stdout = take;
      o.enough = [&] { return found; };
      ExecResult r = ssh.exec(shell_join({"tail", "-c", "+" + std::to_string(offset + 1), "--pid=" + std::to_string(pid),
                                          "-f", "--", kDeployLog}),
                              o);
      if (found) return Poller::Look::Reached;
      // The unit's process ended and tail with it: one more read takes
      // whatever its last look missed; `found` tells how the deploy ended.
      if (r.exit_status == 0) return read_more(), Poller::Look::Reached;
    }
    // Followed in pieces. A log that grew is a unit still at work (or one
    // that just ended: the next look tells). Only a look that found
    // nothing new asks whether the unit ended, and then reads once more,
    // after its answer, since a unit that had ended by then has written
    // all it will.
    if (read_more()) return found ? Poller::Look::Reached : Poller::Look::Moving;
    if (pid != 0 && still_running(ctx, ssh)) return Poller::Look::Still;
    read_more();
    return Poller::Look::Reached;  // the unit ended and said all it had; `found` tells how
  };
  const Interrupted stopped("stopped while following the deploy (it goes on, as a systemd unit)");
  Poller poller(ctx.services().runner, output_follow_policy(ctx), ctx.services().should_stop);
  Poller::Outcome outcome;
  try {
    outcome = poller.follow(ssh.target().name, fmt::format("the deploy's log {} says '{}'", kDeployLog, until),
                            std::chrono::hours(24 * 7), look);
  } catch (const Interrupted&) {
    throw stopped;  // mid-command: what the operator needs to know is the same
  }
  switch (outcome) {
    case Poller::Outcome::Reached: return found;
    case Poller::Outcome::Assumed: return true;
    case Poller::Outcome::Stopped:
    case Poller::Outcome::TimedOut: break;
  }
  throw stopped;
}

/// The last error lines of the deploy's log, for the failure message.
std::string deploy_errors(const std::string& log) {
  std::vector<std::string> errors;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);)
    if (line.find("ERROR") != std::string::npos || line.find("FATAL") != std::string::npos) errors.push_back(line);
  if (errors.size() > 3) errors.erase(errors.begin(), errors.end() - 3);
  return errors.empty() ? std::string("no error line in its log") : fmt::format("{}", fmt::join(errors, " | "));
}

bool unit_active(const StepContext& ctx, SshSession& ssh) {
  ExecOptions o;
  o.runner = ctx.services().runner;
  o.writes = false;
  o.should_stop = ctx.services().should_stop;
  return ssh.exec(shell_join({"systemctl", "is-active", "--quiet", kDeployUnit}), o).exit_status == 0;
}

constexpr const char* kDeployedMarker = "Hosted Engine successfully deployed";

class DeployRestore : public HostStep {
 public:
  DeployRestore()
      : HostStep("hosted_engine.deploy_restore", StepKind::Once,
                 "deploy a new engine VM on a host from a backup (hosted-engine --deploy --restore-from-file)",
                 {required("host", ParamType::SshTarget, "the host that deploys (failover or new host)"),
                  required("backup_file", ParamType::RemotePath, "the archive on that host"),
                  optional("answer_file", ParamType::RemotePath, "/root/she-restore-deploy.conf", "generated answer file"),
                  optional("fqdn", ParamType::HostAddress, "${env.engine.fqdn}", "engine FQDN"),
                  choice("storage_type", {"nfs", "glusterfs", "iscsi", "fc"}, "nfs", "hosted-engine storage"),
                  required("storage_connection", ParamType::String, "e.g. nfs.example.com:/exports/he"),
                  optional("storage_domain_name", ParamType::String, "hosted_storage", "new HE storage domain"),
                  optional("datacenter", ParamType::String, "${env.engine.datacenter}", "restored data center"),
                  optional("cluster", ParamType::String, "${env.engine.cluster}", "restored cluster"),
                  optional("admin_password", ParamType::Secret, "${env.engine.password}", "engine admin password"),
                  required("appliance_root_password", ParamType::Secret, "root password of the new engine VM"),
                  optional("pause_before_add_host", ParamType::Bool, true,
                           "hold the deploy after engine-setup, before the host is added to the restored engine, "
                           "so stale records of the host can be removed first"),
                  optional("lock_file", ParamType::RemotePath, "/root/she-restore-deploy.pause",
                           "while this file exists the deploy waits"),
                  optional("hooks_dir", ParamType::RemotePath, kHostedEngineHooksDir,
                           "the hosted_engine_setup role's hooks directory on the host"),
                  optional("backup_manifest", ParamType::Map, nullptr,
                           "the backup's manifest (backup.manifest.read): what its engine knew, so a dry run can "
                           "predict what the restored engine answers")},
                 {{"lock_file", false, "remove it (hosted_engine.deploy_continue) to let the deploy go on"}}) {}

 public:
  void check_rules(const StepContext& ctx) const override {
    for (const char* field : {"fqdn", "storage_connection", "storage_domain_name", "datacenter", "cluster"}) {
      std::string problem = answer_value_problem(ctx.text(field));
      if (!problem.empty())
        throw StepRuleError(fmt::format("{} cannot go into the answer file: {}", field, problem));
    }
    // It ends up in an Ansible task the deploy runs: nothing but a plain path.
    std::string lock = ctx.text("lock_file");
    if (lock.empty() || lock[0] != '/' ||
        lock.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./-") != std::string::npos)
      throw StepRuleError("lock_file must be an absolute path of letters, digits and _ . / -");
  }

 protected:
  StepResult run(const StepContext& ctx) const override {
    // Fail before touching the host if a secret cannot be read.
    DeployAnswers a = answers(ctx);
    SshSession& ssh = session(ctx);
    std::string answers_path = ctx.text("answer_file");
    std::string lock = ctx.text("lock_file");
    std::string hook = ctx.text("hooks_dir") + "/enginevm_after_engine_setup/she-restore-pause.yml";
    bool pause = ctx.flag("pause_before_add_host");
    try {
      // The pause hook, the lock it holds the deploy on and the answer
      // file in one command; once it says they all landed, a fresh log and
      // the unit in another (a deploy that did not start leaves no log,
      // which its probe reads as never started). From here on the engine is
      // the one restored from the backup: a dry run answers its reads from
      // the prediction this write carries.
      std::vector<FileWrite> files = {{answers_path, deploy_answer_file(a), true}};
      std::vector<std::vector<std::string>> before;
      if (pause) {
        files.push_back({hook, deploy_pause_hook(lock)});
        before = {{"mkdir", "-p", "--", hook.substr(0, hook.find_last_of('/'))},
                  {"install", "-m", "0600", "/dev/null", lock}};
      }
      upload(ctx, ssh, files, before);
      exec_ok(ctx, ssh,
              shell_and({{"mkdir", "-p", "--", "/var/log/she-restore"},
                         {"rm", "-f", "--", kDeployLog},
                         deploy_unit_argv(hosted_engine_deploy_restore_argv(ctx.text("backup_file"), answers_path))}),
              Effect::Writes, false, {},
              ctx.has("backup_manifest")
                  ? engine_api::restored_engine_expectation(ctx.params()["backup_manifest"], ctx.text("host"))
                  : std::map<std::string, std::string>{});
    } catch (...) {
      remove_secret_files(ctx, ssh, {answers_path});
      throw;
    }
    StepResult r;
    r.outputs["lock_file"] = pause ? lock : "";
    return r;
  }

  // The unit started: follow it to the pause (or the end). Also what a
  // resume does when its probe finds the deploy still running.
  void verify(const StepContext& ctx) const override {
    SshSession& ssh = session(ctx);
    bool pause = ctx.flag("pause_before_add_host");
    long long offset = 0;
    std::string log;
    bool reached = false;
    try {
      reached = follow_deploy(ctx, ssh, pause ? kDeployPauseMarker : kDeployedMarker, offset, log, unit_active);
    } catch (...) {
      remove_secret_files(ctx, ssh, {ctx.text("answer_file")});
      throw;
    }
    // The answer file holds secrets: it goes once the deploy has read it.
    remove_secret_files(ctx, ssh, {ctx.text("answer_file")});
    if (!reached)
      throw StepError("command", fmt::format("{}: the deploy ended without {}: {}. Its log is {} on the host",
                                             ssh.target().name, pause ? "pausing before Add host" : "finishing",
                                             deploy_errors(log), kDeployLog));
  }

  // Done when the deploy is held at the pause (or has finished); a unit
  // still running is a deploy under way: followed, never asked about or
  // started again. Read-only: an answer file left behind is the journal's
  // to clear (a secret file obligation), not the probe's.
  CheckResult probe(const StepContext& ctx, Value& outputs) const override {
    SshSession& ssh = session(ctx);
    ExecResult r = exec(ctx, ssh, {"cat", "--", kDeployLog}, Effect::Reads);
    if (r.exit_status != 0) return CheckResult::NotDone;  // no log: it never started
    bool pause = ctx.flag("pause_before_add_host");
    bool active = unit_active(ctx, ssh);
    if (pause && active && r.stdout_tail.find(kDeployPauseMarker) != std::string::npos &&
        exec(ctx, ssh, {"test", "-e", ctx.text("lock_file")}, Effect::Reads).exit_status == 0) {
      outputs["lock_file"] = ctx.text("lock_file");
      return CheckResult::Done;
    }
    if (!pause && !active && r.stdout_tail.find(kDeployedMarker) != std::string::npos) {
      outputs["lock_file"] = "";
      return CheckResult::Done;
    }
    if (!active) return CheckResult::NotDone;
    outputs["lock_file"] = pause ? ctx.text("lock_file") : "";
    return CheckResult::InProgress;
  }

 private:
  /// The answers that are not secrets: the same in a dry run and a run.
  static DeployAnswers plain_answers(const StepContext& ctx) {
    DeployAnswers a;
    a.engine_fqdn = ctx.text("fqdn");
    a.storage_type = ctx.text("storage_type");
    a.storage_connection = ctx.text("storage_connection");
    a.storage_domain_name = ctx.text("storage_domain_name");
    a.datacenter = ctx.text("datacenter");
    a.cluster = ctx.text("cluster");
    return a;
  }

  static DeployAnswers answers(const StepContext& ctx) {
    DeployAnswers a = plain_answers(ctx);
    for (auto [param, field] : {std::pair{"admin_password", &a.admin_password},
                                std::pair{"appliance_root_password", &a.appliance_root_password}}) {
      std::string v = ctx.secret(param);
      std::string problem = answer_value_problem(v);
      if (!problem.empty()) throw StepError("fatal", fmt::format("{} cannot go into the answer file: {}", param, problem));
      *field = v;
    }
    return a;
  }
};

class DeployContinue : public HostStep {
 public:
  DeployContinue()
      : HostStep("hosted_engine.deploy_continue", StepKind::Idempotent,
                 "let a paused deploy add the host, and follow it to the end",
                 {required("host", ParamType::SshTarget, "the deploying host"),
                  required("lock_file", ParamType::RemotePath, "the lock file the deploy waits on"),
                  optional("answer_file", ParamType::RemotePath, "/root/she-restore-deploy.conf",
                           "the deploy's answer file (it holds secrets: removed here)"),
                  optional("hooks_dir", ParamType::RemotePath, kHostedEngineHooksDir,
                           "the hosted_engine_setup role's hooks directory on the host")},
                 {}) {}

 protected:
  StepResult run(const StepContext& ctx) const override {
    SshSession& ssh = session(ctx);
    std::string hook = ctx.text("hooks_dir") + "/enginevm_after_engine_setup/she-restore-pause.yml";
    const std::string answers = ctx.text("answer_file");
    // The answer file goes (again: a resume after a crash may find it),
    // then the lock, and the deploy goes on and adds this host to the
    // restored engine; one command, the lock kept if the file stayed. The
    // pause hook goes with them: Ansible read it when it included it, before
    // the pause, and a deploy run again (deploy_restore) writes it anew.
    try {
      ExecResult r = exec_ok(ctx, ssh,
                             shell_and({{"rm", "-f", "--", answers},
                                        {"rm", "-f", "--", ctx.text("lock_file")},
                                        {"rm", "-f", "--", hook}}),
                             Effect::Writes, false, {}, {{engine_api::kDeployHostAddedKey, ctx.text("host")}});
      if (!r.rehearsed) secret_files_gone(ctx, ssh, {answers});
    } catch (...) {
      remove_secret_files(ctx, ssh, {answers});
      throw;
    }
    long long offset = 0;
    std::string log;
    bool done = follow_deploy(ctx, ssh, kDeployedMarker, offset, log, unit_active, kDeployPauseMarker);
    if (!done)
      throw StepError("command", fmt::format("{}: the deploy failed after Add host: {}. Its log is {} on the host",
                                             ssh.target().name, deploy_errors(log), kDeployLog));
    return {};
  }
  CheckResult probe(const StepContext& ctx, Value&) const override {
    SshSession& ssh = session(ctx);
    ExecResult r = exec(ctx, ssh, {"cat", "--", kDeployLog}, Effect::Reads);
    return r.exit_status == 0 && r.stdout_tail.find(kDeployedMarker) != std::string::npos && !unit_active(ctx, ssh)
               ? CheckResult::Done
               : CheckResult::NotDone;
  }
};

class VmStatus : public HostStep {
 public:
  VmStatus()
      : HostStep("hosted_engine.vm_status", StepKind::Read, "read hosted-engine --vm-status --json",
                 {required("host", ParamType::SshTarget, "a hosted-engine host")},
                 {{"hosts", true, "per host: host_id, hostname, score, engine_status, maintenance, live_data"},
                  {"global_maintenance", false, "cluster in global maintenance"},
                  {"min_score", false, "lowest HA score of the hosts listed (3400 when all are healthy)"},
                  {"engine_health", false, "good when the engine VM reports good health on some host"},
                  {"engine_host", false, "hostname where the engine VM is up, empty if none"}}) {}

 protected:
  StepResult run(const StepContext& ctx) const override {
    ExecResult r = exec(ctx, session(ctx), hosted_engine_vm_status_argv(), Effect::Reads);
    try {
      StepResult res;
      res.outputs = parse_vm_status(r.stdout_tail, r.stderr_tail, r.exit_status).to_value();
      return res;
    } catch (const std::runtime_error& e) {
      throw StepError("command", session(ctx).target().name + ": " + e.what());
    }
  }
};

class SetMaintenance : public HostStep {
 public:
  SetMaintenance()
      : HostStep("hosted_engine.set_maintenance", StepKind::Idempotent, "set hosted-engine maintenance mode",
                 {required("host", ParamType::SshTarget, "a hosted-engine host"),
                  {"mode", ParamType::Choice, true, nullptr, {"global", "local", "none"}, "global, local or none"}},
                 {}) {}

 protected:
  StepResult run(const StepContext& ctx) const override {
    exec_ok(ctx, session(ctx), hosted_engine_set_maintenance_argv(ctx.text("mode")), Effect::Writes, true);
    return {};
  }
  CheckResult probe(const StepContext& ctx, Value&) const override {
    ExecResult r = exec(ctx, session(ctx), hosted_engine_vm_status_argv(), Effect::Reads);
    HeClusterStatus st = parse_vm_status(r.stdout_tail, r.stderr_tail, r.exit_status);
    if (ctx.text("mode") == "global") return st.global_maintenance ? CheckResult::Done : CheckResult::NotDone;
    if (ctx.text("mode") == "none" && !st.global_maintenance) return CheckResult::Done;
    return CheckResult::Unknown;
  }
};

class CleanMetadata : public HostStep {
 public:
  CleanMetadata()
      : HostStep("hosted_engine.clean_metadata", StepKind::Idempotent,
                 "remove a stale host from the hosted-engine metadata",
                 {required("host", ParamType::SshTarget, "a hosted-engine host"),
                  required("host_id", ParamType::String, "hosted-engine host id to clean"),
                  optional("force", ParamType::Bool, true, "--force-cleanup (that host's agent is gone)")},
                 {}) {}

 protected:
  StepResult run(const StepContext& ctx) const override {
    exec_ok(ctx, session(ctx), hosted_engine_clean_metadata_argv(ctx.text("host_id"), ctx.flag("force")), Effect::Writes,
            true);
    return {};
  }
};

class VerifyArchive : public HostStep {
 public:
  VerifyArchive()
      : HostStep("backup.verify", StepKind::Read,
                 "check an engine-backup archive: layout, every entry's checksum, the version pair",
                 {required("host", ParamType::FileEndpoint, "where the archive is: an SSH target or local"),
                  required("file", ParamType::RemotePath, "archive path"),
                  optional("target_version", ParamType::String, nullptr, "engine version that will restore it"),
                  optional("require_scopes", ParamType::StringList, Value::array(),
                           "scopes the restore needs (files, db, dwhdb, reportsdb, ...): a missing one stops here")},
                 {{"version", false, "engine version of the backup"},
                  {"os_version", false, "OS of the backed-up engine"},
                  {"scopes", true, "scopes present"},
                  {"restores", true, "scopes a restore by target_version brings back (Reports not on 4.0 and later)"},
                  {"sha256", false, "SHA-256 of the archive"},
                  {"file", false, "the archive checked (as given)"},
                  {"bytes", false, "its size"},
                  {"fqdn", false, "the engine FQDN recorded in it, empty when absent"}}) {}

  void check_rules(const StepContext& ctx) const override {
    for (const auto& s : ctx.texts("require_scopes"))
      if (std::find(known_backup_scopes().begin(), known_backup_scopes().end(), s) == known_backup_scopes().end())
        throw StepRuleError(fmt::format("require_scopes: '{}' is not an engine-backup scope (one of {})", s,
                                        fmt::join(known_backup_scopes(), ", ")));
  }

 protected:
  StepResult run(const StepContext& ctx) const override {
    BackupSummary sum;
    std::vector<std::string> problems;
    if (ctx.text("host") == "local") {
      const Operation op(Operation::Kind::Local, false, "local",
                         "read " + shell_quote(ctx.text("file")) + " and check it as an engine-backup archive");
      if (!perform_operation(ctx.services().runner, op,
                             [&] { verify_backup_archive(ctx.text("file"), ctx.text("target_version"), &sum, &problems); }))
        throw RehearsalUnknown(op.line);
    } else {
      verify_remote(ctx, sum, problems);
    }
    if (!problems.empty())
      throw StepError("fatal", fmt::format("the backup {} does not check out: {}", ctx.text("file"), fmt::join(problems, "; ")));
    auto missing = missing_scope_problems(sum.scopes, ctx.texts("require_scopes"), ctx.text("target_version"));
    if (!missing.empty())
      throw StepError("fatal", fmt::format("the backup {} cannot serve this restore: {}", ctx.text("file"),
                                           fmt::join(missing, "; ")));
    StepResult r;
    r.outputs = {{"version", sum.version}, {"os_version", sum.os_version}, {"scopes", sum.scopes},
                 {"restores", restored_scopes(sum.scopes, ctx.text("target_version"))},
                 {"sha256", sum.sha256}, {"file", ctx.text("file")}, {"bytes", sum.bytes}, {"fqdn", sum.engine_fqdn}};
    return r;
  }

 private:
  /// Streams the archive from the host through a pipe into the verifier:
  /// nothing lands on the orchestrator's disk, and a run killed meanwhile
  /// leaves nothing behind (a named FIFO in /tmp would stay).
  static void verify_remote(const StepContext& ctx, BackupSummary& sum, std::vector<std::string>& problems) {
    SshSession& ssh = session(ctx);
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0)
      throw StepError("fatal", fmt::format("cannot make a pipe to read the archive through: {}", std::strerror(errno)));
    const int read_end = ends[0], write_end = ends[1];
    std::string feed_error;
    std::exception_ptr not_read;  // a rehearsal that does not make this read
    // A read the run's stop cut short: what the verifier saw of the archive
    // is a truncated stream, and its verdict on it means nothing.
    std::exception_ptr stopped;
    std::atomic<bool> reader_gone{false};
    std::thread feeder([&] {
      // A write after the verifier closed its end fails with EPIPE: the
      // SIGPIPE it raises stays pending on this thread, and ends with it,
      // whatever the process does with the signal.
      sigset_t pipe_signal;
      sigemptyset(&pipe_signal);
      sigaddset(&pipe_signal, SIGPIPE);
      ::pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
      ExecOptions o;
      o.runner = ctx.services().runner;
      o.writes = false;
      // Once the verifier has stopped reading, the rest of a large archive
      // is not worth pulling across the network.
      o.should_stop = [&] { return reader_gone.load() || (ctx.services().should_stop && ctx.services().should_stop()); };
      o.on_stdout = [&](const char* d, size_t n) {
        while (!reader_gone && n > 0) {
          ssize_t w = ::write(write_end, d, n);
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) reader_gone = true;
          else {
            d += w;
            n -= static_cast<size_t>(w);
          }
        }
      };
      try {
        ExecResult r = ssh.exec(shell_join({"dd", "if=" + ctx.text("file"), "bs=65536", "status=none"}), o);
        if (r.exit_status != 0) feed_error = fmt::format("{}: cannot read {}: {}", ssh.target().name, ctx.text("file"), r.stderr_tail);
      } catch (const RehearsalUnknown&) {
        not_read = std::current_exception();
      } catch (const Interrupted&) {
        if (!reader_gone) stopped = std::current_exception();
      } catch (const std::exception& e) {
        if (!reader_gone) feed_error = e.what();
      }
      ::close(write_end);  // the verifier sees the archive's end
    });
    // The verifier takes the read end and closes it whatever happens, which
    // releases a feeder blocked on a full pipe; then the feeder is joined.
    auto release_feeder = [&] {
      reader_gone = true;
      feeder.join();
    };
    try {
      verify_backup_stream(read_end, ctx.text("target_version"), &sum, &problems);
    } catch (...) {
      release_feeder();
      if (stopped) std::rethrow_exception(stopped);
      throw;
    }
    release_feeder();
    if (stopped) std::rethrow_exception(stopped);
    if (not_read) std::rethrow_exception(not_read);
    if (!feed_error.empty()) problems.insert(problems.begin(), feed_error);
  }
};

class ManifestWrite : public HostStep {
 public:
  ManifestWrite()
      : HostStep("backup.manifest.write", StepKind::Idempotent,
                 "write the backup's manifest (JSON) beside the archive",
                 {optional("host", ParamType::SshTarget, "backup_storage", "where to write it"),
                  required("path", ParamType::RemotePath, "manifest path"),
                  required("data", ParamType::Map, "the manifest's fields")},
                 {}) {}

 protected:
  StepResult run(const StepContext& ctx) const override {
    SshSession& ssh = session(ctx);
    std::string path = ctx.text("path");
    upload(ctx, ssh, {{path + ".part", content(ctx)}});
    exec_ok(ctx, ssh, {"mv", "-f", "--", path + ".part", path}, Effect::Writes);
    return {};
  }
  CheckResult probe(const StepContext& ctx, Value&) const override {
    ExecResult r = exec(ctx, session(ctx), {"cat", "--", ctx.text("path")}, Effect::Reads);
    return r.exit_status == 0 && r.stdout_tail == content(ctx) ? CheckResult::Done : CheckResult::NotDone;
  }

 private:
  static std::string content(const StepContext& ctx) {
    // In a rehearsal, values known only at run time show as <path>.
    return dump_json(deferred_as_text(ctx.params().contains("data") ? ctx.params()["data"] : Value::object()), 2) + "\n";
  }
};

class ManifestRead : public HostStep {
 public:
  ManifestRead()
      : HostStep("backup.manifest.read", StepKind::Read, "read a backup manifest",
                 {optional("host", ParamType::SshTarget, "backup_storage", "where it is"),
                  required("path", ParamType::RemotePath, "manifest path")},
                 {{"manifest", false, "the manifest's fields"}}) {}

 protected:
  StepResult run(const StepContext& ctx) const override {
    SshSession& ssh = session(ctx);
    ExecResult r = exec_ok(ctx, ssh, {"cat", "--", ctx.text("path")}, Effect::Reads);
    Value m = Value::parse(r.stdout_tail, nullptr, false);
    if (!m.is_object())
      throw StepError("fatal", fmt::format("{}: {} is not a she-restore manifest (not a JSON object)", ssh.target().name, ctx.text("path")));
    StepResult res;
    res.outputs["manifest"] = m;
    return res;
  }
};

}  // namespace

void register_backup_steps(StepCatalog& c) {
  c.add(std::make_unique<EngineBackupRun>());
  c.add(std::make_unique<EngineBackupRestore>());
  c.add(std::make_unique<EngineSetupRun>());
  c.add(std::make_unique<DeployRestore>());
  c.add(std::make_unique<DeployContinue>());
  c.add(std::make_unique<VmStatus>());
  c.add(std::make_unique<SetMaintenance>());
  c.add(std::make_unique<CleanMetadata>());
  c.add(std::make_unique<VerifyArchive>());
  c.add(std::make_unique<ManifestWrite>());
  c.add(std::make_unique<ManifestRead>());
}

}  // namespace she
