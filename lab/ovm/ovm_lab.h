// An Oracle VM lab scenario (examples/ovm/lab/*.yaml, a top-level `ovm:`
// key): the manager, its server pools, networks, servers with their LUNs
// (WWID, OCFS2 recipe), repositories, VMs with vNICs and disk mappings,
// snapshot files, and faults (a LUN whose WWID changed, a lost database, a
// lost repository). It becomes lab hosts (lab/host_fleet.h): the manager's
// OS (role ovm_manager), its CLI port (ovm_cli), one ovm_server per server
// and backup_storage; seed_ovm_lab then writes each one's sandbox, and
// builds the manager's database through the lab CLI itself, so every
// vm.cfg is the one the manager writes.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lab/host_fleet.h"

namespace she::lab::ovm {

/// The scenario as JSON (its `ovm:` map). Throws std::runtime_error with
/// file:line:column for a file that is not an OVM scenario.
nlohmann::json load_ovm_scenario(const std::filesystem::path& file);

/// The lab hosts of a scenario, on 127.0.0.N from `first_octet`:
/// ovm_manager, ovm_cli, each server, backup_storage.
std::vector<FleetHostSpec> ovm_fleet(const nlohmann::json& scenario, int first_octet);

/// Writes the sandboxes and the manager's database, then applies the
/// scenario's faults. Throws std::runtime_error when the scenario names
/// something it does not define.
void seed_ovm_lab(const nlohmann::json& scenario, const HostFleet& fleet);

/// Writes the environment file for the fleet: the manager's OS
/// (ovm_manager), its CLI (ovm_cli, the CLI port), every server
/// (ovm_server) and backup_storage (/srv/backups/ovm); no oVirt engine.
void write_ovm_environment(const std::filesystem::path& path, const HostFleet& fleet);

/// Where the lab keeps what the procedures read and write.
inline constexpr const char* kManagerDatabase = "/u01/app/oracle/mysql/data/ovs.json";
inline constexpr const char* kManagerBackups = "/u01/app/oracle/mysql/dbbackup";
inline constexpr const char* kManagerConfig = "/u01/app/oracle/ovm-manager-3/.config";
inline constexpr const char* kLunsFile = "/etc/lab-ovm/luns.json";

}  // namespace she::lab::ovm
