// The standalone-engine lab of seeds 002 and 003 (examples/lab/
// engine-standalone*.yaml) for tests: the procedures' lab plus SQL on a
// host's real PostgreSQL, a stored engine backup, database passwords in
// 0600 files and the checks every engine restore ends with.
#pragma once

#include "lab/postgres_server.h"
#include "tests/procedure_lab.h"

namespace she::test {

struct EngineProcedureLab : ProcedureLab {
  explicit EngineProcedureLab(const char* scenario = "examples/lab/engine-standalone.yaml") : ProcedureLab(scenario) {}

  /// SQL as the superuser on `host`'s own server; its output, trailing
  /// blanks cut.
  std::string sql(const std::string& host, const std::string& query, const std::string& database = "engine") {
    std::string out;
    const int rc = lab::pg_superuser_sql(lab::PostgresInstance::of_sandbox(fleet.host(host).sandbox), query, &out,
                                         database);
    INFO(out);
    CHECK(rc == 0);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }

  /// A backup of the set-up engine in backup storage, as engine-backup
  /// writes it (the lab's real dump of the engine's database).
  std::string stored_engine_backup() {
    const std::string name = "engine-standalone.backup";
    ProcessResult r = run("engine-backup-for-restore", "  archive_name: " + name + "\n", "", "engine-backup");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    REQUIRE(fs::exists(fleet.host("backup_storage").in_sandbox(std::string(lab::kLabBackupPath) + "/" + name)));
    return name;
  }

  fs::path secret_file(const std::string& name, const std::string& value) {
    fs::path p = dir.path() / name;
    write_file(p, value + "\n");
    fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
    return p;
  }

  /// The acceptance's final state on `target`: set up (engine.up), the
  /// database holding the backed-up rows, the engine healthy.
  void check_restored(const std::string& target, const std::string& db_host) {
    CHECK(fs::exists(fleet.host(target).in_sandbox("/var/lib/ovirt-engine/engine.up")));
    CHECK(sql(db_host, "select string_agg(vds_name, ',' order by vds_name) from vds_static;") == "host_1,host_2");
    CHECK(sql(db_host, "select string_agg(vm_name, ',' order by vm_name) from vm_static;") == "db_vm,web_1");
    CHECK(engine.world.engine().health_up);
  }

  /// A database password a run was given is nowhere it leaves words: its
  /// output, its state directory (journal, log), the hosts' command logs.
  void check_not_leaked(const std::string& output, const std::string& secret) {
    CHECK(output.find(secret) == std::string::npos);
    if (fs::exists(dir.path() / "state"))
      for (auto& e : fs::recursive_directory_iterator(dir.path() / "state"))
        if (e.is_regular_file()) CHECK_MESSAGE(read_file(e.path()).find(secret) == std::string::npos, e.path());
    for (const auto& h : fleet.hosts()) CHECK_MESSAGE(read_file(h.agent_log).find(secret) == std::string::npos, h.name);
  }
};

}  // namespace she::test
