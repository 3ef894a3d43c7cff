// The standalone-engine procedures' dry runs: golden output offline, and on
// the lab a rehearsal that makes reads only (the hosts' command logs and the
// real databases prove it).
#include <doctest/doctest.h>

#include <cstdlib>
#include <sstream>

#include "lab/postgres_server.h"
#include "orchestrator/dry_run.h"
#include "tests/procedure_lab.h"
#include "tests/test_support.h"

namespace she::test {

namespace {

const std::vector<std::string> kEnginePlans = {"backup", "restore-fresh", "restore-overwrite", "restore-credentials",
                                               "db-migrate-remote"};

std::string engine_dry_run_of(const std::string& plan_file) {
  Diagnostics d;
  auto plan = load_plan(plan_file, {}, d);
  REQUIRE_MESSAGE(plan, d.str());
  std::ostringstream out;
  print_dry_run(*plan, out);
  return out.str();
}

}  // namespace

// Regenerate after an intended change with: SHE_UPDATE_GOLDEN=1 build/tests/she-tests -tc='engine dry run*'
TEST_CASE("engine dry run: golden output of each standalone-engine plan") {
  for (const auto& name : kEnginePlans) {
    CAPTURE(name);
    const std::string got = engine_dry_run_of("examples/engine/" + name + ".yaml");
    const fs::path golden = source_path("tests/golden/engine-" + name + ".txt");
    if (std::getenv("SHE_UPDATE_GOLDEN")) write_file(golden, got);
    const std::string want = read_file(golden);
    REQUIRE_MESSAGE(!want.empty(), "missing golden file " << golden);
    CHECK(got == want);
    // Secrets only as references.
    const bool takes_password = name != "backup" && name != "restore-overwrite";
    CHECK((got.find("env:ENGINE_DB_PASSWORD") != std::string::npos) == takes_password);
  }
}

TEST_CASE("engine dry run: on the lab each procedure makes reads only") {
  if (lab::postgres_bin_dir().empty()) return;
  ProcedureLab lab("examples/lab/engine-standalone.yaml");
  const fs::path pass = lab.dir.path() / "db-password";
  write_file(pass, "Dry-Run-Db-Pass\n");
  fs::permissions(pass, fs::perms::owner_read | fs::perms::owner_write);
  // An archive in backup storage for the restores to read.
  ProcessResult b = lab.run("backup-first", "  archive_name: e.backup\n", "", "engine-backup");
  INFO(b.output);
  REQUIRE(b.exit_code == 0);
  std::map<std::string, size_t> before;
  for (const auto& h : lab.fleet.hosts()) before[h.name] = read_file(h.agent_log).size();
  auto rows = [&] {
    std::string out;
    lab::pg_superuser_sql(lab::PostgresInstance::of_sandbox(lab.fleet.host("engine").sandbox),
                          "select count(*) from vds_static;", &out, "engine");
    return out;
  };
  const std::string rows_before = rows();
  const std::string secret = "  db_password: file:" + pass.string() + "\n";
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"engine-backup", "  archive_name: dry.backup\n"},
      {"engine-restore-fresh", "  backup: e.backup\n  target: new_engine\n  permissions: restore\n" + secret},
      {"engine-restore-overwrite", "  backup: e.backup\n  permissions: restore\n"},
      {"engine-restore-credentials", "  backup: e.backup\n  permissions: restore\n" + secret},
      {"engine-db-migrate-remote", "  database_machine: db_1\n  db_host: db1.example.com\n  engine_address: " +
                                       lab.fleet.host("engine").address + "\n  permissions: restore\n" + secret}};
  for (const auto& [procedure, with] : runs) {
    CAPTURE(procedure);
    ProcessResult r = lab.dry_run(procedure, with);
    INFO(r.output);
    CHECK(r.exit_code == 0);
  }
  // Every command the hosts saw during the dry runs is a read.
  // The engine's tools as commands (a path such as /var/lib/ovirt-engine-backup
  // in a read is not one).
  const std::vector<std::string> writes = {"\"command\":\"engine-backup", "\"command\":\"engine-cleanup",
                                           "\"command\":\"engine-setup", "postgresql-setup",
                                           "systemctl start", "systemctl restart", "systemctl enable", "-f /root",
                                           "tee", "dd of=", "install -m", "rm ", "mv "};
  for (const auto& h : lab.fleet.hosts()) {
    const std::string log = read_file(h.agent_log).substr(before[h.name]);
    for (const auto& w : writes) {
      const size_t at = log.find(w);
      const size_t from = at == std::string::npos ? 0 : log.rfind('\n', at) + 1;
      CHECK_MESSAGE(at == std::string::npos, h.name << " ran a write: " << w << " in "
                                                    << log.substr(from, log.find('\n', at) - from));
    }
  }
  CHECK(rows() == rows_before);
  CHECK_FALSE(fs::exists(lab.fleet.host("db_1").in_sandbox("/var/lib/pgsql/data/PG_VERSION")));
  CHECK_FALSE(fs::exists(lab.fleet.host("backup_storage").in_sandbox(std::string(lab::kLabBackupPath) + "/dry.backup")));
}

}  // namespace she::test
