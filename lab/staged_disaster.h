// A scenario that starts after the disaster, so that a restore can be
// rehearsed on its own (`after_disaster:` in the scenario, staged by
// `she-lab serve` once its hosts run): the failover host is put in
// maintenance and a backup of the engine is taken then, stored on backup
// storage with the manifest she-backup writes; the failover host is
// activated again (as she-backup ends); then the disaster: the engine VM's
// host goes non-responsive, the engine VM is off (nothing answers), and the
// failover host is freshly installed (no hosted-engine.conf).
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
