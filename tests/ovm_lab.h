// The Oracle VM lab of the OVM procedures' tests: a scenario's manager (its
// OS and its CLI port), servers and backup storage as real sshd on
// loopback (lab/ovm/ovm_lab.h), the environment for them, and what the
// tests check of its world: the manager's database, the servers' files and
// the command logs.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "lab/host_fleet.h"
#include "lab/ovm/ovm_lab.h"
#include "lab/ovm/ovm_world.h"
#include "tests/test_support.h"

namespace she::test {

namespace fs = std::filesystem;

struct OvmLab {
  TempDir dir;  // before the fleet: removed after it stops
  lab::HostFleet fleet;
  fs::path environment;

  explicit OvmLab(const std::string& scenario, int first_octet = 120) {
    nlohmann::json sc = lab::ovm::load_ovm_scenario(source_path(scenario));
    fleet.start(dir.path() / "fleet", lab::ovm::ovm_fleet(sc, first_octet), lab::HostFleet::default_agent_binary(), {});
    lab::ovm::seed_ovm_lab(sc, fleet);
    environment = dir.path() / "environment.yaml";
    lab::ovm::write_ovm_environment(environment, fleet);
  }

  fs::path write_plan(const std::string& procedure, const std::string& with) {
    fs::path plan = dir.path() / (procedure + ".yaml");
    write_file(plan, "plan: " + procedure + "\nuses: " + procedure + "\nenvironment: " + environment.string() + "\n" +
                         (with.empty() ? "" : "with:\n" + with));
    return plan;
  }
  ProcessResult run(const std::string& procedure, const std::string& with = "", const std::string& flags = "",
                    const std::string& env = "") {
    return she_restore("'" + write_plan(procedure, with).string() + "' --yes --state-dir '" +
                           (dir.path() / "state").string() + "' " + flags,
                       env);
  }
  ProcessResult dry_run(const std::string& procedure, const std::string& with = "") {
    return she_restore("--dry-run '" + write_plan(procedure, with).string() + "'");
  }

  /// The manager's database as it stands.
  lab::ovm::OvmWorld world() {
    auto w = lab::ovm::OvmWorld::load(fleet.host("ovm_manager").in_sandbox(lab::ovm::kManagerDatabase));
    REQUIRE(w);
    return *w;
  }
  /// A file on a lab host ("" when missing).
  std::string file(const std::string& host, const std::string& path) {
    fs::path p = fleet.host(host).in_sandbox(path);
    return fs::exists(p) ? read_file(p) : "";
  }
  /// Commands a host's log shows that contain `needle` (the CLI's own log for ovm_cli).
  int commands(const std::string& host, const std::string& needle) {
    std::string log = read_file(fleet.host(host).agent_log);
    int n = 0;
    for (size_t at = 0; (at = log.find(needle, at)) != std::string::npos; ++at) ++n;
    return n;
  }
  /// Every write the lab's CLI answered (its log marks each command's end with "wrote").
  int cli_writes() { return commands("ovm_cli", "\"wrote\":true"); }
};

}  // namespace she::test
