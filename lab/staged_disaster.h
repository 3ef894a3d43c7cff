// A scenario that starts after the disaster, so that a restore can be
// rehearsed on its own (`after_disaster:` in the scenario, staged by
// `she-lab serve` once its hosts run): the failover host is put in
// maintenance and a backup of the engine is taken then, stored on backup
// storage with the manifest she-backup writes; the failover host is
// activated again (as she-backup ends); then the disaster: the engine VM's
// host goes non-responsive, the engine VM is off (nothing answers), and the
// failover host is freshly installed (no hosted-engine.conf).
//
// `deploy: legacy` (the 4.0-4.2 restore, seed 000): the backup's database is
// a real pg_dump of the engine's real PostgreSQL database (the world as the
// engine knew it travels inside, table she_lab_world), and the engine VM is
// gone: the lab host `engine` is powered off (every command answers as an
// unreachable machine: "No route to host", 255) and freshly installed (the
// engine's packages and PostgreSQL installed, no cluster, not set up) until
// `hosted-engine --deploy --noansible` creates the VM.
#pragma once

#include <string>

#include "lab/host_fleet.h"
#include "lab/world.h"

namespace she::lab {

/// The disaster alone: the engine VM's host stops answering, the engine VM
/// is off (nothing answers at the FQDN), and the failover host has been
/// freshly installed (no hosted-engine.conf).
void apply_disaster(World& world, const HostFleet& fleet, const std::string& failover);

/// Stages it; returns the stored archive's path as backup storage sees it.
/// Throws std::runtime_error when the scenario cannot be staged.
std::string stage_disaster(World& world, const HostFleet& fleet, const AfterDisaster& spec,
                           const std::string& storage_path);

}  // namespace she::lab
