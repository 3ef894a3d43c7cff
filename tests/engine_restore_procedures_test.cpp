// The standalone-engine procedures of seeds 002 and 003 end to end on the
// lab (examples/lab/engine-standalone.yaml): a real PostgreSQL behind the
// engine machines, the restored rows read back with psql.
#include <doctest/doctest.h>

#include "lab/postgres_server.h"
#include "tests/engine_lab.h"

namespace she::test {

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
  lab.check_not_leaked(r.output, "Fresh-Db-Pass-7");
}

TEST_CASE("engine-restore-overwrite: engine-cleanup then the backed-up credentials") {
  if (lab::postgres_bin_dir().empty()) return;
  EngineProcedureLab lab;
  const std::string backup = lab.stored_engine_backup();
  // What happened after the backup, that the restore takes back.
  lab.sql("engine", "insert into vds_static values ('x', 'host_added_later', 'later.example.com');");
  ProcessResult r = lab.run("restore-overwrite", "  backup: " + backup + "\n  permissions: restore\n", "",
                            "engine-restore-overwrite");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  lab.check_restored("engine", "engine");
  lab.check_no_secret_leaked(r.output);
}

TEST_CASE("engine-restore-credentials: a new password for the owner then --change-db-credentials") {
  if (lab::postgres_bin_dir().empty()) return;
  EngineProcedureLab lab;
  const std::string backup = lab.stored_engine_backup();
  const fs::path pass = lab.secret_file("db-password", "Changed-Db-Pass-3");
  ProcessResult r = lab.run("restore-credentials",
                            "  backup: " + backup + "\n  permissions: restore\n  db_password: file:" + pass.string() + "\n",
                            "", "engine-restore-credentials");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  lab.check_restored("engine", "engine");
  const std::string conf = read_file(lab.fleet.host("engine").in_sandbox("/etc/ovirt-engine/engine.conf.d/10-setup-database.conf"));
  CHECK(conf.find("Changed-Db-Pass-3") != std::string::npos);  // the engine's own 0600 settings hold it
  lab.check_not_leaked(r.output, "Changed-Db-Pass-3");
}

TEST_CASE("engine-db-migrate-remote: the database moves to a prepared remote server") {
  if (lab::postgres_bin_dir().empty()) return;
  EngineProcedureLab lab;
  const fs::path pass = lab.secret_file("db-password", "Remote-Db-Pass-5");
  const std::string with = "  database_machine: db_1\n  db_host: db1.example.com\n  engine_address: " +
                           lab.fleet.host("engine").address + "\n  permissions: no-restore\n  db_locale: C.UTF-8\n"
                           "  db_password: file:" + pass.string() + "\n";
  ProcessResult r = lab.run("migrate", with, "", "engine-db-migrate-remote");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  lab.check_restored("engine", "db_1");
  CHECK(lab.sql("engine", "select count(*) from pg_tables where schemaname = 'public';") == "0");
  const std::string conf = read_file(lab.fleet.host("engine").in_sandbox("/etc/ovirt-engine/engine.conf.d/10-setup-database.conf"));
  CHECK(conf.find("ENGINE_DB_HOST=\"db1.example.com\"") != std::string::npos);
  lab.check_not_leaked(r.output, "Remote-Db-Pass-5");
}

TEST_CASE("engine restores with DWH: the backup's scopes decide - the DWH rows come back") {
  if (lab::postgres_bin_dir().empty()) return;
  EngineProcedureLab lab("examples/lab/engine-standalone-dwh.yaml");
  const std::string backup = lab.stored_engine_backup();
  const std::string manifest = read_file(lab.fleet.host("backup_storage").in_sandbox(
      std::string(lab::kLabBackupPath) + "/" + backup + ".manifest.json"));
  INFO(manifest);
  CHECK(manifest.find("\"dwhdb\"") != std::string::npos);
  const std::string dwh_rows = "select string_agg(host_name, ',' order by host_name) from host_configuration;";
  const fs::path pass = lab.secret_file("db-password", "Fresh-Db-Pass-7");

  SUBCASE("overwrite: engine-cleanup empties both databases and the restore fills both") {
    // A row DWH wrote after the backup: the restore's rows replace it.
    lab.sql("engine", "insert into host_configuration values ('late', 'host_late');", "ovirt_engine_history");
    ProcessResult r = lab.run("overwrite-dwh", "  backup: " + backup + "\n  permissions: restore\n", "",
                              "engine-restore-overwrite");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    lab.check_restored("engine", "engine");
    CHECK(lab.sql("engine", dwh_rows, "ovirt_engine_history") == "host_1,host_2");
  }
  SUBCASE("fresh machine: the DWH database provisioned by engine-backup") {
    ProcessResult r = lab.run("fresh-dwh", "  backup: " + backup + "\n  target: new_engine\n  permissions: restore\n"
                              "  db_locale: C.UTF-8\n  db_password: file:" + pass.string() + "\n", "", "engine-restore-fresh");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    lab.check_restored("new_engine", "new_engine");
    CHECK(lab.sql("new_engine", dwh_rows, "ovirt_engine_history") == "host_1,host_2");
    CHECK(lab.agent_commands("new_engine", "--provision-dwh-db") == 1);
  }
  SUBCASE("fresh machine from a backup without DWH: no DWH database made") {
    REQUIRE(lab.run("no-dwh", "  archive_name: no-dwh.backup\n  scope: [files, db]\n", "", "engine-backup").exit_code == 0);
    ProcessResult r = lab.run("fresh-no-dwh", "  backup: no-dwh.backup\n  target: new_engine\n  permissions: restore\n"
                              "  db_locale: C.UTF-8\n  db_password: file:" + pass.string() + "\n", "", "engine-restore-fresh");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    lab.check_restored("new_engine", "new_engine");
    CHECK(lab.sql("new_engine", "select count(*) from pg_database where datname = 'ovirt_engine_history';",
                  "postgres") == "0");
    CHECK(lab.agent_commands("new_engine", "--provision-dwh-db") == 0);
  }
}

TEST_CASE("engine restores: negative - each a clear stop naming the step and the remedy") {
  if (lab::postgres_bin_dir().empty()) return;
  EngineProcedureLab lab;
  const std::string backup = lab.stored_engine_backup();
  const fs::path pass = lab.secret_file("db-password", "Fresh-Db-Pass-7");
  const fs::path wrong = lab.secret_file("wrong-password", "not-the-password");

  SUBCASE("restore into a database that is not empty") {
    // The role and database exist and hold an engine already (a restore
    // done by hand whose engine-setup never ran).
    const std::string with = "  backup: " + backup + "\n  target: new_engine\n  permissions: restore\n"
                             "  db_locale: C.UTF-8\n  db_password: file:" + pass.string() + "\n";
    REQUIRE(lab.run("fresh-1", with, "", "engine-restore-fresh").exit_code == 0);
    fs::remove(lab.fleet.host("new_engine").in_sandbox("/etc/ovirt-engine/engine.conf.d/10-setup-database.conf"));
    fs::remove(lab.fleet.host("new_engine").in_sandbox("/var/lib/ovirt-engine/engine.up"));
    ProcessResult r = lab.run("fresh-2", with, "", "engine-restore-fresh");
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("restore") != std::string::npos);
    CHECK(r.output.find("Database 'engine' is not empty") != std::string::npos);
    CHECK(r.output.find("run engine-cleanup first") != std::string::npos);
  }
  SUBCASE("overwrite without cleanup") {
    // The fresh-install procedure pointed at the set-up engine stops before any write.
    ProcessResult r = lab.run("fresh-on-engine", "  backup: " + backup + "\n  target: engine\n  permissions: restore\n"
                              "  db_password: file:" + pass.string() + "\n", "", "engine-restore-fresh");
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("check-target-fresh") != std::string::npos);
    CHECK(lab.agent_commands("engine", "engine-backup --mode=restore") == 0);
  }
  SUBCASE("wrong database password") {
    // The owner's password is set on the server to one value, the restore given another.
    const std::string with = "  backup: " + backup + "\n  permissions: restore\n  db_password: file:" + pass.string() + "\n";
    REQUIRE(lab.run("creds-1", with, "", "engine-restore-credentials").exit_code == 0);
    lab.sql("engine", "alter role engine password 'somebody-else-set-this';", "postgres");
    ProcessResult r = lab.run("overwrite-wrong", "  backup: " + backup + "\n  permissions: restore\n", "",
                              "engine-restore-overwrite");
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("engine-cleanup: FAILED") != std::string::npos);
    CHECK(r.output.find("password authentication failed") != std::string::npos);
    CHECK(r.output.find("Remedy: the database password is not the role's") != std::string::npos);
    // The remedy it names: engine-restore-credentials sets a password it
    // then uses (once engine-cleanup can connect again).
    lab.sql("engine", "alter role engine password 'Fresh-Db-Pass-7';", "postgres");
    ProcessResult r2 = lab.run("creds-wrong", "  backup: " + backup + "\n  permissions: restore\n  db_password: file:" +
                                                  wrong.string() + "\n  db_host: localhost\n", "", "engine-restore-credentials");
    INFO(r2.output);
    CHECK(r2.exit_code == 0);
    lab.check_restored("engine", "engine");
  }
  SUBCASE("pg_hba.conf not allowing the engine host") {
    // The engine's address as the plan says is not the one it connects from.
    const std::string with = "  database_machine: db_1\n  db_host: db1.example.com\n  engine_address: 127.0.0.250"
                             "\n  permissions: no-restore\n  db_locale: C.UTF-8\n  db_password: file:" + pass.string() + "\n";
    ProcessResult r = lab.run("migrate-hba", with, "", "engine-db-migrate-remote");
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("no pg_hba.conf entry for host") != std::string::npos);
    CHECK(r.output.find("add a pg_hba.conf entry") != std::string::npos);
  }
  SUBCASE("a backup without the scope the restore needs") {
    // A files-only backup: the restore stops at the verify step, before
    // the archive is copied or anything on the target is touched.
    REQUIRE(lab.run("files-only", "  archive_name: files-only.backup\n  scope: [files]\n", "", "engine-backup").exit_code == 0);
    ProcessResult r = lab.run("fresh-files-only", "  backup: files-only.backup\n  target: new_engine\n  permissions: restore\n"
                              "  db_locale: C.UTF-8\n  db_password: file:" + pass.string() + "\n", "", "engine-restore-fresh");
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("verify-archive") != std::string::npos);
    CHECK(r.output.find("lacks the engine database (scope db)") != std::string::npos);
    CHECK(r.output.find("remedy: take the backup again with engine-backup --scope=all") != std::string::npos);
    CHECK(lab.agent_commands("new_engine", "engine-backup") == 0);
  }
  SUBCASE("provisioning with changed credentials") {
    // A plan asking engine-backup for both is refused before anything runs.
    const fs::path plan = lab.dir.path() / "provision-and-change.yaml";
    write_file(plan, "plan: provision-and-change\nenvironment: " + lab.environment.string() +
                         "\nsteps:\n  - id: restore\n    uses: engine_backup.restore\n    with:\n"
                         "      host: new_engine\n      file: /root/x.backup\n      provision_db: true\n"
                         "      permissions: restore\n      change_db_credentials: true\n      db_host: localhost\n"
                         "      db_user: engine\n      db_name: engine\n      db_password: file:" + pass.string() + "\n");
    ProcessResult r = she_restore("'" + plan.string() + "' --yes --state-dir '" + (lab.dir.path() / "state").string() + "'");
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("step 'restore'") != std::string::npos);
    CHECK(r.output.find("Cannot change credentials if provisioning a database") != std::string::npos);
    CHECK(lab.agent_commands("new_engine", "engine-backup") == 0);
  }
}

}  // namespace she::test
