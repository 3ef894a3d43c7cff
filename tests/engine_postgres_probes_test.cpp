// The probes of the PostgreSQL preparation steps on resume, against the
// lab's real server: `done` only on evidence of the step's own effect in
// force, so a run killed half-way through a step is finished on resume,
// never taken as done.
#include <doctest/doctest.h>

#include "orchestrator/journal.h"
#include "orchestrator/run_state.h"
#include "tests/engine_lab.h"

namespace she::test {

namespace {

/// A plan of `steps` on the engine lab, with a run killed when the journal
/// first shows step `id` started (nothing of it done yet).
struct KilledRun {
  EngineProcedureLab& lab;
  fs::path plan, state;

  KilledRun(EngineProcedureLab& l, const std::string& steps) : lab(l) {
    plan = lab.dir.path() / "probe-plan.yaml";
    state = lab.dir.path() / "probe-state";
    write_file(plan, "plan: probes\nenvironment: " + lab.environment.string() + "\nsteps:\n" + steps);
  }
  ProcessResult run(const std::string& env = "") {
    return she_restore("'" + plan.string() + "' --yes --state-dir '" + state.string() + "'", env);
  }
  /// The last journal record of the run in `state`.
  Value last_record() {
    Value last;
    for (auto& e : fs::recursive_directory_iterator(state))
      if (e.path().filename() == "journal") {
        std::vector<Value> records;
        std::string warning, err;
        if (Journal::read(e.path().string(), &records, &warning, &err) && !records.empty()) last = records.back();
      }
    return last;
  }
  /// Kills runs after 1, 2, ... journal records (each from a fresh state:
  /// the steps before `id` are idempotent) until one dies with `id` just
  /// started.
  bool kill_when_started(const std::string& id) {
    for (int k = 1; k <= 12; ++k) {
      fs::remove_all(state);
      if (run("SHE_RESTORE_TEST_KILL_AFTER_RECORDS=" + std::to_string(k)).exit_code == 0) return false;
      const Value last = last_record();
      if (last.is_object() && last.value("t", "") == std::string(rec::kStepStarted) && last.value("step", "") == id)
        return true;
    }
    return false;
  }
};

}  // namespace

TEST_CASE("postgres.hba_entry probe: the line in pg_hba.conf without the restart after it is not done - the resume restarts") {
  if (lab::postgres_bin_dir().empty()) return;
  EngineProcedureLab lab;
  KilledRun k(lab,
              "  - id: init\n    uses: postgres.init\n    with: {host: db_1}\n"
              "  - id: hba\n    uses: postgres.hba_entry\n"
              "    with: {host: db_1, database: engine, user: engine, address: 127.0.0.99}\n");
  REQUIRE(k.kill_when_started("hba"));
  // The state a kill between the step's append and its restart leaves:
  // the line is in the file, the server has not read it.
  const fs::path hba = lab.fleet.host("db_1").in_sandbox("/var/lib/pgsql/data/pg_hba.conf");
  write_file(hba, read_file(hba) + "host    engine    engine    127.0.0.99/32    md5\n");
  const int restarts = lab.agent_commands("db_1", "systemctl restart postgresql");
  ProcessResult r = k.run();
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(lab.agent_commands("db_1", "systemctl restart postgresql") == restarts + 1);
  CHECK(lab.sql("db_1", "select count(*) from pg_hba_file_rules where address = '127.0.0.99';", "postgres") == "1");
}

TEST_CASE("postgres.database: a database of that name made otherwise is not done - the step stops saying what differs") {
  if (lab::postgres_bin_dir().empty()) return;
  EngineProcedureLab lab;
  KilledRun k(lab,
              "  - id: init\n    uses: postgres.init\n    with: {host: db_1}\n"
              "  - id: role\n    uses: postgres.role\n    with: {host: db_1, name: engine, password: 'file:" +
                  lab.secret_file("pw", "Probe-Db-Pass-2").string() + "'}\n"
              "  - id: database\n    uses: postgres.database\n"
              "    with: {host: db_1, name: engine, owner: engine, locale: C.UTF-8}\n");
  REQUIRE(k.kill_when_started("database"));
  // Made by someone else meanwhile, owned by the superuser.
  lab.sql("db_1", "create database engine template template0 encoding 'UTF8' lc_collate 'C.UTF-8' lc_ctype 'C.UTF-8';",
          "postgres");
  ProcessResult r = k.run();
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("database 'engine' exists but not as this step makes it: owner is 'postgres', not 'engine'") !=
        std::string::npos);
  CHECK(r.output.find("Remedy: drop it") != std::string::npos);
  // Dropped, the resume makes it as asked.
  lab.sql("db_1", "drop database engine;", "postgres");
  r = k.run();
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(lab.sql("db_1", "select pg_get_userbyid(datdba) from pg_database where datname = 'engine';", "postgres") ==
        "engine");
}

}  // namespace she::test
