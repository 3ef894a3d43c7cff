// The lab's standalone-engine machines with a real PostgreSQL (seeds 002 and
// 003): engine-backup dumps the engine's database for real, restores into a
// real server, and the server, pg_hba.conf and engine-backup's own rules
// decide what fails.
#include <doctest/doctest.h>

#include "hosts/ssh_session.h"
#include "lab/postgres_server.h"
#include "tests/engine_lab.h"

namespace she::test {

namespace {

struct EngineLab : EngineProcedureLab {
  void write_on(const std::string& host, const std::string& path, const std::string& text,
                fs::perms mode = fs::perms::owner_read | fs::perms::owner_write) {
    const fs::path p = fleet.host(host).in_sandbox(path);
    fs::create_directories(p.parent_path());
    write_file(p, text);
    fs::permissions(p, mode);
  }

  /// A backup of the set-up engine, copied to `to`'s /root/engine.backup.
  void backup_to(const std::string& to) {
    ExecResult r = run_on("engine", "engine-backup --mode=backup --file=/var/lib/ovirt-engine-backup/e.backup "
                                    "--log=/var/log/ovirt-engine-backup/e.log");
    INFO(r.stdout_tail << r.stderr_tail);
    REQUIRE(r.exit_status == 0);
    const fs::path archive = fleet.host("engine").in_sandbox("/var/lib/ovirt-engine-backup/e.backup");
    fs::copy_file(archive, fleet.host(to).in_sandbox("/root/engine.backup"), fs::copy_options::overwrite_existing);
  }
};

}  // namespace

TEST_CASE("lab engine machines: a real database is dumped then provisioned and restored on a fresh machine") {
  if (lab::postgres_bin_dir().empty()) return;
  EngineLab lab;
  CHECK(lab.sql("engine", "select count(*) from vds_static;") == "2");
  lab.backup_to("new_engine");
  ExecResult r = lab.run_on("new_engine", "engine-backup --mode=restore --file=/root/engine.backup --log=/root/r.log");
  CHECK(r.exit_status == 1);
  CHECK(r.stderr_tail.find("--restore-permissions or --no-restore-permissions") != std::string::npos);
  r = lab.run_on("new_engine", "engine-setup --accept-defaults");
  CHECK(r.exit_status == 1);
  r = lab.run_on("new_engine",
                 "engine-backup --mode=restore --file=/root/engine.backup --log=/root/r.log --provision-db "
                 "--restore-permissions");
  INFO(r.stdout_tail << r.stderr_tail);
  REQUIRE(r.exit_status == 0);
  CHECK(lab.sql("new_engine", "select string_agg(vds_name, ',' order by vds_name) from vds_static;") == "host_1,host_2");
  CHECK(lab.sql("new_engine", "select count(*) from vm_static;") == "2");
  r = lab.run_on("new_engine", "engine-setup --accept-defaults");
  CHECK(r.exit_status == 0);
  CHECK(fs::exists(lab.fleet.host("new_engine").in_sandbox("/var/lib/ovirt-engine/engine.up")));
  // The password provisioning chose is the engine's own (0600), never the old machine's.
  const std::string conf = read_file(lab.fleet.host("new_engine").in_sandbox("/etc/ovirt-engine/engine.conf.d/10-setup-database.conf"));
  CHECK(conf.find("ENGINE_DB_HOST=\"localhost\"") != std::string::npos);
}

TEST_CASE("lab engine machines: overwrite needs engine-cleanup and an empty database") {
  if (lab::postgres_bin_dir().empty()) return;
  EngineLab lab;
  lab.backup_to("engine");
  const std::string restore =
      "engine-backup --mode=restore --file=/root/engine.backup --log=/root/r.log --restore-permissions";
  ExecResult r = lab.run_on("engine", restore);
  CHECK(r.exit_status == 1);
  CHECK(r.stderr_tail.find("Engine service is active") != std::string::npos);
  // The service stopped by hand is not a cleanup: the database still holds the engine.
  lab.run_on("engine", "rm -f /var/lib/ovirt-engine/engine.up");
  r = lab.run_on("engine", restore);
  CHECK(r.exit_status == 1);
  CHECK(r.stderr_tail.find("Database 'engine' is not empty") != std::string::npos);
  r = lab.run_on("engine", "engine-cleanup --accept-defaults");
  INFO(r.stdout_tail << r.stderr_tail);
  REQUIRE(r.exit_status == 0);
  CHECK(lab.sql("engine", "select count(*) from pg_tables where schemaname = 'public';") == "0");
  CHECK(lab.sql("engine", "select count(*) from pg_roles where rolname = 'engine';", "postgres") == "1");
  r = lab.run_on("engine", restore);
  INFO(r.stdout_tail << r.stderr_tail);
  REQUIRE(r.exit_status == 0);
  CHECK(lab.sql("engine", "select count(*) from vds_static;") == "2");
  CHECK(lab.run_on("engine", "engine-setup --accept-defaults").exit_status == 0);
}

TEST_CASE("lab engine machines: a remote database decides by pg_hba.conf and the role's password") {
  if (lab::postgres_bin_dir().empty()) return;
  EngineLab lab;
  lab.backup_to("new_engine");
  // The seed's preparation of the database server, by hand.
  CHECK(lab.run_on("db_1", "systemctl start postgresql").exit_status == 1);
  CHECK(lab.run_on("db_1", "postgresql-setup --initdb").exit_status == 0);
  CHECK(lab.run_on("db_1", "systemctl start postgresql").exit_status == 0);
  // psql runs as postgres: a script of root's it cannot read is refused,
  // as on a real host; one it may read goes through.
  const std::string prepare =
      "create role engine with login encrypted password 'Db-Pass-1';\n"
      "create database engine owner engine template template0 encoding 'UTF8' lc_collate 'C.UTF-8' "
      "lc_ctype 'C.UTF-8';\n";
  lab.write_on("db_1", "/root/prepare.sql", prepare);
  ExecResult r = lab.run_on("db_1", "runuser -u postgres -- psql -v ON_ERROR_STOP=1 -f /root/prepare.sql");
  CHECK(r.exit_status == 1);
  CHECK(r.stderr_tail.find("Permission denied") != std::string::npos);
  lab.write_on("db_1", "/tmp/prepare.sql", prepare, fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  r = lab.run_on("db_1", "runuser -u postgres -- psql -v ON_ERROR_STOP=1 -f /tmp/prepare.sql");
  INFO(r.stdout_tail << r.stderr_tail);
  REQUIRE(r.exit_status == 0);
  lab.write_on("new_engine", "/root/db-pass", "Db-Pass-1\n");
  lab.write_on("new_engine", "/root/wrong-pass", "not-it\n");
  const std::string restore =
      "engine-backup --mode=restore --file=/root/engine.backup --log=/root/r.log --no-restore-permissions "
      "--change-db-credentials --db-host=db1.example.com --db-user=engine --db-name=engine --db-passfile=";
  r = lab.run_on("new_engine", restore + "/root/db-pass");
  CHECK(r.exit_status == 1);
  // As the real tool: its verdict on stderr, psql's own words in its log.
  CHECK(r.stderr_tail.find("FATAL: Can't connect to database 'engine'") != std::string::npos);
  CHECK(r.stderr_tail.find("pg_hba.conf") == std::string::npos);
  CHECK(read_file(lab.fleet.host("new_engine").in_sandbox("/root/r.log"))
            .find("psql: error: connection to server") != std::string::npos);
  CHECK(read_file(lab.fleet.host("new_engine").in_sandbox("/root/r.log"))
            .find("no pg_hba.conf entry for host \"" + lab.fleet.host("new_engine").address) != std::string::npos);
  const fs::path hba = lab.fleet.host("db_1").in_sandbox("/var/lib/pgsql/data/pg_hba.conf");
  write_file(hba, read_file(hba) + "host engine engine " + lab.fleet.host("new_engine").address + "/32 scram-sha-256\n");
  CHECK(lab.run_on("db_1", "systemctl restart postgresql").exit_status == 0);
  r = lab.run_on("new_engine", restore + "/root/wrong-pass");
  CHECK(r.exit_status == 1);
  CHECK(r.stderr_tail.find("FATAL: Can't connect to database 'engine'") != std::string::npos);
  CHECK(read_file(lab.fleet.host("new_engine").in_sandbox("/root/r.log"))
            .find("password authentication failed for user \"engine\"") != std::string::npos);
  r = lab.run_on("new_engine", "engine-backup --mode=restore --file=/root/engine.backup --log=/root/r.log "
                               "--provision-db --change-db-credentials --db-host=db1.example.com --db-user=engine "
                               "--db-name=engine --db-passfile=/root/db-pass");
  CHECK(r.exit_status == 1);
  CHECK(r.stderr_tail.find("Cannot change credentials if provisioning a database") != std::string::npos);
  r = lab.run_on("new_engine", restore + "/root/db-pass");
  INFO(r.stdout_tail << r.stderr_tail);
  REQUIRE(r.exit_status == 0);
  CHECK(lab.sql("db_1", "select count(*) from vds_static;") == "2");
  CHECK(lab.run_on("new_engine", "engine-setup --accept-defaults").exit_status == 0);
  // The password went through files only: never on a command line the host logged.
  CHECK(read_file(lab.fleet.host("new_engine").agent_log).find("Db-Pass-1") == std::string::npos);
}

}  // namespace she::test
