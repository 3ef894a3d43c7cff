// The engine step types run for real by she-restore against the lab
// engine: a plan's REST calls reach the engine with the run's correlation
// ids, and a dry run of a shipped plan sends no write at all.
#include <doctest/doctest.h>

#include <filesystem>

#include "tests/lab_fixture.h"

using namespace she;
using she::test::LabEngine;
namespace fs = std::filesystem;

namespace {

/// An environment file pointing at the lab, its password in a 0600 file.
fs::path lab_environment(LabEngine& lab) {
  fs::path pw = lab.dir.path() / "engine-password";
  test::write_file(pw, std::string(LabEngine::kPassword) + "\n");
  fs::permissions(pw, fs::perms::owner_read | fs::perms::owner_write);
  fs::path env = lab.dir.path() / "lab-environment.yaml";
  test::write_file(env, "environment: lab\nmode: rehearsal\nengine:\n  fqdn: engine.example.com\n  api_url: " + lab.api_url() +
                            "\n  password: file:" + pw.string() + "\n  ca_file: " + lab.pki.files.ca_file.string() +
                            "\n  poll_interval: 10ms\n  vm: {address: 127.0.0.1}\nhosts:\n"
                            "  - {name: hosted_engine_1, address: host1.example.com, roles: [hosted_engine, failover]}\n"
                            "  - {name: hosted_engine_2, address: host2.example.com, roles: [hosted_engine]}\n"
                            "  - {name: hosted_engine_3, address: host3.example.com, roles: [hosted_engine]}\n"
                            "  - {name: host_4, address: host4.example.com, roles: [regular, spm]}\n"
                            "  - {name: spare_1, address: spare1.example.com, roles: [spare]}\n"
                            "backup_storage: {address: 127.0.0.1, path: /srv/backups}\n");
  return env;
}

}  // namespace

TEST_CASE("engine steps: a plan puts a host into maintenance and back through the lab - correlation ids name the run") {
  LabEngine lab;
  fs::path env = lab_environment(lab);
  fs::path plan = lab.dir.path() / "plan.yaml";
  test::write_file(plan, "plan: maintenance-roundtrip\nenvironment: " + env.string() + "\nsteps:\n"
                         "  - id: health\n    uses: engine.health\n"
                         "  - id: spm\n    uses: engine.spm\n"
                         "  - id: maintenance\n    uses: engine.host.maintenance\n    with: {host: hosted_engine_1, reason: test}\n"
                         "  - id: in-maintenance\n    uses: engine.hosts.select\n    with: {status: [maintenance]}\n"
                         "  - id: check\n    uses: assert\n"
                         "    with: {that: '${steps.in-maintenance.names == [\"hosted_engine_1\"] and steps.spm.host == \"host_4\"}', "
                         "message: wrong hosts}\n"
                         "  - id: activate\n    uses: engine.host.activate\n    with: {host: hosted_engine_1}\n");
  fs::path state = lab.dir.path() / "state";
  auto r = test::she_restore("'" + plan.string() + "' --state-dir '" + state.string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(lab.world.host_by_name("hosted_engine_1")->status == lab::HostStatus::Up);
  CHECK(lab.count("POST", "/ovirt-engine/api/hosts/" + lab.host_id("hosted_engine_1") + "/deactivate") == 1);
  CHECK(lab.count("POST", "/ovirt-engine/api/hosts/" + lab.host_id("hosted_engine_1") + "/activate") == 1);
  bool tagged = false;
  for (auto& req : lab.server->request_log().all())
    if (req.method == "POST" && req.path.find("/deactivate") != std::string::npos)
      tagged = req.correlation_id.rfind("she-", 0) == 0 && req.correlation_id.find("-maintenance") != std::string::npos &&
               req.correlation_id.size() <= 36;
  CHECK(tagged);
  // The password never left its file for the logs.
  for (auto& e : fs::recursive_directory_iterator(state))
    if (e.is_regular_file()) CHECK(test::read_file(e.path()).find(LabEngine::kPassword) == std::string::npos);
  CHECK(r.output.find(LabEngine::kPassword) == std::string::npos);
}

TEST_CASE("engine steps: an engine refusal stops the run with the engine's words and the step named") {
  LabEngine lab;
  fs::path env = lab_environment(lab);
  fs::path plan = lab.dir.path() / "plan.yaml";
  test::write_file(plan, "plan: refused\nenvironment: " + env.string() + "\nsteps:\n"
                         "  - id: remove-live-host\n    uses: engine.host.remove\n    with: {host: hosted_engine_1}\n");
  auto r = test::she_restore("'" + plan.string() + "' --state-dir '" + (lab.dir.path() / "state").string() + "'");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("remove-live-host") != std::string::npos);
  CHECK(r.output.find("Cannot remove Host. Host is operational. Please switch Host to Maintenance mode first.") !=
        std::string::npos);
  CHECK(r.output.find("Fix the cause and run") != std::string::npos);
}

TEST_CASE("engine steps: a dry run of each shipped plan against the lab sends no write request") {
  LabEngine lab;
  fs::path env = lab_environment(lab);
  for (auto* name : {"backup", "restore-failover", "restore-new-host", "remove-nonoperational", "restore-legacy", "restore-manual"}) {
    CAPTURE(name);
    auto r = test::she_restore(std::string("--dry-run examples/three-hosts/") + name + ".yaml --env '" + env.string() + "'");
    CHECK(r.exit_code == 0);
  }
  // Logging in and out (SSO) are the only other requests: nothing of the engine's changes.
  for (auto& req : lab.server->request_log().all()) {
    CAPTURE(req.path);
    CHECK((req.method == "GET" || req.method == "HEAD" || req.path == "/ovirt-engine/sso/oauth/token" ||
           req.path == "/ovirt-engine/services/sso-logout"));
  }
}

TEST_CASE("engine steps: a VM start without wait ends on the engine's own starting status - a later start waits for up") {
  // A start that takes the lab an hour: the first step can only have seen
  // the engine's powering_up, never up, until the test moves the clock.
  LabEngine lab("examples/lab/three-hosts.yaml", 1);
  lab::Durations d = lab.world.durations();
  d.start_vm = 3600;
  lab.world.set_durations(d);
  fs::path env = lab_environment(lab);
  // A start that waited for up would time out (30 s) rather than pass.
  auto run = [&](const std::string& name, const std::string& with) {
    fs::path plan = lab.dir.path() / (name + ".yaml");
    test::write_file(plan, "plan: " + name + "\nenvironment: " + env.string() + "\nsteps:\n"
                           "  - id: start\n    uses: engine.vms.start\n    timeout: 30s\n"
                           "    with: {vms: [build01]" + with + "}\n");
    return test::she_restore("'" + plan.string() + "' --state-dir '" + (lab.dir.path() / "state").string() + "'");
  };
  auto r = run("start-early", ", wait: false");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(lab.world.vm_by_name("build01")->status == lab::VmStatus::PoweringUp);
  const std::string start = "/ovirt-engine/api/vms/" + lab.world.vm_by_name("build01")->id + "/start";
  CHECK(lab.count("POST", start) == 1);

  lab.world.advance_clock(std::chrono::hours(2));
  r = run("vms-up", "");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(lab.world.vm_by_name("build01")->status == lab::VmStatus::Up);
  // A VM the engine is already starting is not started twice.
  CHECK(lab.count("POST", start) == 1);
}
