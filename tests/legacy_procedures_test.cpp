// The legacy (4.0-4.2) self-hosted restores, she-restore-legacy and
// she-restore-manual (seed 000), end to end on their lab
// (examples/lab/three-hosts-legacy.yaml: a 4.2 engine after the disaster,
// its backup a real pg_dump): the deploy's dialog in screen, the engine
// restored inside the new VM, the stale failover host removed before the
// menu is answered, the VM shut down when the deploy asks, the other
// hosted-engine hosts fenced, removed and reinstalled.
#include <doctest/doctest.h>

#include "lab/postgres_server.h"
#include "lab/staged_disaster.h"
#include "orchestrator/journal.h"
#include "tests/procedure_lab.h"

namespace she::test {

namespace {

constexpr const char* kLegacyScenario = "examples/lab/three-hosts-legacy.yaml";

struct LegacyProcedureLab : ProcedureLab {
  std::string backup;

  LegacyProcedureLab() : ProcedureLab(kLegacyScenario) {
    lab::WorldState st = lab::load_scenario(source_path(kLegacyScenario));
    backup = fs::path(lab::stage_disaster(engine.world, fleet, *st.after_disaster, lab::kLabBackupPath)).filename().string();
  }

  std::string params(const std::string& extra = "") const {
    return "  backup: " + backup +
           "\n  storage_connection: storage.example.com:/exports/hosted_engine\n  bridge_nic: eth1\n"
           "  gateway: 192.0.2.1\n  cpu_type: model_SandyBridge\n  permissions: restore\n  target_version: 4.2.8\n"
           "  high_priority_vms: [db01, web01]\n" + extra;
  }

  fs::path secret_file(const std::string& name, const std::string& value) {
    fs::path p = dir.path() / name;
    write_file(p, value + "\n");
    fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
    return p;
  }

  /// The acceptance's end: the engine back as a monitored service on the
  /// failover host, every host up with one record, the rows of the backup
  /// in the engine VM's database.
  void check_legacy_restored() {
    check_restored_world({"db01", "web01"});
    CHECK(fs::exists(fleet.host("hosted_engine_1").in_sandbox("/etc/ovirt-hosted-engine/hosted-engine.conf")));
    // The new VM's own PostgreSQL holds the backed-up rows.
    std::string rows;
    CHECK(lab::pg_superuser_sql(lab::PostgresInstance::of_sandbox(fleet.host("engine").sandbox),
                                "select string_agg(vds_name, ',' order by vds_name) from vds_static;", &rows,
                                "engine") == 0);
    CHECK(rows.find("host_4,hosted_engine_1,hosted_engine_2,hosted_engine_3") == 0);
    // The answer file held the admin password: gone once read.
    CHECK_FALSE(fs::exists(fleet.host("hosted_engine_1").in_sandbox("/root/she-restore-legacy-answers.conf")));
  }
};

}  // namespace

TEST_CASE("legacy procedures: she-restore-legacy - the 4.2 engine restored through the held deploy and every host back") {
  if (lab::postgres_bin_dir().empty()) return;
  LegacyProcedureLab lab;
  const std::string stale = lab.engine.host_id("hosted_engine_1");
  auto r = lab.run("she-restore-legacy", lab.params());
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  lab.check_legacy_restored();
  // The stale record of the failover host went before the menu was
  // answered (seed 000 step 4, then step 5).
  CHECK(lab.engine.count("DELETE", "/ovirt-engine/api/hosts/" + stale) == 1);
  const std::string log = read_file(lab.fleet.host("hosted_engine_1").agent_log);
  CHECK(log.find("screen -h 10000 -dmS she-restore-legacy-deploy") != std::string::npos);
  CHECK(lab.agent_commands("hosted_engine_1", "stuff") == 1);  // the engine menu, answered once
  CHECK(lab.agent_commands("engine", "shutdown") == 1);
  CHECK(lab.agent_commands("engine", "--provision-db") == 1);
  lab.check_no_secret_leaked(r.output);
}

TEST_CASE("legacy procedures: she-restore-manual - PostgreSQL prepared by hand in the new VM and --change-db-credentials") {
  if (lab::postgres_bin_dir().empty()) return;
  LegacyProcedureLab lab;
  const fs::path pw = lab.secret_file("db-pass", "Manual-Db-Pass-8");
  auto r = lab.run("she-restore-manual", lab.params("  db_locale: C.UTF-8\n  db_password: file:" + pw.string() + "\n"));
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  lab.check_legacy_restored();
  CHECK(lab.agent_commands("engine", "--change-db-credentials") == 1);
  CHECK(lab.agent_commands("engine", "--provision-db") == 0);
  CHECK(r.output.find("Manual-Db-Pass-8") == std::string::npos);
  for (const auto& h : lab.fleet.hosts()) CHECK(read_file(h.agent_log).find("Manual-Db-Pass-8") == std::string::npos);
}

TEST_CASE("legacy procedures: a question the plan does not answer stops the deploy step quoting it - dialog answers it") {
  if (lab::postgres_bin_dir().empty()) return;
  LegacyProcedureLab lab;
  // A question no answer-file key covers, as another version of the tool
  // may ask (the lab's fault dialog_asks).
  const std::string question = "Do you want to configure the storage's multipath now? (Yes, No)[Yes]:";
  lab.fleet.set_faults("hosted_engine_1", nlohmann::json{{"dialog_asks", question}}.dump());
  auto r = lab.run("she-restore-legacy", lab.params());
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("the deploy asks a question this step does not answer: '" + question + "'") != std::string::npos);
  CHECK(r.output.find("screen -r she-restore-legacy-deploy") != std::string::npos);
  CHECK(lab.agent_commands("hosted_engine_1", "stuff") == 0);  // never a guess
  CHECK(lab.agent_commands("engine", "engine-backup") == 0);   // nothing after it
  // Given in the plan, keyed by the exact question, it is typed and the
  // resumed run goes on with the changed plan (the dialog waited in its
  // screen session).
  r = lab.run("she-restore-legacy", lab.params("  dialog:\n    \"" + question + "\": \"No\"\n"), "--replan");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(read_file(lab.fleet.host("hosted_engine_1").in_sandbox("/var/log/she-restore/legacy-deploy.typescript"))
            .find(question + " No") != std::string::npos);
  lab.check_legacy_restored();
}

TEST_CASE("legacy procedures: the dry run of each makes reads only") {
  if (lab::postgres_bin_dir().empty()) return;
  for (const char* procedure : {"she-restore-legacy", "she-restore-manual"}) {
    CAPTURE(procedure);
    LegacyProcedureLab lab;
    const fs::path pw = lab.secret_file("db-pass", "Manual-Db-Pass-8");
    auto r = lab.dry_run(procedure, lab.params(std::string(procedure) == "she-restore-manual"
                                                   ? "  db_password: file:" + pw.string() + "\n"
                                                   : ""));
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(r.output.find("screen -S she-restore-legacy-deploy -X stuff '1^M'") != std::string::npos);
    CHECK(lab.destructive_calls() == 0);
    for (const auto& h : lab.fleet.hosts())
      for (const char* write : {"screen -h", "stuff", "engine-backup --mode=restore", "engine-setup", "shutdown"})
        CHECK_MESSAGE(lab.agent_commands(h.name, write) == 0, h.name << " ran " << write);
  }
}

TEST_CASE("legacy crash campaign: she-restore-legacy killed after every step - resumed to the same end with one deploy") {
  if (lab::postgres_bin_dir().empty()) return;
  std::vector<int> boundaries;
  {
    LegacyProcedureLab lab;
    auto r = lab.run("she-restore-legacy", lab.params());
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    fs::path journal;
    for (auto& e : fs::directory_iterator(lab.dir.path() / "state" / "she-restore-legacy"))
      if (e.is_directory()) journal = e.path() / "journal";
    boundaries = step_boundaries(journal);
  }
  REQUIRE(boundaries.size() >= 20);
  for (int k : boundaries) {
    CAPTURE(k);
    LegacyProcedureLab lab;
    const std::string stale = lab.engine.host_id("hosted_engine_1");
    const fs::path plan = lab.write_plan("she-restore-legacy", lab.params());
    const std::string state = (lab.dir.path() / "crash-state").string();
    auto first = she_restore("'" + plan.string() + "' --yes --state-dir '" + state + "'",
                             std::string("ENGINE_VM_ROOT_PASSWORD=") + ProcedureLab::kAppliancePassword +
                                 " SHE_RESTORE_TEST_KILL_AFTER_RECORDS=" + std::to_string(k));
    REQUIRE_MESSAGE(first.exit_code != 0, "not killed after record " << k);
    bool done = false;
    std::string why;
    for (int round = 0; round < 8 && !done; ++round) {
      auto r = she_restore("'" + plan.string() + "' --yes --state-dir '" + state + "'",
                           std::string("ENGINE_VM_ROOT_PASSWORD=") + ProcedureLab::kAppliancePassword);
      done = r.exit_code == 0;
      why = r.output;
      if (!done && r.exit_code != 5) break;
    }
    REQUIRE_MESSAGE(done, why);
    lab.check_legacy_restored();
    CHECK(lab.agent_commands("hosted_engine_1", "screen -h 10000 -dmS") == 1);
    CHECK(lab.agent_commands("engine", "engine-backup --mode=restore") <= 1);
    CHECK(lab.engine.count("DELETE", "/ovirt-engine/api/hosts/" + stale) == 1);
  }
}

}  // namespace she::test
