// The crash campaign on engine-restore-fresh: killed with SIGKILL after
// every step boundary, then resumed until done. It must end as an
// uninterrupted run does (engine set up, the rows restored) with engine-backup
// --mode=restore and engine-setup each run at most once.
#include <doctest/doctest.h>

#include "lab/postgres_server.h"
#include "orchestrator/journal.h"
#include "tests/procedure_lab.h"

using namespace she;
using test::ProcedureLab;
namespace fs = std::filesystem;

namespace {

constexpr const char* kScenario = "examples/lab/engine-standalone.yaml";

struct FreshTrial {
  ProcedureLab lab{kScenario};
  fs::path plan;

  explicit FreshTrial(const fs::path& archive) {
    const fs::path stored = lab.fleet.host("backup_storage").in_sandbox(lab::kLabBackupPath);
    fs::create_directories(stored);
    fs::copy_file(archive, stored / archive.filename());
    const fs::path pass = lab.dir.path() / "db-password";
    test::write_file(pass, "Crash-Db-Pass-1\n");
    fs::permissions(pass, fs::perms::owner_read | fs::perms::owner_write);
    plan = lab.write_plan("engine-restore-fresh", "  backup: " + archive.filename().string() +
                                                      "\n  target: new_engine\n  permissions: restore\n"
                                                      "  db_locale: C.UTF-8\n  db_password: file:" + pass.string() + "\n");
  }

  fs::path state() const { return lab.dir.path() / "state"; }
  test::ProcessResult run(const std::string& env = "") {
    return test::she_restore("'" + plan.string() + "' --yes --state-dir '" + state().string() + "'", env);
  }
  bool resume_until_done(std::string* why) {
    for (int round = 0; round < 8; ++round) {
      auto r = run();
      if (r.exit_code == 0) return true;
      *why = "resume exited " + std::to_string(r.exit_code) + ":\n" + r.output;
      if (r.exit_code != 5) return false;
    }
    *why = "not done after 8 resumes";
    return false;
  }
  fs::path journal() const {
    for (auto& e : fs::directory_iterator(state() / "engine-restore-fresh"))
      if (e.is_directory()) return e.path() / "journal";
    return {};
  }
  /// The final state: set up, the restored rows in the new machine's database.
  std::string final_state() {
    std::string rows;
    lab::pg_superuser_sql(lab::PostgresInstance::of_sandbox(lab.fleet.host("new_engine").sandbox),
                          "select string_agg(vds_name, ',' order by vds_name) from vds_static;", &rows, "engine");
    return rows + (fs::exists(lab.fleet.host("new_engine").in_sandbox("/var/lib/ovirt-engine/engine.up")) ? "up" : "down");
  }
};

}  // namespace

TEST_CASE("engine restore crash campaign: engine-restore-fresh killed after every step - resumed to the same end with restore and setup once") {
  if (lab::postgres_bin_dir().empty()) return;
  test::TempDir keep;
  fs::path archive;
  {
    ProcedureLab source{kScenario};
    auto b = source.run("engine-backup", "  archive_name: crash.backup\n");
    REQUIRE_MESSAGE(b.exit_code == 0, b.output);
    archive = keep.path() / "crash.backup";
    fs::copy_file(source.fleet.host("backup_storage").in_sandbox(std::string(lab::kLabBackupPath) + "/crash.backup"), archive);
  }
  std::vector<int> boundaries;
  std::string expected;
  {
    FreshTrial t(archive);
    auto r = t.run();
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    expected = t.final_state();
    boundaries = test::step_boundaries(t.journal());
  }
  CHECK(expected == "host_1,host_2\nup");
  REQUIRE(boundaries.size() >= 8);
  for (int k : boundaries) {
    CAPTURE(k);
    FreshTrial t(archive);
    auto r = t.run("SHE_RESTORE_TEST_KILL_AFTER_RECORDS=" + std::to_string(k));
    REQUIRE_MESSAGE(r.exit_code != 0, "not killed after record " << k);
    std::string why;
    REQUIRE_MESSAGE(t.resume_until_done(&why), why);
    CHECK(t.final_state() == expected);
    CHECK(t.lab.agent_commands("new_engine", "engine-backup --mode=restore") <= 1);
    CHECK(t.lab.agent_commands("new_engine", "\"engine-setup") <= 1);
  }
}
