// Lab scenarios: a YAML file that sets up the simulated engine's world
// (engine, data centers, clusters, hosts, VMs, hosted-engine hosts, the SPM),
// how long transitions take, the time scale, and faults to inject. Unknown
// keys and bad values are refused with file:line:column, all at once, in the
// project's diagnostic format.
//
//   scenario: three-hosts
//   engine: {fqdn: engine.example.com, version: 4.5.6, health: up, user: admin@internal,
//            global_maintenance: false}
//   data_centers: [{name: Default, status: up}]
//   clusters: [{name: Default, data_center: Default}]
//   hosts:
//     - {name: hosted_engine_1, address: host1.example.com, hardware_id: ..., cluster: Default,
//        status: up, status_detail: "", spm: false, spm_priority: 5,
//        hosted_engine: {host_id: 1, score: 3400, active: true, local_maintenance: false}}
//   vms: [{name: HostedEngine, host: hosted_engine_2, status: up, hosted_engine_vm: true}]
//   durations: {maintenance: 10, activate: 5, install: 30, start_vm: 5}   # seconds
//   time_scale: 1          # 0: every transition is due at once
//   faults: {http_503: {count: 2, methods: [GET]}, slow_ms: 0, token_ttl_s: 0,
//            hosted_engine_restore_leaves_stale_host: false,
//            hosts: {hosted_engine_3: {unreachable: true},
//                    engine: {fail: [{match: engine-backup, message: "...", exit: 1, times: 1}],
//                             drop_mid_command: "...", drop_after_bytes: N, drop_times: 1, slow_ms: 0}}}
//   lab_hosts: [{name: spare_1, role: spare, hostname: spare1.example.com, hardware_id: ...}]
//   engine_machine: {setup: done, database: local}   # or installed; database: a lab host of role database
//
// faults.hosts and lab_hosts are for the lab's simulated hosts (she-lab
// serve, lab/host_fleet.h): each world host, `engine`, `backup_storage` and
// the lab_hosts get an sshd whose agent reads its host's faults.
//
// Every entity may also carry an explicit `id` (a GUID); otherwise the lab
// derives a stable one. The password is never in a scenario: she-lab makes one.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

#include "lab/world.h"

namespace she::lab {

/// what(): every diagnostic, "file:line:column: error[kind]: message", then a count.
class ScenarioError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Parses scenario text; `file_name` is used in the positions of errors.
WorldState parse_scenario(const std::string& text, const std::string& file_name);
/// Reads and parses a scenario file.
WorldState load_scenario(const std::filesystem::path& file);

}  // namespace she::lab
