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
#include <fmt/format.h>
#include <unistd.h>

#include "hosts/backup_archive.h"
#include "lab/agent/agent.h"

namespace she::lab::agent {

namespace {

constexpr const char* kEngineUp = "/var/lib/ovirt-engine/engine.up";
constexpr const char* kRestoreRecord = "/var/lib/she-lab/engine-restore.json";

int fatal(const std::string& message) {
  err("FATAL: " + message + "\n");
  return 1;
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
  std::string v;
  if (read_file(a.map("/etc/she-lab/engine-version"), &v) && !trim(v).empty()) return trim(v);
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
  if (in_scope("db")) {
    out("- Engine database 'engine'\n");
    content.dumps["db"] = world.body;
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
  if (b.change_db_credentials && provisioning) return fatal("Cannot change credentials if provisioning a database");
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
  append_log(a, log, "You should now run engine-setup.");
  out("You should now run engine-setup.\n");
  out("Done.\n");
  return 0;
}

}  // namespace

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
  out("[ INFO  ] Stage: Setup validation\n[ INFO  ] Stage: Transaction setup\n[ INFO  ] Stage: Misc configuration\n"
      "[ INFO  ] Stage: Package installation\n[ INFO  ] Stage: Misc configuration\n"
      "[ INFO  ] Upgrading Database Schema\n[ INFO  ] Stage: Transaction commit\n"
      "[ INFO  ] Stage: Closing up\n[ INFO  ] Starting engine service\n"
      "[ INFO  ] Stage: Clean up\n[ INFO  ] Stage: Pre-termination\n[ INFO  ] Stage: Termination\n");
  write_file_atomic(a.map(kEngineUp), fmt::format("{}\n", ::getpid()), 0644);
  out("[ INFO  ] Execution of setup completed successfully\n");
  return 0;
}

}  // namespace she::lab::agent
