#include "hosts/engine_backup_command.h"

#include <algorithm>
#include <sstream>

namespace she {

namespace {
bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool fail(std::string* error, std::string msg) {
  if (error) *error = std::move(msg);
  return false;
}

/// One database's --change-*-credentials options, checked as engine-backup
/// checks them (its verifyArgs, in its order and words); `flag` is the
/// option's infix ("db", "dwh-db").
bool check_credentials(const EngineBackupOptions::Credentials& c, const std::string& flag, const char* which,
                       bool provisioned, std::string* error) {
  if (provisioned && c.change) return fail(error, "Cannot change credentials if provisioning a database");
  if (!c.change) {
    if (!c.host.empty() || !c.port.empty() || !c.user.empty() || !c.name.empty() || !c.passfile.empty())
      return fail(error, "Please use --change-" + flag + "-credentials to change " + which + " db credentials");
    return true;
  }
  if (c.host.empty()) return fail(error, "--" + flag + "-host is missing");
  if (c.user.empty()) return fail(error, "--" + flag + "-user is missing");
  if (c.passfile.empty())
    return fail(error, "--" + flag + "-passfile or --" + flag + "-password is missing (give the password as a secret "
                       "reference; it goes through a passfile, never on the command line)");
  if (c.name.empty()) return fail(error, "--" + flag + "-name is missing");
  return true;
}

void append_credentials(const EngineBackupOptions::Credentials& c, const std::string& flag,
                        std::vector<std::string>& argv) {
  if (!c.change) return;
  argv.push_back("--change-" + flag + "-credentials");
  for (auto [name, value] : {std::pair{"host", &c.host}, std::pair{"port", &c.port}, std::pair{"user", &c.user},
                             std::pair{"name", &c.name}})
    if (!value->empty()) argv.push_back("--" + flag + "-" + name + "=" + *value);
  argv.push_back("--" + flag + "-passfile=" + c.passfile);
}

bool check(const EngineBackupOptions& o, std::string* error) {
  using Mode = EngineBackupOptions::Mode;
  bool restore = o.mode == Mode::Restore;
  static const std::vector<std::string> scopes = {
      "all", "files", "db", "dwhdb", "cinderlibdb", "keycloakdb", "grafanadb", "managedblockdb"};
  for (auto& s : o.scopes) {
    if (!contains(scopes, s)) return fail(error, "unknown scope '" + s + "'");
    if (s == "cinderlibdb" && !restore) return fail(error, "scope cinderlibdb is for restore only");
  }
  static const std::vector<std::string> compressors = {"gzip", "bzip2", "xz", "None"};
  for (auto* c : {&o.archive_compressor, &o.files_compressor, &o.db_compressor})
    if (!c->empty() && !contains(compressors, *c))
      return fail(error, "unknown compressor '" + *c + "' (gzip, bzip2, xz or None)");
  if (!o.db_dump_format.empty() && o.db_dump_format != "plain" && o.db_dump_format != "custom")
    return fail(error, "unknown dump format '" + o.db_dump_format + "' (plain or custom)");
  if (o.file.empty()) return fail(error, "--file is required");
  if (!o.log.empty() && o.log == o.file) return fail(error, "--file and --log can not be the same");
  if (!restore) {
    if (o.he_remove_hosts || o.he_remove_storage_vm)
      return fail(error, "hosted-engine cleaning options work only in restore mode");
    if (o.provision_db || o.provision_dwh_db || o.provision_all_databases ||
        o.permissions != EngineBackupOptions::Permissions::Unset || o.engine_db.change || o.dwh_db.change)
      return fail(error, "provisioning, permissions and credentials options work only in restore mode");
    return true;
  }
  bool provisioning = o.provision_db || o.provision_dwh_db || o.provision_all_databases;
  // Per database: changed credentials and provisioning exclude each other
  // (seed 000 restores a provisioned DWH beside the engine's changed ones).
  if (!check_credentials(o.engine_db, "db", "engine", o.provision_db || o.provision_all_databases, error) ||
      !check_credentials(o.dwh_db, "dwh-db", "dwh", o.provision_dwh_db || o.provision_all_databases, error))
    return false;
  // Provisioning turns --restore-permissions on by itself; otherwise a
  // custom dump (the default format) needs an explicit choice.
  if (!provisioning && o.permissions == EngineBackupOptions::Permissions::Unset &&
      o.db_dump_format != "plain")
    return fail(error,
                "Please pass one of --restore-permissions or --no-restore-permissions "
                "when restoring a backup with a custom dump format");
  return true;
}
}  // namespace

std::vector<std::string> engine_backup_argv(const EngineBackupOptions& o, std::string* error) {
  if (!check(o, error)) return {};
  bool restore = o.mode == EngineBackupOptions::Mode::Restore;
  std::vector<std::string> argv = {"engine-backup", restore ? "--mode=restore" : "--mode=backup"};
  for (auto& s : o.scopes) argv.push_back("--scope=" + s);
  argv.push_back("--file=" + o.file);
  if (!o.log.empty()) argv.push_back("--log=" + o.log);
  if (!o.tmpdir.empty()) argv.push_back("--tmpdir=" + o.tmpdir);
  if (!restore) {
    if (!o.archive_compressor.empty()) argv.push_back("--archive-compressor=" + o.archive_compressor);
    if (!o.files_compressor.empty()) argv.push_back("--files-compressor=" + o.files_compressor);
    if (!o.db_compressor.empty()) argv.push_back("--db-compressor=" + o.db_compressor);
    if (!o.db_dump_format.empty()) argv.push_back("--db-dump-format=" + o.db_dump_format);
    return argv;
  }
  if (o.provision_all_databases) argv.push_back("--provision-all-databases");
  if (o.provision_db) argv.push_back("--provision-db");
  if (o.provision_dwh_db) argv.push_back("--provision-dwh-db");
  append_credentials(o.engine_db, "db", argv);
  append_credentials(o.dwh_db, "dwh-db", argv);
  if (o.permissions == EngineBackupOptions::Permissions::Restore) argv.push_back("--restore-permissions");
  if (o.permissions == EngineBackupOptions::Permissions::NoRestore) argv.push_back("--no-restore-permissions");
  if (o.db_restore_jobs > 0) argv.push_back("--db-restore-jobs=" + std::to_string(o.db_restore_jobs));
  if (o.he_remove_hosts) argv.push_back("--he-remove-hosts");
  if (o.he_remove_storage_vm) argv.push_back("--he-remove-storage-vm");
  return argv;
}

std::string engine_backup_restore_remedy(const std::string& output) {
  auto has = [&](const char* s) { return output.find(s) != std::string::npos; };
  if (has("is not empty"))
    return "the target database already holds data: run engine-cleanup first (engine-restore-overwrite), or restore "
           "into an empty database";
  if (has("Engine service is active"))
    return "the engine is set up and running here: an overwrite needs engine-cleanup first (engine-restore-overwrite)";
  if (has("no pg_hba.conf entry"))
    return "the database server does not let the engine host in: add a pg_hba.conf entry for its address "
           "(postgres.hba_entry) and restart PostgreSQL";
  if (has("password authentication failed"))
    return "the database password is not the role's: set it on the database server (postgres.role, "
           "engine-restore-credentials) or give the right db_password";
  if (has("Connection refused") || has("Can't connect to database"))
    return "the database server is not reachable: check PostgreSQL runs and listens there (postgres.init) and the "
           "db_host";
  if (has("Cannot change credentials if provisioning"))
    return "provisioning makes its own credentials: use either provisioning or changed credentials";
  return "";
}

std::string engine_backup_log_cause(const std::string& log) {
  std::string cause;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);)
    for (const char* client : {"psql: error: ", "pg_restore: error: "})
      if (const auto at = line.find(client); at != std::string::npos) cause = line.substr(at, 300);
  return cause;
}
}  // namespace she
