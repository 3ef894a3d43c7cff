// engine-backup and engine-setup on the lab's engine VM (reference:
// ovirt-he-automation.md section 3). Backup writes a real archive (layout
// and checksums, hosts/backup_archive.h) whose engine database dump is the
// lab world as JSON; restore follows the tool's rules and messages and
// records itself in the sandbox; engine-setup succeeds only after a restore.
//
// The engine service runs while the sandbox holds
// /var/lib/ovirt-engine/engine.up (the tool's ENGINE_UP_MARK). The installed
// engine version is /etc/she-lab/engine-version when present, else the lab
// world's.
#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <unistd.h>

#include <memory>
#include <random>

#include "hosts/backup_archive.h"
#include "lab/agent/agent.h"
#include "lab/postgres_server.h"

namespace she::lab::agent {

namespace {

constexpr const char* kEngineUp = "/var/lib/ovirt-engine/engine.up";
constexpr const char* kRestoreRecord = "/var/lib/she-lab/engine-restore.json";

int fatal(const std::string& message) {
  err("FATAL: " + message + "\n");
  return 1;
}

constexpr const char* kDbConfInFiles = "etc/ovirt-engine/engine.conf.d/10-setup-database.conf";
constexpr const char* kDwhDbConfInFiles = "etc/ovirt-engine-dwh/ovirt-engine-dwhd.conf.d/10-setup-database.conf";

/// The entries of a tar as engine-backup writes them, from a file or from
/// memory; false when it cannot be read.
bool tar_entries(const std::string* file, const std::string* memory, std::map<std::string, std::string>* out) {
  std::unique_ptr<archive, decltype(&archive_read_free)> r(archive_read_new(), archive_read_free);
  she::read_engine_backup_layers(r.get());
  const int opened = file ? archive_read_open_filename(r.get(), file->c_str(), 65536)
                          : archive_read_open_memory(r.get(), memory->data(), memory->size());
  if (opened != ARCHIVE_OK) return false;
  archive_entry* e = nullptr;
  while (archive_read_next_header(r.get(), &e) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(e), data;
    if (name.rfind("./", 0) == 0) name = name.substr(2);
    char buf[65536];
    for (la_ssize_t n; (n = archive_read_data(r.get(), buf, sizeof buf)) > 0;) data.append(buf, static_cast<size_t>(n));
    (*out)[name] = std::move(data);
  }
  return true;
}

/// A real PostgreSQL custom dump (the lab's world-as-JSON dumps are not).
bool is_pg_dump(const std::string& dump) { return dump.rfind("PGDMP", 0) == 0; }

std::string random_password() {
  static const char chars[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::random_device rd;
  std::string p;
  for (int i = 0; i < 22; ++i) p += chars[rd() % (sizeof chars - 1)];
  return p;
}

std::string sql_literal(const std::string& v) {
  std::string out = "'";
  for (char c : v) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string first_line(const std::string& text) {
  const auto nl = text.find('\n');
  return nl == std::string::npos ? text : text.substr(0, nl);
}

/// The engine database's connection check of engine-backup: connects, and
/// counts the tables, for the rule that a restore needs an empty database.
/// -1 (with `why`) when the connection fails.
int count_tables(const Agent& a, const EngineDbConf& db, std::string* why) {
  std::string output;
  if (db_query(a, db, "select count(*) from pg_catalog.pg_tables where schemaname = 'public';\n", &output) != 0) {
    *why = trim(output);
    return -1;
  }
  return std::atoi(trim(output).c_str());
}

/// --provision-db: the local server made ready for the engine's database
/// (initialised and started when needed, the role made or its password
/// reset, the database made), as engine-setup's provisioning does.
bool provision_local(Agent& a, EngineDbConf* db, std::string* why) {
  PostgresInstance pg = PostgresInstance::of_sandbox(a.sandbox);
  if (pg.port == 0) {
    *why = "PostgreSQL is not installed on this host (provisioning needs a local server)";
    return false;
  }
  std::string output;
  if (!pg_initialised(pg) && pg_initdb(pg, &output) != 0) {
    *why = "initdb failed: " + trim(output);
    return false;
  }
  if (!pg_running(pg) && pg_start(pg, &output) != 0) {
    *why = "cannot start postgresql: " + trim(output);
    return false;
  }
  db->host = "localhost";
  db->port = "5432";
  db->password = random_password();
  const std::string sql = fmt::format(
      "select case when exists (select 1 from pg_roles where rolname = {0}) then 'alter' else 'create' end;\n",
      sql_literal(db->user));
  if (pg_superuser_sql(pg, sql, &output) != 0) {
    *why = trim(output);
    return false;
  }
  const std::string verb = trim(output) == "alter" ? "alter" : "create";
  std::string script = fmt::format("{} role \"{}\" with login encrypted password {};\n", verb, db->user,
                                   sql_literal(db->password));
  if (pg_superuser_sql(pg, script, &output) != 0) {
    *why = trim(output);
    return false;
  }
  if (pg_superuser_sql(pg, fmt::format("select 1 from pg_database where datname = {};\n", sql_literal(db->database)),
                       &output) == 0 &&
      trim(output).empty() &&
      pg_superuser_sql(pg,
                       fmt::format("create database \"{}\" owner \"{}\" template template0 encoding 'UTF8' "
                                   "lc_collate 'C.UTF-8' lc_ctype 'C.UTF-8';\n",
                                   db->database, db->user),
                       &output) != 0) {
    *why = trim(output);
    return false;
  }
  return true;
}

struct BackupArgs {
  std::string mode = "backup";
  std::string file, log, tmpdir;
  std::vector<std::string> scopes;
  bool provision_db = false, provision_dwh_db = false, provision_all = false;
  int restore_permissions = -1;  // -1 unset, 0 no, 1 yes
  bool change_db_credentials = false;
  std::string db_host, db_port, db_user, db_name, db_passfile;
  bool db_password = false;
  bool he_remove_hosts = false, he_remove_storage_vm = false;
  std::string bad;  // an option the tool does not know
};

bool value_of(const std::string& arg, const std::string& name, std::string* v) {
  if (arg.rfind(name + "=", 0) != 0) return false;
  *v = arg.substr(name.size() + 1);
  return true;
}

BackupArgs parse(const Args& argv) {
  BackupArgs b;
  static const std::vector<std::string> ignored_values = {
      "--archive-compressor", "--files-compressor", "--db-compressor", "--db-dump-format", "--db-restore-jobs",
      "--dwh-db-compressor", "--dwh-db-dump-format", "--dwh-db-restore-jobs"};
  static const std::vector<std::string> ignored_flags = {"--keep-temporary-data", "--fast-restore", "--small-size",
                                                         "--fast-backup", "--db-secured", "--db-sec-validation"};
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& x = argv[i];
    std::string v;
    if (value_of(x, "--mode", &v)) b.mode = v;
    else if (value_of(x, "--file", &v)) b.file = v;
    else if (value_of(x, "--log", &v)) b.log = v;
    else if (value_of(x, "--tmpdir", &v)) b.tmpdir = v;
    else if (value_of(x, "--scope", &v)) b.scopes.push_back(v);
    else if (x == "--provision-db") b.provision_db = true;
    else if (x == "--provision-dwh-db") b.provision_dwh_db = true;
    else if (x == "--provision-all-databases") b.provision_all = true;
    else if (x == "--restore-permissions") b.restore_permissions = 1;
    else if (x == "--no-restore-permissions") b.restore_permissions = 0;
    else if (x == "--change-db-credentials") b.change_db_credentials = true;
    else if (value_of(x, "--db-host", &v)) b.db_host = v;
    else if (value_of(x, "--db-port", &v)) b.db_port = v;
    else if (value_of(x, "--db-user", &v)) b.db_user = v;
    else if (value_of(x, "--db-name", &v)) b.db_name = v;
    else if (value_of(x, "--db-passfile", &v)) b.db_passfile = v;
    else if (x == "--db-password" || x.rfind("--db-password=", 0) == 0) b.db_password = true;
    else if (x == "--he-remove-hosts") b.he_remove_hosts = true;
    else if (x == "--he-remove-storage-vm") b.he_remove_storage_vm = true;
    else {
      bool known = std::find(ignored_flags.begin(), ignored_flags.end(), x) != ignored_flags.end();
      for (const auto& name : ignored_values) known = known || x.rfind(name + "=", 0) == 0;
      if (!known && b.bad.empty()) b.bad = x;
    }
  }
  return b;
}

std::string installed_version(const Agent& a, std::string* error) {
  if (std::string v = appliance_version(a); !v.empty()) return v;
  const LabReply r = lab_get(a, "/lab/world");
  if (r.status != 200) {
    *error = r.error.empty() ? fmt::format("the lab engine answered {}", r.status) : r.error;
    return {};
  }
  return r.json()["engine"].value("version", "");
}

void append_log(const Agent& a, const std::string& log, const std::string& line) {
  std::string text;
  read_file(a.map(log), &text);
  write_file_atomic(a.map(log), text + fmt::format("{} {}\n", now_stamp(), line), 0640);
}

int usage() {
  out("engine-backup: back up and restore ovirt-engine environment\n"
      "USAGE:\n    /usr/bin/engine-backup [--mode=MODE] [--scope=SCOPE] [--file=FILE] [--log=FILE]\n");
  return 1;
}

/// pg_dump of a real database in the custom format (engine-backup's default
/// DB_DUMP_FORMAT); false with pg_dump's output in `*output`.
bool dump_database(Agent& a, const EngineDbConf& db, std::string* bytes, std::string* output) {
  const fs::path dump = a.map("/tmp") / fmt::format("engine-backup-{}-{}.dump", db.database, ::getpid());
  const int rc = db_client(a, db, {"pg_dump", "-Fc", "-E", "UTF8", "--disable-dollar-quoting", "--disable-triggers",
                                   "-f", dump.string()},
                           "", output);
  const bool ok = rc == 0 && read_file(dump, bytes);
  std::error_code ec;
  fs::remove(dump, ec);
  return ok;
}

int do_backup(Agent& a, const BackupArgs& b) {
  const std::string stamp = now_stamp();
  const std::string file = b.file.empty() ? "/var/lib/ovirt-engine-backup/ovirt-engine-backup-" + stamp + ".backup" : b.file;
  const std::string log = b.log.empty() ? "/var/log/ovirt-engine-backup/ovirt-engine-backup-" + stamp + ".log" : b.log;
  if (file == log) return fatal("--file and --log can not be the same");
  if (b.he_remove_hosts || b.he_remove_storage_vm) return fatal("hosted-engine cleaning options work only in restore mode");
  std::vector<std::string> scopes = b.scopes.empty() ? std::vector<std::string>{"all"} : b.scopes;
  for (const auto& s : scopes) {
    static const std::vector<std::string> known = {"all", "files", "db", "dwhdb", "keycloakdb", "grafanadb"};
    if (std::find(known.begin(), known.end(), s) == known.end()) return fatal("invalid scope '" + s + "'");
  }
  auto in_scope = [&](const std::string& s) {
    return std::find(scopes.begin(), scopes.end(), "all") != scopes.end() ||
           std::find(scopes.begin(), scopes.end(), s) != scopes.end();
  };
  std::string scope_line;
  for (const auto& s : scopes) scope_line += (scope_line.empty() ? "" : ",") + s;
  out("Start of engine-backup with mode 'backup'\n");
  out("scope: " + scope_line + "\n");
  out("archive file: " + file + "\n");
  out("log file: " + log + "\n");
  std::error_code ec;
  fs::create_directories(a.map(log).parent_path(), ec);
  append_log(a, log, "Start of engine-backup mode backup scope " + scope_line + " file " + file);

  const LabReply world = lab_get(a, "/lab/world");
  if (world.status != 200) {
    append_log(a, log, "FATAL: cannot read the engine database");
    return fatal("Database engine backup failed (the lab engine cannot be read: " +
                 (world.error.empty() ? std::to_string(world.status) : world.error) + ")");
  }
  const nlohmann::json w = world.json();
  out("Backing up:\n");
  she::BackupContent content;
  content.version = w["engine"].value("version", content.version);
  content.os_version = "centos8";
  if (in_scope("files")) {
    out("- Files\n");
    content.engine_fqdn = w["engine"].value("fqdn", "");
  }
  EngineDbConf db;
  const bool real_db = read_engine_db_conf(a, &db);
  if (real_db && in_scope("files")) content.files[kDbConfInFiles] = engine_db_conf_text(db);
  if (in_scope("db")) {
    out("- Engine database '" + db.database + "'\n");
    if (real_db) {
      std::string output;
      if (!dump_database(a, db, &content.dumps["db"], &output)) {
        append_log(a, log, "pg_dump: " + trim(output));
        return fatal("Database " + db.database + " backup failed: " + first_line(trim(output)));
      }
    } else {
      content.dumps["db"] = world.body;
    }
  }
  // DWH, when it is set up here: its settings with the files, its database
  // dumped for real (engine-backup backs up whatever is set up).
  EngineDbConf dwh;
  if (read_dwh_db_conf(a, &dwh)) {
    if (in_scope("files")) content.files[kDwhDbConfInFiles] = dwh_db_conf_text(dwh);
    if (in_scope("dwhdb")) {
      out("- DWH database '" + dwh.database + "'\n");
      std::string output;
      if (!dump_database(a, dwh, &content.dumps["dwhdb"], &output)) {
        append_log(a, log, "pg_dump: " + trim(output));
        return fatal("Database " + dwh.database + " backup failed: " + first_line(trim(output)));
      }
    }
  }
  if (!fs::is_directory(a.map(file).parent_path())) {
    append_log(a, log, "FATAL: Cannot create '" + file + "'");
    return fatal("Cannot create '" + file + "'");
  }
  out("Packing into file '" + file + "'\n");
  std::string error;
  if (!she::write_backup_archive(a.map(file).string(), content, &error)) {
    append_log(a, log, "FATAL: " + error);
    return fatal("Cannot create '" + file + "'");
  }
  append_log(a, log, "Done");
  out("Done.\n");
  return 0;
}

/// One database's provisioning as engine-backup narrates it, then back to
/// restoring; 0, else the tool's exit with the reason logged.
int provision_database(Agent& a, const std::string& log, const std::string& what, EngineDbConf* db) {
  out("Provisioning PostgreSQL users/databases:\n");
  out(fmt::format("- user '{}', database '{}'\n", db->user, db->database));
  std::string why;
  if (!provision_local(a, db, &why)) {
    append_log(a, log, "provisioning: " + why);
    return fatal("Provisioning the " + what + " database failed: " + why);
  }
  out("Restoring:\n");
  return 0;
}

void write_restore_record(const Agent& a, const BackupArgs& b, const std::string& log, const std::string& stamp,
                          const she::BackupSummary& summary, bool provisioning, int permissions) {
  nlohmann::json record = {{"file", b.file},
                           {"log", log},
                           {"time", stamp},
                           {"version", summary.version},
                           {"engine_fqdn", summary.engine_fqdn},
                           {"sha256", summary.sha256},
                           {"scopes", summary.scopes},
                           {"provisioned", provisioning},
                           {"restore_permissions", permissions == 1},
                           {"change_db_credentials", b.change_db_credentials},
                           {"he_remove_hosts", b.he_remove_hosts},
                           {"he_remove_storage_vm", b.he_remove_storage_vm}};
  write_file_atomic(a.map(kRestoreRecord), record.dump(2) + "\n", 0600);
}

/// engine-backup's verifyConnection then pg_restore of one database: it must
/// connect with `db`'s credentials and be empty. 0, else the tool's exit.
int restore_dump(Agent& a, const EngineDbConf& db, const std::string& dump, int permissions, const std::string& log) {
  std::string why;
  const int tables = count_tables(a, db, &why);
  if (tables < 0) {
    // As engine-backup's canConnectToDB: psql's words go to the log only.
    append_log(a, log, why);
    return fatal("Can't connect to database '" + db.database + "'. Please see '/usr/bin/engine-backup --help'.");
  }
  if (tables > 0) return fatal("Database '" + db.database + "' is not empty");
  const fs::path dump_file = a.map("/tmp") / fmt::format("engine-restore-{}-{}.dump", db.database, ::getpid());
  write_file_atomic(dump_file, dump, 0600);
  std::vector<std::string> args = {"pg_restore", "--no-owner", "-d", db.database, dump_file.string()};
  if (permissions == 0) args.insert(args.begin() + 1, "--no-privileges");
  std::string output;
  const int rc = db_client(a, db, args, "", &output);
  std::error_code ec;
  fs::remove(dump_file, ec);
  if (rc != 0) {
    append_log(a, log, "pg_restore: " + trim(output));
    return fatal("Errors while restoring database " + db.database + ": " + first_line(trim(output)));
  }
  return 0;
}

/// The DWH database, when the archive holds it: into the database the
/// backed-up DWH settings name (it must exist, empty: restore never creates
/// it), or one --provision-dwh-db makes on this host with those names.
int restore_dwh_database(Agent& a, const BackupArgs& b, const std::string& log, const she::BackupSummary& summary,
                         const std::map<std::string, std::string>& files,
                         const std::map<std::string, std::string>& entries, int permissions) {
  if (std::find(summary.scopes.begin(), summary.scopes.end(), "dwhdb") == summary.scopes.end()) return 0;
  const std::string& dump = entries.at(she::backup_scope_dumps().at("dwhdb"));
  if (!is_pg_dump(dump)) return 0;
  EngineDbConf dwh;
  dwh.user = dwh.database = "ovirt_engine_history";
  if (auto it = files.find(kDwhDbConfInFiles); it != files.end()) {
    write_file_atomic(a.map(kDwhDbConf), it->second, 0600);
    read_dwh_db_conf(a, &dwh);
  } else if (!read_dwh_db_conf(a, &dwh)) {
    return fatal("The backup holds a DWH database but no DWH settings (scope files) and DWH is not set up here");
  }
  if (b.provision_dwh_db || b.provision_all) {
    if (const int rc = provision_database(a, log, "DWH", &dwh)) return rc;
    write_dwh_db_conf(a, dwh);
  }
  out("- DWH database '" + dwh.database + "'\n");
  return restore_dump(a, dwh, dump, permissions, log);
}

/// The restore of a real engine database (a pg_dump custom dump) into the
/// server the engine will use: the credentials are the changed ones, the
/// provisioned ones, or the backed-up engine's; the server decides whether
/// they connect; the database must be empty.
int restore_real_database(Agent& a, const BackupArgs& b, const std::string& log, const std::string& stamp,
                          const she::BackupSummary& summary, const std::map<std::string, std::string>& files,
                          const std::map<std::string, std::string>& entries, bool provisioning, int permissions) {
  const std::string& dump = entries.at(she::backup_scope_dumps().at("db"));
  EngineDbConf db;
  if (b.change_db_credentials) {
    db.host = b.db_host;
    db.port = b.db_port.empty() ? "5432" : b.db_port;
    db.user = b.db_user;
    db.database = b.db_name;
    std::string pass;
    if (b.db_passfile.empty() || !read_file(a.map(b.db_passfile), &pass))
      return fatal("the lab reads the password from --db-passfile only");
    db.password = first_line(pass);
  } else if (auto it = files.find(kDbConfInFiles); it != files.end()) {
    write_file_atomic(a.map("/" + std::string(kDbConfInFiles)), it->second, 0600);
    read_engine_db_conf(a, &db);
  }
  out("Restoring:\n");
  if (std::find(summary.scopes.begin(), summary.scopes.end(), "files") != summary.scopes.end()) out("- Files\n");
  // engine-backup's --provision-all-databases provisions every database
  // the backup holds, the engine's among them.
  if (b.provision_db || b.provision_all)
    if (const int rc = provision_database(a, log, "engine", &db)) return rc;
  out("- Engine database '" + db.database + "'\n");
  if (const int rc = restore_dump(a, db, dump, permissions, log)) return rc;
  out("  - Cleaning up temporary tables in engine database '" + db.database + "'\n");
  out("  - Resetting DwhCurrentlyRunning in dwh_history_timekeeping in engine database\n");
  out("  - Resetting HA VM status\n");
  write_engine_db_conf(a, db);
  if (const int rc = restore_dwh_database(a, b, log, summary, files, entries, permissions)) return rc;
  write_restore_record(a, b, log, stamp, summary, provisioning, permissions);
  append_log(a, log, "You should now run engine-setup.");
  out("You should now run engine-setup.\n");
  out("Done.\n");
  return 0;
}

int do_restore(Agent& a, const BackupArgs& b) {
  const std::string stamp = now_stamp();
  const std::string log = b.log.empty() ? "/var/log/ovirt-engine-backup/ovirt-engine-restore-" + stamp + ".log" : b.log;
  if (b.file.empty()) return fatal("--file is missing");
  if (b.file == log) return fatal("--file and --log can not be the same");
  std::string scope_line;
  for (const auto& s : b.scopes) scope_line += (scope_line.empty() ? "" : ",") + s;
  out("Start of engine-backup with mode 'restore'\n");
  out("scope: " + (scope_line.empty() ? std::string("all") : scope_line) + "\n");
  out("archive file: " + b.file + "\n");
  out("log file: " + log + "\n");
  std::error_code ec;
  fs::create_directories(a.map(log).parent_path(), ec);
  append_log(a, log, "Start of engine-backup mode restore file " + b.file);

  // verifyArgs
  if (!fs::exists(a.map(b.file))) return fatal(b.file + " does not exist");
  const bool provisioning = b.provision_db || b.provision_dwh_db || b.provision_all;
  if (b.change_db_credentials && (b.provision_db || b.provision_all))
    return fatal("Cannot change credentials if provisioning a database");
  if (!b.db_passfile.empty() && ::access(a.map(b.db_passfile).c_str(), R_OK) != 0)
    return fatal("Can not read password file " + b.db_passfile);
  if (b.change_db_credentials) {
    if (b.db_host.empty()) return fatal("--db-host is missing");
    if (b.db_user.empty()) return fatal("--db-user is missing");
    if (b.db_passfile.empty() && !b.db_password) return fatal("--db-passfile or --db-password is missing");
    if (b.db_name.empty()) return fatal("--db-name is missing");
  } else if (!b.db_host.empty() || !b.db_user.empty() || !b.db_name.empty() || !b.db_passfile.empty() || b.db_password) {
    return fatal("Please use --change-db-credentials to change engine db credentials");
  }

  out("Preparing to restore:\n");
  if (fs::exists(a.map(kEngineUp))) return fatal("Engine service is active - can not restore backup");
  out("- Unpacking file '" + b.file + "'\n");
  she::BackupSummary summary;
  std::vector<std::string> problems;
  she::verify_backup_archive(a.map(b.file).string(), "", &summary, &problems);
  for (const auto& p : problems) {
    append_log(a, log, p);
    if (p.find("readable archive") != std::string::npos || p.find("damaged or truncated") != std::string::npos)
      return fatal("cannot open /tmp/engine-backup.lab");
  }
  if (!problems.empty()) return fatal("Checksum verification failed");
  std::string error;
  const std::string installed = installed_version(a, &error);
  if (installed.empty()) return fatal("cannot read the installed engine version: " + error);
  const std::string version_problem = she::version_pair_problem(summary.version, installed);
  if (!version_problem.empty()) return fatal(version_problem);
  // verifyArgsConfig: a custom dump needs a permissions choice, which any
  // provisioning makes by itself.
  const int permissions = b.restore_permissions >= 0 ? b.restore_permissions : provisioning ? 1 : -1;
  if (permissions < 0 && summary.dump_format == "custom")
    return fatal(
        "Please pass one of --restore-permissions or --no-restore-permissions when restoring a backup with a custom "
        "dump format");

  const bool has_db = std::find(summary.scopes.begin(), summary.scopes.end(), "db") != summary.scopes.end();
  std::map<std::string, std::string> entries, files;
  const std::string archive_path = a.map(b.file).string();
  tar_entries(&archive_path, nullptr, &entries);
  if (entries.count("files")) tar_entries(nullptr, &entries["files"], &files);
  const std::string& dump = entries[she::backup_scope_dumps().at("db")];
  const bool real_db = has_db && is_pg_dump(dump);
  if (real_db) return restore_real_database(a, b, log, stamp, summary, files, entries, provisioning, permissions);
  out("Restoring:\n");
  if (std::find(summary.scopes.begin(), summary.scopes.end(), "files") != summary.scopes.end()) out("- Files\n");
  if (provisioning && has_db) {
    out("Provisioning PostgreSQL users/databases:\n");
    out("- user 'engine', database 'engine'\n");
    out("Restoring:\n");
  }
  if (has_db) {
    out("- Engine database 'engine'\n");
    out("  - Cleaning up temporary tables in engine database 'engine'\n");
    out("  - Resetting DwhCurrentlyRunning in dwh_history_timekeeping in engine database\n");
    out("  - Resetting HA VM status\n");
    out("------------------------------------------------------------------------------\n"
        "Please note:\n\n"
        "The engine database was backed up at " + stamp +
        " .\n\nObjects that were added, removed or changed after this date, such as virtual\n"
        "machines, disks, etc., are missing in the engine, and will probably require\n"
        "recovery or recreation.\n"
        "------------------------------------------------------------------------------\n");
  }
  if (b.he_remove_storage_vm) out("  - Removing the hosted-engine storage domain, all its entities and the hosted-engine VM.\n");
  if (b.he_remove_hosts)
    out("  - Removing all the hosted-engine hosts.\n"
        "  - Please redeploy already existing HE hosts IMMEDIATELY after restore, to avoid possible SPM deadlocks.\n");
  write_restore_record(a, b, log, stamp, summary, provisioning, permissions);
  append_log(a, log, "You should now run engine-setup.");
  out("You should now run engine-setup.\n");
  out("Done.\n");
  return 0;
}

}  // namespace

std::string appliance_version(const Agent& a) {
  std::string v;
  return read_file(a.map("/etc/she-lab/engine-version"), &v) ? trim(v) : std::string();
}

int engine_backup(Agent& a, const Args& argv) {
  const BackupArgs b = parse(argv);
  if (!b.bad.empty()) return usage();
  if (b.mode == "backup") return do_backup(a, b);
  if (b.mode == "restore") return do_restore(a, b);
  return fatal("invalid mode");
}

int engine_setup(Agent& a, const Args& argv) {
  std::vector<std::string> appends;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& x = argv[i];
    if (x == "--accept-defaults" || x == "--offline") continue;
    if (x.rfind("--config-append=", 0) == 0) {
      appends.push_back(x.substr(16));
      continue;
    }
    err("Error: no such option: " + x + "\n");
    return 1;
  }
  out("[ INFO  ] Stage: Initializing\n[ INFO  ] Stage: Environment setup\n");
  for (const auto& f : appends)
    if (!fs::exists(a.map(f))) {
      out(fmt::format("[ ERROR ] Failed to execute stage 'Environment setup': [Errno 2] No such file or directory: '{}'\n", f));
      out("[ INFO  ] Stage: Clean up\n[ ERROR ] Execution of setup failed\n");
      return 1;
    }
  out(fmt::format("          Configuration files: {}\n", appends.empty() ? std::string("[]") : appends.front()));
  out("[ INFO  ] Stage: Environment packages setup\n[ INFO  ] Stage: Programs detection\n"
      "[ INFO  ] Stage: Environment customization\n");
  std::string record;
  if (!read_file(a.map(kRestoreRecord), &record)) {
    // The lab only simulates engine-setup on a restored engine.
    out("[ ERROR ] Failed to execute stage 'Environment customization': the lab's engine-setup runs only on an engine "
        "restored with engine-backup --mode=restore (no restored database here)\n");
    out("[ INFO  ] Stage: Clean up\n[ ERROR ] Execution of setup failed\n");
    return 1;
  }
  EngineDbConf db;
  if (read_engine_db_conf(a, &db)) {
    std::string why;
    if (count_tables(a, db, &why) <= 0) {
      out(fmt::format("[ ERROR ] Failed to execute stage 'Environment customization': Cannot connect to Engine database "
                      "using existing credentials: {}@{}:{}\n",
                      db.user, db.host, db.port));
      err(why + "\n");
      out("[ INFO  ] Stage: Clean up\n[ ERROR ] Execution of setup failed\n");
      return 1;
    }
  }
  out("[ INFO  ] Stage: Setup validation\n[ INFO  ] Stage: Transaction setup\n[ INFO  ] Stage: Misc configuration\n"
      "[ INFO  ] Stage: Package installation\n[ INFO  ] Stage: Misc configuration\n"
      "[ INFO  ] Upgrading Database Schema\n[ INFO  ] Stage: Transaction commit\n"
      "[ INFO  ] Stage: Closing up\n[ INFO  ] Starting engine service\n"
      "[ INFO  ] Stage: Clean up\n[ INFO  ] Stage: Pre-termination\n[ INFO  ] Stage: Termination\n");
  // The legacy restore's engine VM: the restored database holds the world
  // the engine knew (staged_disaster.h); the engine now serves it.
  std::string doc;
  if (read_engine_db_conf(a, &db) && db_query(a, db, "select doc from she_lab_world;\n", &doc) == 0 &&
      !trim(doc).empty()) {
    nlohmann::json restored = nlohmann::json::parse(trim(doc), nullptr, false);
    const LabReply r = restored.is_object() ? lab_post(a, "/lab/he-legacy-engine-setup", {{"db", restored}}) : LabReply{};
    if (r.status != 200) {
      out("[ ERROR ] Failed to execute stage 'Closing up': the engine did not start (she-lab: " +
          (r.error.empty() ? r.body : r.error) + ")\n");
      out("[ INFO  ] Stage: Clean up\n[ ERROR ] Execution of setup failed\n");
      return 1;
    }
  }
  write_file_atomic(a.map(kEngineUp), fmt::format("{}\n", ::getpid()), 0644);
  out("[ INFO  ] Execution of setup completed successfully\n");
  return 0;
}

int engine_cleanup(Agent& a, const Args& argv) {
  for (std::size_t i = 1; i < argv.size(); ++i) {
    if (argv[i] == "--accept-defaults" || argv[i] == "--offline") continue;
    err("Error: no such option: " + argv[i] + "\n");
    return 1;
  }
  out("[ INFO  ] Stage: Initializing\n[ INFO  ] Stage: Environment setup\n");
  EngineDbConf db;
  if (!read_engine_db_conf(a, &db)) {
    out("[ ERROR ] Failed to execute stage 'Environment setup': the engine is not set up on this machine (no "
        "/etc/ovirt-engine/engine.conf.d/10-setup-database.conf)\n");
    out("[ INFO  ] Stage: Clean up\n[ ERROR ] Execution of cleanup failed\n");
    return 1;
  }
  out("[ INFO  ] Stage: Environment customization\n"
      "[ INFO  ] Stage: Setup validation\n"
      "          During execution engine service will be stopped (OK, Cancel) [OK]: OK\n"
      "[ INFO  ] Stage: Transaction setup\n[ INFO  ] Stopping engine service\n");
  std::error_code ec;
  fs::remove(a.map(kEngineUp), ec);
  out("[ INFO  ] Stage: Misc configuration\n[ INFO  ] Stage: Package installation\n"
      "[ INFO  ] Stage: Misc configuration\n[ INFO  ] Clearing Engine database " + db.database + "\n");
  // The database and its owner stay (the seeds' overwrite relies on it):
  // only the content goes.
  std::string output;
  if (db_query(a, db, "drop schema public cascade;\ncreate schema public;\n", &output) != 0) {
    out("[ ERROR ] Failed to execute stage 'Misc configuration': " + first_line(trim(output)) + "\n");
    out("[ INFO  ] Stage: Clean up\n[ ERROR ] Execution of cleanup failed\n");
    return 1;
  }
  EngineDbConf dwh;
  if (read_dwh_db_conf(a, &dwh)) {
    out("[ INFO  ] Clearing DWH database " + dwh.database + "\n");
    if (db_query(a, dwh, "drop schema public cascade;\ncreate schema public;\n", &output) != 0) {
      out("[ ERROR ] Failed to execute stage 'Misc configuration': " + first_line(trim(output)) + "\n");
      out("[ INFO  ] Stage: Clean up\n[ ERROR ] Execution of cleanup failed\n");
      return 1;
    }
    remove_dwh_db_conf(a);
  }
  remove_engine_db_conf(a);
  fs::remove(a.map(kRestoreRecord), ec);
  out("[ INFO  ] Stage: Transaction commit\n[ INFO  ] Stage: Closing up\n"
      "          --== SUMMARY ==--\n"
      "          Engine setup successfully cleaned up\n"
      "[ INFO  ] Stage: Clean up\n[ INFO  ] Stage: Pre-termination\n[ INFO  ] Stage: Termination\n"
      "[ INFO  ] Execution of cleanup completed successfully\n");
  return 0;
}

}  // namespace she::lab::agent
