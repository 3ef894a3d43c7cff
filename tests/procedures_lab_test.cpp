// The shipped procedures run for real against the lab: the engine over
// HTTPS and every host a real sshd, with the environment file `she-lab serve`
// writes (lab/lab_environment.h).
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "hosts/backup_archive.h"
#include "lab/host_fleet.h"
#include "lab/lab_environment.h"
#include "lab/scenario.h"
#include "tests/lab_fixture.h"
#include "tests/procedure_lab.h"
#include "tests/test_support.h"

using namespace she;
namespace fs = std::filesystem;

using test::ProcedureLab;
using ThreeHostLab = ProcedureLab;  // the default scenario: examples/lab/three-hosts.yaml

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

TEST_CASE("procedures: she-restore-failover on the three-host lab - the engine is back and every hosted-engine host scores 3400") {
  ThreeHostLab lab;
  REQUIRE(lab.run("she-backup").exit_code == 0);
  lab.disaster();
  const std::string old_he2 = lab.engine.host_id("hosted_engine_2"), old_he3 = lab.engine.host_id("hosted_engine_3");
  // SSH logins backup storage accepted (she-backup made some already).
  auto logins = [&] {
    std::string log = test::read_file(lab.fleet.host("backup_storage").sandbox.parent_path() / "sshd.log");
    int n = 0;
    for (size_t at = 0; (at = log.find("Accepted publickey", at)) != std::string::npos; ++at) ++n;
    return n;
  };
  const int logins_before = logins();
  auto r = lab.run("she-restore-failover", lab.restore_params());
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  lab.check_restored_world({"db01", "web01"});
  // The preflight group ran its two steps on backup storage one after the
  // other on one session (a lane), beside the checks of the other hosts,
  // and the copy after the group went on with that session.
  CHECK(r.output.find("Preflight checks, side by side (read-manifest, verify-archive, check-dns, check-old-engine-down, "
                      "check-failover-fresh side by side)") != std::string::npos);
  CHECK(logins() == logins_before + 1);
  // The engine steps during the deploy went through the failover host.
  CHECK(r.output.find("through an SSH tunnel from root@hosted_engine_1") != std::string::npos);
  // The two dead hosted-engine hosts were fenced, removed and added again.
  for (const auto& old_id : {old_he2, old_he3}) {
    CHECK(lab.engine.count("POST", "/ovirt-engine/api/hosts/" + old_id + "/fence") == 1);
    CHECK(lab.engine.count("DELETE", "/ovirt-engine/api/hosts/" + old_id) == 1);
  }
  CHECK(lab.engine.count("POST", "/ovirt-engine/api/hosts?") + lab.engine.count("POST", "/ovirt-engine/api/hosts") >= 2);
  // The regular SPM host came back on its own: never touched.
  CHECK(lab.engine.world.host_by_name("host_4")->status == lab::HostStatus::Up);
  lab.check_no_secret_leaked(r.output);
}

TEST_CASE("procedures: she-restore-new-host on the three-host lab - deployed on the spare and every old hosted-engine host back") {
  ThreeHostLab lab;
  REQUIRE(lab.run("she-backup").exit_code == 0);
  lab.disaster();
  auto r = lab.run("she-restore-new-host", "  backup: " + lab.stored_backup() +
                                               "\n  deploy_host: spare_1\n  storage_connection: nfs.example.com:/exports/he\n"
                                               "  target_version: 4.5.6\n  high_priority_vms: [db01]\n");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  lab.check_restored_world({"db01"}, 4);
  CHECK(lab.engine.world.host_by_name("spare_1")->hosted_engine);
}

TEST_CASE("procedures: she-remove-nonoperational on the lab - the non-responsive hosted-engine host is fenced and reinstalled") {
  ThreeHostLab lab;
  const std::string old_id = lab.engine.host_id("hosted_engine_3");
  lab.engine.world.set_host_status("hosted_engine_3", lab::HostStatus::NonResponsive);
  auto r = lab.run("she-remove-nonoperational", "  keep: [hosted_engine_1]\n");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(r.output.find("1 host(s) selected from the engine: hosted_engine_3") != std::string::npos);
  CHECK(lab.engine.count("POST", "/ovirt-engine/api/hosts/" + old_id + "/fence") == 1);
  CHECK(lab.engine.count("DELETE", "/ovirt-engine/api/hosts/" + old_id) == 1);
  lab.check_restored_world({"web02"});
  CHECK(lab.engine.world.vm_by_name("app01")->status == lab::VmStatus::Down);  // fenced: its VMs down
}

TEST_CASE("procedures: the stale-record bug of oVirt's restore is caught and fixed by she-restore-failover") {
  ThreeHostLab lab;
  REQUIRE(lab.run("she-backup").exit_code == 0);
  const std::string stale_id = lab.engine.host_id("hosted_engine_1");
  lab.disaster();
  lab::Faults f = lab.engine.world.faults();
  f.restore_leaves_stale_host = true;  // ovirt-he-automation.md: restore_backup.yml misses the record
  lab.engine.world.set_faults(f);
  auto r = lab.run("she-restore-failover", lab.restore_params());
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(lab.engine.count("DELETE", "/ovirt-engine/api/hosts/" + stale_id) == 1);
  lab.check_restored_world({"db01", "web01"});
}

TEST_CASE("procedures: without the remove-stale step the lab's deploy fails at synchronization - the trap is real") {
  ThreeHostLab lab;
  REQUIRE(lab.run("she-backup").exit_code == 0);
  lab.disaster();
  lab::Faults f = lab.engine.world.faults();
  f.restore_leaves_stale_host = true;
  lab.engine.world.set_faults(f);
  // The shipped procedure minus the steps that find and remove the stale record.
  std::string text = test::read_file(test::source_path("plans/she-restore-failover.yaml"));
  for (const char* id : {"remove-stale", "recheck-stale", "no-stale-left"}) {
    size_t at = text.find(std::string("  - id: ") + id + "\n");
    REQUIRE(at != std::string::npos);
    text.erase(at, text.find("\n  - id: ", at + 1) + 1 - at);
  }
  fs::path procedure = lab.dir.path() / "no-stale-removal.yaml";
  test::write_file(procedure, text);
  auto r = lab.run("she-restore-failover", lab.restore_params(), "", procedure.string());
  CHECK(r.exit_code != 0);
  CHECK_MESSAGE(r.output.find("deploy-continue") != std::string::npos, r.output);
  CHECK_MESSAGE(r.output.find("Host is not up") != std::string::npos, r.output);
}

TEST_CASE("procedures: split brain - an old engine still answering stops the restore at preflight with nothing changed") {
  ThreeHostLab lab;
  REQUIRE(lab.run("she-backup").exit_code == 0);
  lab.disaster();
  lab.engine.world.set_engine_running(true);  // the old engine VM still runs (its DB down)
  const int before = lab.destructive_calls();
  auto r = lab.run("she-restore-failover", lab.restore_params());
  CHECK(r.exit_code != 0);
  CHECK_MESSAGE(r.output.find("check-old-engine-down: FAILED: an engine answers at engine.example.com") != std::string::npos,
                r.output);
  CHECK(r.output.find("hosted-engine --vm-shutdown") != std::string::npos);  // the remedy
  CHECK(lab.destructive_calls() == before);
  CHECK(lab.agent_commands("hosted_engine_1", "hosted-engine --deploy") == 0);
}

TEST_CASE("procedures: a backup from a newer engine than the appliance is refused before the deploy") {
  ThreeHostLab lab;
  REQUIRE(lab.run("she-backup").exit_code == 0);
  lab.disaster();
  std::string params = lab.restore_params();
  params.replace(params.find("4.5.6"), 5, "4.4.10");
  auto r = lab.run("she-restore-failover", params);
  CHECK(r.exit_code != 0);
  CHECK_MESSAGE(r.output.find("verify-archive: FAILED") != std::string::npos, r.output);
  CHECK(r.output.find("4.4") != std::string::npos);
  CHECK(lab.agent_commands("hosted_engine_1", "hosted-engine --deploy") == 0);
}

TEST_CASE("procedures: an unreachable dead host is handled per on_failure - the others are reinstalled") {
  ThreeHostLab lab;
  REQUIRE(lab.run("she-backup").exit_code == 0);
  lab.disaster();
  lab.fleet.set_unreachable("hosted_engine_3", true);
  auto r = lab.run("she-restore-failover", lab.restore_params());
  CHECK(r.exit_code != 0);
  CHECK_MESSAGE(r.output.find("wipe-he-config (hosted_engine_3): failed (transport): hosted_engine_3: cannot connect") !=
                    std::string::npos,
                r.output);
  CHECK(r.output.find("reinstall (hosted_engine_3): failed") != std::string::npos);
  auto he2 = lab.engine.world.host_by_name("hosted_engine_2");
  REQUIRE(he2);
  CHECK(he2->status == lab::HostStatus::Up);
  CHECK(he2->hosted_engine->score == 3400);
  CHECK(r.output.find("wipe-he-config (hosted_engine_3)") != std::string::npos);
}

TEST_CASE("procedures: a host failing to reinstall leaves the others done - the stop names it and the remedy") {
  ThreeHostLab lab;
  REQUIRE(lab.run("she-backup").exit_code == 0);
  lab.disaster();
  lab.fleet.set_faults("hosted_engine_3",
                       R"({"fail": [{"match": "host-deploy", "message": "Failed to install Host hosted_engine_3: yum failed"}]})");
  auto r = lab.run("she-restore-failover", lab.restore_params());
  CHECK(r.exit_code != 0);
  CHECK_MESSAGE(r.output.find("reinstall") != std::string::npos, r.output);
  CHECK(r.output.find("yum failed") != std::string::npos);
  CHECK(lab.engine.world.host_by_name("hosted_engine_2")->status == lab::HostStatus::Up);
  CHECK(lab.engine.world.host_by_name("hosted_engine_3")->status == lab::HostStatus::InstallFailed);
  CHECK(r.output.find("left for the operator (steps that went on") != std::string::npos);
  CHECK(r.output.find("--from reinstall") != std::string::npos);
  // The remedy it names: fix the host, run again from the reinstall.
  lab.fleet.set_faults("hosted_engine_3", "{}");
  const int adds = lab.engine.count("POST", "/ovirt-engine/api/hosts?");
  auto again = lab.run("she-restore-failover", lab.restore_params(), "--from reinstall");
  REQUIRE_MESSAGE(again.exit_code == 0, again.output);
  CHECK(lab.engine.count("POST", "/ovirt-engine/api/hosts?") == adds);  // reinstalled, not added twice
  lab.check_restored_world({"db01", "web01"});
}

TEST_CASE("procedures: a dry run of each shipped plan on the lab reads live - the request log holds reads only") {
  ThreeHostLab lab;
  REQUIRE(lab.run("she-backup").exit_code == 0);
  lab.engine.world.set_host_status("hosted_engine_3", lab::HostStatus::NonResponsive);
  const size_t before = lab.engine.server->request_log().all().size();
  std::map<std::string, size_t> agent_logs_before;
  for (const auto& h : lab.fleet.hosts()) agent_logs_before[h.name] = test::read_file(h.agent_log).size();

  // Before the disaster: loops over live queries resolve to the real hosts.
  auto backup = lab.dry_run("she-backup");
  REQUIRE_MESSAGE(backup.exit_code == 0, backup.output);
  CHECK(backup.output.find("live   ") != std::string::npos);
  auto remove = lab.dry_run("she-remove-nonoperational", "  keep: [hosted_engine_1]\n");
  REQUIRE_MESSAGE(remove.exit_code == 0, remove.output);
  CHECK_MESSAGE(remove.output.find("for each host in [hosted_engine_3]") != std::string::npos, remove.output);
  CHECK(remove.output.find("host = hosted_engine_3:") != std::string::npos);
  CHECK(remove.output.find("<host.id>") == std::string::npos);  // resolved to the live host's id

  // After it: the manifest, archive, DNS and split-brain checks are real.
  lab.disaster();
  auto restore = lab.dry_run("she-restore-failover", lab.restore_params());
  REQUIRE_MESSAGE(restore.exit_code == 0, restore.output);
  CHECK_MESSAGE(restore.output.find("live   addresses = 192.0.2.10") != std::string::npos, restore.output);
  CHECK(restore.output.find("live   status = unreachable") != std::string::npos);  // no old engine answers
  CHECK(restore.output.find("when   steps.find-stale.found") != std::string::npos);
  auto new_host = lab.dry_run("she-restore-new-host", "  backup: " + lab.stored_backup() +
                                                         "\n  deploy_host: spare_1\n  storage_connection: nfs:/he\n");
  REQUIRE_MESSAGE(new_host.exit_code == 0, new_host.output);
  for (auto* out : {&backup.output, &remove.output, &restore.output, &new_host.output}) lab.check_no_secret_leaked(*out);

  // Reads only: nothing changed the engine, no destructive command ran.
  auto log = lab.engine.server->request_log().all();
  for (size_t i = before; i < log.size(); ++i) {
    CAPTURE(log[i].path);
    CHECK((log[i].method == "GET" || log[i].path == "/ovirt-engine/sso/oauth/token" ||
           log[i].path == "/ovirt-engine/services/sso-logout"));
  }
  // On the hosts, only commands that read: every command line the agents
  // logged since the dry runs began starts with one of these.
  const std::set<std::string> reads = {"getent", "cat", "test", "stat", "sha256sum", "dd", "hostname", "true", "find"};
  for (auto& [host, size] : agent_logs_before) {
    std::istringstream lines(test::read_file(lab.fleet.host(host).agent_log).substr(size));
    for (std::string line; std::getline(lines, line);) {
      auto entry = nlohmann::json::parse(line, nullptr, false);
      if (!entry.is_object() || !entry.contains("command")) continue;
      std::string command = entry["command"];
      CAPTURE(host);
      CAPTURE(command);
      std::string first = command.substr(0, command.find(' '));
      bool writes = (first == "dd" && command.find(" of=") != std::string::npos) ||
                    (first == "hostname" && command != "hostname") ||
                    (first == "find" && (command.find(" -delete") != std::string::npos ||
                                         command.find(" -exec") != std::string::npos));
      CHECK(((reads.count(first) == 1 && !writes) || command.rfind("hosted-engine --vm-status", 0) == 0));
    }
  }
}

TEST_CASE("procedures: a plan naming a lab scenario - she-restore starts the lab and runs on it and stops it") {
  test::TempDir state;
  auto r = test::she_restore("examples/lab-rehearsal/remove-nonoperational.yaml --yes --state-dir '" +
                             state.path().string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(r.output.find("lab: examples/lab/three-hosts-restored.yaml is up") != std::string::npos);
  CHECK(r.output.find("hosts added or reinstalled: hosted_engine_2, hosted_engine_3") != std::string::npos);
  CHECK(r.output.find("left for the operator: nothing") != std::string::npos);
  // The lab is gone with the command: nothing listens where it did.
  size_t at = r.output.find("lab: listening https://127.0.0.1:");
  REQUIRE(at != std::string::npos);
  const size_t colon = r.output.rfind(':', r.output.find('\n', at));
  const std::string port = std::to_string(std::stoi(r.output.substr(colon + 1)));
  REQUIRE(std::stoi(port) > 0);
  CHECK(test::run("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" + port + "' 2>/dev/null").exit_code != 0);
  // A second run is a new rehearsal from the scenario, not a resume.
  auto again = test::she_restore("examples/lab-rehearsal/remove-nonoperational.yaml --yes --state-dir '" +
                                 state.path().string() + "'");
  REQUIRE_MESSAGE(again.exit_code == 0, again.output);
  CHECK(again.output.find("started run 0002-") != std::string::npos);
}

TEST_CASE("procedures: an SPM on a dead hosted-engine host is taken over once fenced - an unreachable regular host stays down") {
  // The backup taken with the SPM on hosted_engine_3 (she-backup warns, the
  // operator goes on) and the regular host_4 unreachable after the disaster.
  test::TempDir scenario_dir;
  std::string scenario = test::read_file(test::source_path("examples/lab/three-hosts.yaml"));
  scenario.replace(scenario.find("    spm: true\n"), 14, "");
  scenario.replace(scenario.find("    hosted_engine: {host_id: 3, score: 3400}\n"), 45,
                   "    hosted_engine: {host_id: 3, score: 3400}\n    spm: true\n");
  test::write_file(scenario_dir.path() / "spm-on-he3.yaml", scenario);
  ProcedureLab lab((scenario_dir.path() / "spm-on-he3.yaml").string());
  REQUIRE(lab.engine.world.host_by_name("hosted_engine_3")->spm == lab::SpmStatus::Spm);
  REQUIRE(lab.run("she-backup").exit_code == 0);
  lab.disaster();
  lab.fleet.set_unreachable("host_4", true);
  auto r = lab.run("she-restore-failover", lab.restore_params());
  // The VMs to start were moved to host_4 with the failover host's
  // maintenance before the backup: the engine cannot start them while it
  // cannot reach host_4. The early start-vms does not hold back the
  // reinstalls (on_failure: continue); vms-up, last, stops and says why.
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.output.find("start-vms: failed, going on (on_failure: continue)") != std::string::npos, r.output);
  CHECK_MESSAGE(r.output.find("vms-up: FAILED: the engine cannot tell whether these VMs still run: db01 (on host_4)") !=
                    std::string::npos,
                r.output);
  // The fence of the old SPM let the engine elect another: the data
  // center was up before the dead hosts were removed.
  const size_t dc_up = r.output.find("[19/27] datacenter-up: done"), removing = r.output.find("[21-23/27] replace-dead: Remove");
  REQUIRE(dc_up != std::string::npos);
  REQUIRE(removing != std::string::npos);
  CHECK(removing > dc_up);
  int spm_up = 0;
  for (const auto& h : lab.engine.world.hosts()) spm_up += h.spm == lab::SpmStatus::Spm && h.status == lab::HostStatus::Up;
  CHECK(spm_up == 1);
  CHECK(lab.engine.world.data_centers().front().status == lab::DataCenterStatus::Up);
  CHECK(lab.engine.world.host_by_name("hosted_engine_3")->status == lab::HostStatus::Up);
  // A regular host comes up on its own only if the engine reaches it; it is
  // not the plan's to reinstall, and nothing was done to it.
  auto host_4 = lab.engine.world.host_by_name("host_4");
  REQUIRE(host_4);
  CHECK(host_4->status == lab::HostStatus::NonResponsive);
  CHECK(lab.engine.count("POST", "/ovirt-engine/api/hosts/" + host_4->id + "/fence") == 0);
}
