// The shipped procedures run for real against the lab: the engine over
// HTTPS and every host a real sshd, with the environment file `she-lab serve`
// writes (lab/lab_environment.h).
#include <doctest/doctest.h>

#include <filesystem>

#include "hosts/backup_archive.h"
#include "lab/host_fleet.h"
#include "lab/lab_environment.h"
#include "lab/scenario.h"
#include "tests/lab_fixture.h"
#include "tests/test_support.h"

using namespace she;
namespace fs = std::filesystem;

namespace {

/// The three-host scenario's engine and hosts, and the environment for it.
struct ThreeHostLab {
  test::LabEngine engine;
  test::TempDir dir;  // before the fleet: removed after it stops
  lab::HostFleet fleet;
  fs::path environment;

  ThreeHostLab() {
    lab::WorldState st = lab::load_scenario(test::source_path("examples/lab/three-hosts.yaml"));
    const std::string url = "https://127.0.0.1:" + std::to_string(engine.port);
    fleet.start(dir.path() / "fleet", lab::scenario_fleet(st, 60), lab::HostFleet::default_agent_binary(), url,
                engine.pki.files.ca_file);
    fs::path password = dir.path() / "engine-password";
    test::write_file(password, std::string(test::LabEngine::kPassword) + "\n");
    fs::permissions(password, fs::perms::owner_read | fs::perms::owner_write);
    environment = dir.path() / "environment.yaml";
    lab::write_lab_environment(environment, st, fleet, url, engine.pki.files.ca_file, password);
  }

  test::ProcessResult run(const std::string& procedure) {
    fs::path plan = dir.path() / (procedure + ".yaml");
    test::write_file(plan, "plan: " + procedure + "\nuses: " + procedure + "\nenvironment: " + environment.string() + "\n");
    return test::she_restore("'" + plan.string() + "' --yes --state-dir '" + (dir.path() / "state").string() + "'");
  }
};

}  // namespace

TEST_CASE("procedures: she-backup on the three-host lab - the archive lands on backup storage named for the run and verifies") {
  ThreeHostLab lab;
  auto r = lab.run("she-backup");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  // The failover host went to maintenance for the backup (seed procedure) and is up again.
  CHECK(lab.engine.count("POST", "/ovirt-engine/api/hosts/" + lab.engine.host_id("hosted_engine_1") + "/deactivate") == 1);
  CHECK(lab.engine.world.host_by_name("hosted_engine_1")->status == lab::HostStatus::Up);
  // One archive and its manifest, named with the run's id (not a placeholder).
  fs::path stored = lab.fleet.host("backup_storage").sandbox / "srv/backups/engine";
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(stored)) names.push_back(e.path().filename().string());
  REQUIRE(names.size() == 2);
  std::sort(names.begin(), names.end());
  CHECK(names[0].rfind("engine-0001-", 0) == 0);
  CHECK(names[0].find('<') == std::string::npos);
  CHECK(names[1] == names[0] + ".manifest.json");
  BackupSummary s;
  std::vector<std::string> problems;
  CHECK_MESSAGE(verify_backup_archive((stored / names[0]).string(), "", &s, &problems), problems.size());
  CHECK(s.engine_fqdn == "engine.example.com");
}
