// The shipped procedures' lab: a scenario's engine over HTTPS and its hosts
// as real sshd on loopback, with the environment file `she-lab serve`
// writes (lab/lab_environment.h), and what the procedure tests check of it.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "lab/host_fleet.h"
#include "lab/lab_environment.h"
#include "lab/scenario.h"
#include "lab/staged_disaster.h"
#include "orchestrator/journal.h"
#include "tests/lab_fixture.h"
#include "tests/lab_hosts_fixture.h"
#include "tests/test_support.h"

namespace she::test {

namespace fs = std::filesystem;

/// The journal record counts after which a run moved on to another step:
/// where a crash campaign kills it (SHE_RESTORE_TEST_KILL_AFTER_RECORDS).
inline std::vector<int> step_boundaries(const fs::path& journal) {
  std::vector<Value> records;
  std::string warning, err;
  REQUIRE_MESSAGE(Journal::read(journal.string(), &records, &warning, &err), err);
  std::vector<std::string> steps;
  for (auto& rec : records) steps.push_back(rec.is_object() ? rec.value("step", "") : "");
  std::vector<int> boundaries;
  for (size_t i = 0; i + 1 < steps.size(); ++i)
    if (!steps[i].empty() && steps[i + 1] != steps[i]) boundaries.push_back(static_cast<int>(i) + 1);
  return boundaries;
}

/// A scenario's engine and hosts (every host a real sshd on loopback), the
/// environment for them, and the lab's host-deploy wired to the fleet.
struct ProcedureLab {
  static constexpr const char* kAppliancePassword = "Appliance-Root-9";

  LabEngine engine;
  TempDir dir;  // before the fleet: removed after it stops
  lab::HostFleet fleet;
  fs::path environment;

  explicit ProcedureLab(const std::string& scenario = "examples/lab/three-hosts.yaml") : engine(scenario) {
    lab::WorldState st = lab::load_scenario(source_path(scenario));
    fleet.start(dir.path() / "fleet", lab::scenario_fleet(st, 60), lab::HostFleet::default_agent_binary(),
                engine.server->agent_socket());
    fs::path password = dir.path() / "engine-password";
    write_file(password, std::string(LabEngine::kPassword) + "\n");
    fs::permissions(password, fs::perms::owner_read | fs::perms::owner_write);
    environment = dir.path() / "environment.yaml";
    lab::write_lab_environment(environment, st, fleet, "https://127.0.0.1:" + std::to_string(engine.port),
                               engine.pki.files.ca_file, password);
    engine.world.set_host_machines(&fleet);
  }
  ~ProcedureLab() { engine.world.set_host_machines(nullptr); }

  fs::path write_plan(const std::string& procedure, const std::string& with, const std::string& uses = "") {
    fs::path plan = dir.path() / (procedure + ".yaml");
    std::string params = with;
    // she-backup's freshness file goes to the test's own directory, never
    // to the machine's node_exporter directory.
    if ((uses.empty() ? procedure : uses) == "she-backup" && with.find("metrics_dir:") == std::string::npos) {
      fs::create_directories(metrics_dir());
      params += "  metrics_dir: " + metrics_dir().string() + "\n";
    }
    write_file(plan, "plan: " + procedure + "\nuses: " + (uses.empty() ? procedure : uses) +
                               "\nenvironment: " + environment.string() + "\n" + (params.empty() ? "" : "with:\n" + params));
    return plan;
  }

  /// One command on a lab host over real SSH, as a person at a shell would.
  ExecResult run_on(const std::string& host, const std::string& command) {
    SshSession s(fleet_target(fleet, host));
    return s.exec(command);
  }

  /// Where she-backup's freshness file (metrics.textfile) goes in tests.
  fs::path metrics_dir() const { return dir.path() / "textfile_collector"; }

  ProcessResult run(const std::string& procedure, const std::string& with = "", const std::string& flags = "",
                          const std::string& uses = "") {
    fs::path plan = write_plan(procedure, with, uses);
    return she_restore("'" + plan.string() + "' --yes --state-dir '" + (dir.path() / "state").string() + "' " + flags,
                             std::string("ENGINE_VM_ROOT_PASSWORD=") + kAppliancePassword);
  }

  ProcessResult dry_run(const std::string& procedure, const std::string& with = "") {
    return she_restore("--dry-run '" + write_plan(procedure, with).string() + "'",
                             std::string("ENGINE_VM_ROOT_PASSWORD=") + kAppliancePassword);
  }

  /// The archive she-backup stored (its name in backup storage).
  std::string stored_backup() {
    for (auto& e : fs::directory_iterator(fleet.host("backup_storage").sandbox / "srv/backups/engine"))
      if (e.path().extension() == ".backup") return e.path().filename().string();
    return "";
  }

  /// The disaster of the failover-host procedure: the engine VM's host is
  /// gone with the engine, and the failover host has been freshly installed.
  void disaster(const std::string& failover = "hosted_engine_1") { lab::apply_disaster(engine.world, fleet, failover); }

  /// The acceptance's final state: the engine healthy, every hosted-engine
  /// host up with score 3400, one record per host, the listed VMs up.
  void check_restored_world(const std::vector<std::string>& vms_up, int hosted_engine_hosts = 3) {
    lab::World& w = engine.world;
    CHECK(w.engine().health_up);
    CHECK(w.engine().running);
    std::set<std::string> names, hardware;
    int he_hosts = 0;
    for (const auto& h : w.hosts()) {
      CHECK_MESSAGE(names.insert(h.name).second, "two records named " << h.name);
      CHECK_MESSAGE(hardware.insert(h.hardware_id).second, "two records of hardware " << h.hardware_id);
      CHECK_MESSAGE(h.status == lab::HostStatus::Up, h.name << " is " << lab::to_string(h.status));
      if (!h.hosted_engine) continue;
      ++he_hosts;
      CHECK_MESSAGE(h.hosted_engine->score == 3400, h.name << " scores " << h.hosted_engine->score);
    }
    CHECK(he_hosts == hosted_engine_hosts);
    auto status = w.he_vm_status();
    for (auto it = status.begin(); it != status.end(); ++it)
      if (it.key() != "global_maintenance") CHECK_MESSAGE(it.value()["score"] == 3400, it.value().dump());
    for (const auto& name : vms_up) {
      auto vm = w.vm_by_name(name);
      REQUIRE(vm);
      CHECK_MESSAGE(vm->status == lab::VmStatus::Up, name);
    }
    auto he_vm = w.vm_by_name("HostedEngine");
    REQUIRE(he_vm);
    CHECK(he_vm->status == lab::VmStatus::Up);
  }

  /// The engine password and the appliance's root password (the values run()
  /// passes by reference) appear nowhere: not in `output`, the run
  /// directories (journal, log, reports), the hosts' command logs or the
  /// engine's request log.
  void check_no_secret_leaked(const std::string& output) {
    std::vector<std::string> places = {output};
    if (fs::exists(dir.path() / "state"))
      for (auto& e : fs::recursive_directory_iterator(dir.path() / "state"))
        if (e.is_regular_file()) places.push_back(read_file(e.path()));
    for (const auto& h : fleet.hosts()) places.push_back(read_file(h.agent_log));
    for (const auto& req : engine.server->request_log().all()) places.push_back(req.path);
    for (const std::string secret : {LabEngine::kPassword, kAppliancePassword})
      for (const auto& text : places) CHECK_MESSAGE(text.find(secret) == std::string::npos, "leaked: " << secret);
  }

  /// Destructive engine calls the lab saw: fence, remove, add.
  int destructive_calls() {
    int n = 0;
    for (auto& r : engine.server->request_log().all())
      if (r.method == "DELETE" || (r.method == "POST" && (r.path.find("/fence") != std::string::npos ||
                                                          r.path.rfind("/ovirt-engine/api/hosts?", 0) == 0 ||
                                                          r.path == "/ovirt-engine/api/hosts")))
        ++n;
    return n;
  }

  /// Commands the host's agent started that contain `needle`.
  int agent_commands(const std::string& host, const std::string& needle) {
    std::string log = read_file(fleet.host(host).agent_log);
    int n = 0;
    for (size_t at = 0; (at = log.find(needle, at)) != std::string::npos; ++at) ++n;
    return n;
  }

  std::string restore_params() {
    return "  backup: " + stored_backup() +
           "\n  storage_connection: nfs.example.com:/exports/he\n  target_version: 4.5.6\n"
           "  high_priority_vms: [db01, web01]\n";
  }
};


}  // namespace she::test
