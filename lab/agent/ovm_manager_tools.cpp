// The Oracle VM Manager's own tools (lab/agent/agent.h), on the manager's
// lab host: `service ovmm stop|start|status`, BackupDatabase (a manual
// backup of the manager's database to dbbackup/ManualBackup-STAMP) and
// RestoreDatabase.sh BACKUP, which refuses while the manager runs. The
// database is the file the lab CLI answers from (lab/ovm/ovm_cli_server.h).
#include <fmt/format.h>

#include "lab/agent/agent.h"

namespace she::lab::agent {

namespace {

const char* const kDatabase = "/u01/app/oracle/mysql/data/ovs.json";
const char* const kBackups = "/u01/app/oracle/mysql/dbbackup";
const char* const kRunning = "/var/run/ovmm.running";

int service(const Agent& a, const Args& argv) {
  if (argv.size() != 3 || argv[1] != "ovmm") {
    err("she-lab-agent: service: the lab simulates only the ovmm service\n");
    return 1;
  }
  const bool running = fs::exists(a.map(kRunning));
  if (argv[2] == "status") {
    out(running ? "Oracle VM Manager is running...\n" : "Oracle VM Manager is stopped\n");
    return running ? 0 : 3;
  }
  if (argv[2] == "stop") {
    std::error_code ec;
    fs::remove(a.map(kRunning), ec);
    out("Stopping Oracle VM Manager                                 [  OK  ]\n");
    return 0;
  }
  if (argv[2] == "start") {
    if (!fs::exists(a.map(kDatabase))) {
      err("Starting Oracle VM Manager: the database ovs cannot be opened     [FAILED]\n");
      return 1;
    }
    write_file_atomic(a.map(kRunning), "1\n");
    out("Starting Oracle VM Manager                                 [  OK  ]\n");
    return 0;
  }
  err(fmt::format("Usage: service ovmm {{start|stop|status}}\n"));
  return 1;
}

int backup_database(const Agent& a, const Args& argv) {
  if (argv.size() != 2 || argv[1] != "-w") {
    err("she-lab-agent: BackupDatabase: the lab simulates only -w (wait for the backup job)\n");
    return 1;
  }
  std::string db;
  if (!fs::exists(a.map(kRunning)) || !read_file(a.map(kDatabase), &db)) {
    err("ERROR: Unable to connect to Oracle VM Manager at https://localhost:7002\n");
    return 1;
  }
  const std::string dir = fmt::format("{}/ManualBackup-{}_{}", kBackups, now_stamp().substr(0, 8), now_stamp().substr(8));
  fs::create_directories(a.map(dir));
  write_file_atomic(a.map(dir + "/ovs.json"), db, 0600);
  out(fmt::format("INFO: Backup job starting with destination:\n      {}\n\nINFO: Backup job finished\n", dir));
  return 0;
}

int restore_database(const Agent& a, const Args& argv) {
  if (argv.size() != 2) {
    err("Usage: RestoreDatabase.sh <backup directory>\n");
    return 1;
  }
  if (fs::exists(a.map(kRunning))) {
    err("ERROR: Oracle VM Manager is running. Stop it first: service ovmm stop\n");
    return 1;
  }
  std::string backup = argv[1];
  if (backup.find('/') == std::string::npos) backup = std::string(kBackups) + "/" + backup;
  std::string db;
  if (!read_file(a.map(backup + "/ovs.json"), &db)) {
    err(fmt::format("ERROR: {} is not an Oracle VM Manager database backup\n", argv[1]));
    return 1;
  }
  fs::create_directories(a.map(kDatabase).parent_path());
  write_file_atomic(a.map(kDatabase), db, 0600);
  out(fmt::format("INFO: Restoring the Oracle VM Manager database from {}\nINFO: Restore finished\n", backup));
  return 0;
}

}  // namespace

int ovm_manager_command(Agent& a, const Args& argv, bool* handled) {
  static const std::vector<std::pair<std::string, std::string>> tools = {
      {"service", "/sbin/service"},
      {"BackupDatabase", "/u01/app/oracle/ovm-manager-3/ovm_tools/bin/BackupDatabase"},
      {"RestoreDatabase.sh", "/u01/app/oracle/ovm-manager-3/ovm_tools/bin/RestoreDatabase.sh"}};
  const std::string name = fs::path(argv[0]).filename().string();
  *handled = false;
  for (const auto& [tool, marker] : tools)
    if (name == tool) {
      *handled = true;
      if (!fs::exists(a.map(marker))) {
        err("bash: line 1: " + argv[0] + ": command not found\n");
        return 127;
      }
    }
  if (!*handled) return 127;
  if (name == "service") return service(a, argv);
  if (name == "BackupDatabase") return backup_database(a, argv);
  return restore_database(a, argv);
}

}  // namespace she::lab::agent
