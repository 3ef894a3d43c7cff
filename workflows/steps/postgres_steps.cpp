// Step types for the PostgreSQL preparation of seed 003 on a database host
// (the engine machine itself for a local database, or a remote server):
// initialise the cluster, start it, a login role, the engine's database, a
// pg_hba.conf entry; and engine-cleanup before an overwrite. Each is
// probed first and safe to repeat, except engine-cleanup, which empties the
// engine's database and runs once.
#include <cctype>
#include <algorithm>
#include <fmt/format.h>

#include "hosts/engine_backup_command.h"
#include "hosts/postgres_commands.h"
#include "workflows/steps/host_step.h"
#include "workflows/steps/schema.h"

namespace she {

using namespace schema;

namespace {

ParamSchema db_host_param() {
  return required("host", ParamType::SshTarget, "the database host (SSH target)");
}

void check_identifier(const StepContext& ctx, const std::string& param) {
  if (!ctx.has(param)) return;
  const std::string problem = postgres_identifier_problem(ctx.text(param));
  if (!problem.empty()) throw StepRuleError(fmt::format("{}: {}", param, problem));
}

class PostgresStep : public HostStep {
 public:
  using HostStep::HostStep;

 protected:
  /// What the superuser's psql printed for a query holding no secret,
  /// trailing blanks cut; false offline (a rehearsed read: unknown, so the
  /// writes a "no" leads to are shown).
  static bool psql_read(const StepContext& ctx, SshSession& ssh, const std::string& sql, std::string* out) {
    ExecResult r = exec(ctx, ssh, postgres_psql_argv(sql), Effect::Reads);
    if (r.rehearsed) return false;
    if (r.exit_status != 0)
      throw StepError("command", fmt::format("{}: psql failed (exit {}): {}", ssh.target().name, r.exit_status,
                                             r.stderr_tail.substr(0, 300)));
    *out = r.stdout_tail;
    while (!out->empty() && (out->back() == '\n' || out->back() == ' ')) out->pop_back();
    return true;
  }
  /// The superuser's answer to a probe query: true when it printed "1".
  static bool psql_says_yes(const StepContext& ctx, SshSession& ssh, const std::string& sql) {
    std::string out;
    return psql_read(ctx, ssh, sql, &out) && out.find('1') != std::string::npos;
  }
};

class PostgresInit : public PostgresStep {
 public:
  PostgresInit()
      : PostgresStep("postgres.init", StepKind::Idempotent,
                 "initialise the PostgreSQL cluster (postgresql-setup --initdb) and start the server",
                 {db_host_param()}, {}) {}

 protected:
  StepResult run(const StepContext& ctx) const override {
    SshSession& ssh = session(ctx);
    if (!initialised(ctx, ssh)) exec_ok(ctx, ssh, {"postgresql-setup", "--initdb"}, Effect::Writes, true);
    if (!running(ctx, ssh)) exec_ok(ctx, ssh, {"systemctl", "enable", "--now", "postgresql"}, Effect::Writes, true);
    return {};
  }
  CheckResult probe(const StepContext& ctx, Value&) const override {
    SshSession& ssh = session(ctx);
    return initialised(ctx, ssh) && running(ctx, ssh) ? CheckResult::Done : CheckResult::NotDone;
  }

 private:
  // Offline (a rehearsed read), neither is known: the writes are shown.
  // Only the commands' own answers count: test's 1, systemctl is-active's
  // 3 (inactive) or 4 (no such unit) say "not yet"; any other failure (an
  // ssh-level 255) says nothing, and the step stops rather than act on it.
  static bool initialised(const StepContext& ctx, SshSession& ssh) {
    return answered_yes(ctx, ssh, {"test", "-f", std::string(kPostgresDataDir) + "/PG_VERSION"}, {1});
  }
  static bool running(const StepContext& ctx, SshSession& ssh) {
    return answered_yes(ctx, ssh, {"systemctl", "is-active", "--quiet", "postgresql"}, {3, 4});
  }
  static bool answered_yes(const StepContext& ctx, SshSession& ssh, const std::vector<std::string>& argv,
                           std::initializer_list<int> no) {
    ExecResult r = exec(ctx, ssh, argv, Effect::Reads);
    if (r.rehearsed) return false;
    if (r.exit_status == 0) return true;
    if (std::find(no.begin(), no.end(), r.exit_status) != no.end()) return false;
    throw StepError("command", fmt::format("{}: could not tell with `{}` (exit {}): {}", ssh.target().name,
                                           shell_join(argv), r.exit_status,
                                           (r.stderr_tail.empty() ? r.stdout_tail : r.stderr_tail).substr(0, 300)));
  }
};

class PostgresRole : public PostgresStep {
 public:
  PostgresRole()
      : PostgresStep("postgres.role", StepKind::Idempotent,
                 "create a login role with a password, or set the password of an existing one",
                 {db_host_param(), required("name", ParamType::String, "the role (e.g. engine)"),
                  required("password", ParamType::Secret, "its password (a reference; goes to psql on its standard input)")},
                 {}) {}

  void check_rules(const StepContext& ctx) const override { check_identifier(ctx, "name"); }

 protected:
  StepResult run(const StepContext& ctx) const override {
    // The script holds the password: it goes to psql's standard input,
    // never into a file (psql runs as postgres, which cannot read root's
    // 0600 files, and a file it could read others could too).
    exec_ok(ctx, session(ctx), postgres_psql_stdin_argv(), Effect::Writes, false,
            postgres_role_script(ctx.text("name"), ctx.secret("password")));
    return {};
  }
  // Whether the password is the one asked cannot be read back: an existing
  // role is not evidence of this step, so the step sets it again.
  CheckResult probe(const StepContext& ctx, Value&) const override {
    return psql_says_yes(ctx, session(ctx), postgres_role_exists_sql(ctx.text("name"))) ? CheckResult::Unknown
                                                                                          : CheckResult::NotDone;
  }
};

class PostgresDatabase : public PostgresStep {
 public:
  PostgresDatabase()
      : PostgresStep("postgres.database", StepKind::Idempotent,
                 "create a database as seed 003 does: owner, template0, UTF8, collation and ctype",
                 {db_host_param(), required("name", ParamType::String, "the database (e.g. engine)"),
                  required("owner", ParamType::String, "its owner role"),
                  optional("locale", ParamType::String, "en_US.UTF-8",
                           "lc_collate and lc_ctype (the seed's en_US.UTF-8; the lab has only C.UTF-8)")},
                 {}) {}

  void check_rules(const StepContext& ctx) const override {
    check_identifier(ctx, "name");
    check_identifier(ctx, "owner");
    if (ctx.has("locale") && !postgres_locale_problem(ctx.text("locale")).empty())
      throw StepRuleError("locale: " + postgres_locale_problem(ctx.text("locale")));
  }

 protected:
  // A database of that name made otherwise (another owner, encoding or
  // collation) is not this step's: the restore would fail in it or leave
  // the engine a database it cannot own, so the step stops and says what
  // differs rather than call it done.
  StepResult run(const StepContext& ctx) const override {
    SshSession& ssh = session(ctx);
    std::string settings;
    if (read_settings(ctx, ssh, &settings) && !settings.empty()) {
      const std::string diff = postgres_database_difference(settings, ctx.text("owner"), ctx.text("locale"));
      if (!diff.empty())
        throw StepError("fatal", fmt::format("{}: database '{}' exists but not as this step makes it: {}. Remedy: "
                                             "drop it (a restore needs it empty anyway) or give this step its owner "
                                             "and locale",
                                             ssh.target().name, ctx.text("name"), diff));
      return {};
    }
    exec_ok(ctx, ssh, postgres_psql_argv(postgres_database_sql(ctx.text("name"), ctx.text("owner"), ctx.text("locale"))),
            Effect::Writes, true);
    return {};
  }
  CheckResult probe(const StepContext& ctx, Value&) const override {
    SshSession& ssh = session(ctx);
    std::string settings;
    if (!read_settings(ctx, ssh, &settings)) return CheckResult::Unknown;
    return !settings.empty() && postgres_database_difference(settings, ctx.text("owner"), ctx.text("locale")).empty()
               ? CheckResult::Done
               : CheckResult::NotDone;
  }

 private:
  /// The database's settings line ("" when absent); false offline.
  static bool read_settings(const StepContext& ctx, SshSession& ssh, std::string* settings) {
    return psql_read(ctx, ssh, postgres_database_settings_sql(ctx.text("name")), settings);
  }
};

class PostgresHbaEntry : public PostgresStep {
 public:
  PostgresHbaEntry()
      : PostgresStep("postgres.hba_entry", StepKind::Idempotent,
                 "let a client reach a database with a password (a pg_hba.conf line), then restart the server",
                 {db_host_param(), required("database", ParamType::String, "the database"),
                  required("user", ParamType::String, "the role"),
                  required("address", ParamType::String, "the client's IP address (or address/prefix)"),
                  choice("method", {"md5", "scram-sha-256"}, "md5", "authentication method (the seed's md5)"),
                  optional("file", ParamType::RemotePath, std::string(kPostgresDataDir) + "/pg_hba.conf",
                           "pg_hba.conf")},
                 {}) {}

  void check_rules(const StepContext& ctx) const override {
    check_identifier(ctx, "database");
    check_identifier(ctx, "user");
    if (!ctx.has("address")) return;
    for (char c : ctx.text("address"))
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == '.' || c == ':' || c == '/'))
        throw StepRuleError("address: '" + ctx.text("address") + "' is not an IP address or address/prefix");
  }

 protected:
  StepResult run(const StepContext& ctx) const override {
    SshSession& ssh = session(ctx);
    const std::string line = entry(ctx);
    if (!present(ctx, ssh, line)) exec_ok(ctx, ssh, {"tee", "-a", ctx.text("file")}, Effect::Writes, false, line + "\n");
    exec_ok(ctx, ssh, {"systemctl", "restart", "postgresql"}, Effect::Writes, true);
    return {};
  }
  // The line is this step's effect only once the server has read it: a
  // line appended by a run cut short before the restart is not in force.
  CheckResult probe(const StepContext& ctx, Value&) const override {
    SshSession& ssh = session(ctx);
    return present(ctx, ssh, entry(ctx)) && psql_says_yes(ctx, ssh, postgres_hba_loaded_sql()) ? CheckResult::Done
                                                                                               : CheckResult::NotDone;
  }

 private:
  static std::string entry(const StepContext& ctx) {
    return postgres_hba_line(ctx.text("database"), ctx.text("user"), ctx.text("address"), ctx.text("method"));
  }
  static bool present(const StepContext& ctx, SshSession& ssh, const std::string& line) {
    ExecResult r = exec(ctx, ssh, {"cat", ctx.text("file")}, Effect::Reads);
    if (r.rehearsed) return false;
    if (r.exit_status != 0)
      throw StepError("command", fmt::format("{}: cannot read {}: {}", ssh.target().name, ctx.text("file"),
                                             r.stderr_tail.substr(0, 200)));
    return postgres_hba_has(r.stdout_tail, line);
  }
};

constexpr const char* kEngineDbConf = "/etc/ovirt-engine/engine.conf.d/10-setup-database.conf";

class EngineCleanupRun : public HostStep {
 public:
  EngineCleanupRun()
      : HostStep("engine_cleanup.run", StepKind::Once,
                 "run engine-cleanup: stops the engine and empties its database (the role and database stay)",
                 {optional("host", ParamType::SshTarget, "engine", "where the engine runs (SSH target)")}, {}) {}

 protected:
  StepResult run(const StepContext& ctx) const override {
    SshSession& ssh = session(ctx);
    ExecResult r = exec(ctx, ssh, {"engine-cleanup", "--accept-defaults"}, Effect::Writes, true);
    if (r.exit_status == 0 || r.rehearsed) return {};
    // engine-cleanup reaches the database with the engine's own settings:
    // its failures to connect are the restore's, and so are the remedies.
    const std::string out = r.stdout_tail + r.stderr_tail;
    const std::size_t at = out.find("[ ERROR ]");
    const std::string error = at == std::string::npos ? "" : out.substr(at, out.find('\n', at) - at);
    const std::string remedy = engine_backup_restore_remedy(out);
    throw StepError("command", fmt::format("{}: engine-cleanup failed (exit {}): {}{}", ssh.target().name, r.exit_status,
                                           error.empty() ? out.substr(0, 300) : error,
                                           remedy.empty() ? "" : ". Remedy: " + remedy));
  }
  // engine-cleanup removes the engine's database settings: their absence
  // is its effect (or an engine never set up, which needs no cleanup).
  CheckResult probe(const StepContext& ctx, Value&) const override {
    ExecResult r = exec(ctx, session(ctx), {"test", "-e", kEngineDbConf}, Effect::Reads);
    if (r.exit_status == 0) return CheckResult::NotDone;
    return r.exit_status == 1 ? CheckResult::Done : CheckResult::Unknown;
  }
};

}  // namespace

void register_postgres_steps(StepCatalog& c) {
  c.add(std::make_unique<PostgresInit>());
  c.add(std::make_unique<PostgresRole>());
  c.add(std::make_unique<PostgresDatabase>());
  c.add(std::make_unique<PostgresHbaEntry>());
  c.add(std::make_unique<EngineCleanupRun>());
}

}  // namespace she
