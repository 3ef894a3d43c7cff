// The standalone-engine procedures of seeds 002 and 003 end to end on the
// lab (examples/lab/engine-standalone.yaml): a real PostgreSQL behind the
// engine machines, the restored rows read back with psql.
#include <doctest/doctest.h>

#include "lab/postgres_server.h"
#include "tests/procedure_lab.h"

namespace she::test {

namespace {

struct EngineProcedureLab : ProcedureLab {
  EngineProcedureLab() : ProcedureLab("examples/lab/engine-standalone.yaml") {}

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
    const fs::path archive = fleet.host("engine").in_sandbox("/var/lib/ovirt-engine-backup/" + name);
    ProcessResult r = run("engine-backup-for-restore", "  archive_name: " + name + "\n", "", "engine-backup");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    REQUIRE(fs::exists(fleet.host("backup_storage").in_sandbox(std::string(lab::kLabBackupPath) + "/" + name)));
    (void)archive;
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
};

}  // namespace

TEST_CASE("engine-restore-fresh: the database prepared by hand on a fresh machine") {
  if (lab::postgres_bin_dir().empty()) return;
  EngineProcedureLab lab;
  const std::string backup = lab.stored_engine_backup();
  const fs::path pass = lab.secret_file("db-password", "Fresh-Db-Pass-7");
  ProcessResult r = lab.run("restore-fresh",
                            "  backup: " + backup +
                                "\n  target: new_engine\n  permissions: no-restore\n"
                                "  db_locale: C.UTF-8\n  db_password: file:" + pass.string() + "\n",
                            "", "engine-restore-fresh");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  lab.check_restored("new_engine", "new_engine");
  CHECK(lab.sql("new_engine", "select datcollate from pg_database where datname = 'engine';", "postgres") == "C.UTF-8");
  for (const auto& h : lab.fleet.hosts())
    CHECK(read_file(h.agent_log).find("Fresh-Db-Pass-7") == std::string::npos);
  CHECK(r.output.find("Fresh-Db-Pass-7") == std::string::npos);
}

}  // namespace she::test
