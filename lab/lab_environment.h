#pragma once
// The environment file a running lab writes for its operator: everything a
// shipped plan needs to rehearse against this lab (engine URL, CA, password
// reference, every host reached on its loopback sshd while keeping the
// address the engine knows it by, roles, backup storage).
#include <filesystem>
#include <string>

#include "lab/host_fleet.h"
#include "lab/world.h"

namespace she::lab {

/// Writes `path` (0600). The failover role goes to the first hosted-engine
/// host that does not run the engine VM: the host the docs want emptied
/// before a backup. The engine is polled as often as the lab's clock makes
/// a second pass (a time scale of 0.05 polls every 50 ms), never below
/// 20 ms. Returns the file's text.
/// Where the lab's backup storage keeps archives (the environment's
/// backup_storage.path).
constexpr const char* kLabBackupPath = "/srv/backups/engine";

std::string write_lab_environment(const std::filesystem::path& path, const WorldState& world, const HostFleet& fleet,
                                  const std::string& api_url, const std::filesystem::path& ca_file,
                                  const std::filesystem::path& password_file);

}  // namespace she::lab
