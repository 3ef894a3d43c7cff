// The status enumerations of the engine's API model, with the lowercase
// names the XML uses (reference: ovirt-engine-api.md sections 2 and 5).
// The lab keeps statuses as enums so a typo in the rules is a compile error,
// and converts at the edges (scenario files, XML, JSON).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace she::lab {

/// model types/HostStatus.java: every VDSStatus maps to one of these.
enum class HostStatus {
  Down,
  Error,
  Initializing,
  Installing,
  InstallFailed,
  Maintenance,
  NonOperational,
  NonResponsive,
  PendingApproval,
  PreparingForMaintenance,
  Connecting,
  Reboot,
  Unassigned,
  Up,
  InstallingOs,
  Kdumping,
};

/// model types/VmStatus.java.
enum class VmStatus {
  Unassigned,
  Down,
  Up,
  PoweringUp,
  Paused,
  Migrating,
  Unknown,
  NotResponding,
  WaitForLaunch,
  RebootInProgress,
  SavingState,
  RestoringState,
  Suspended,
  ImageLocked,
  PoweringDown,
};

/// model types/SpmStatus.java.
enum class SpmStatus { None, Contending, Spm };

/// model types/DataCenterStatus.java.
enum class DataCenterStatus { Uninitialized, Up, Maintenance, NotOperational, Problematic, Contend };

const char* to_string(HostStatus s);
const char* to_string(VmStatus s);
const char* to_string(SpmStatus s);
const char* to_string(DataCenterStatus s);

std::optional<HostStatus> parse_host_status(std::string_view s);
std::optional<VmStatus> parse_vm_status(std::string_view s);
std::optional<SpmStatus> parse_spm_status(std::string_view s);
std::optional<DataCenterStatus> parse_data_center_status(std::string_view s);

/// The engine's own enum names (VDSStatus, VMStatus, StoragePoolStatus): the
/// search language matches status values by these, not by the XML spelling.
/// Where the model merges several engine values, the name of the one the
/// lab means (a migrating VM is seen from its source: MigratingFrom).
const char* engine_name(HostStatus s);
const char* engine_name(VmStatus s);
const char* engine_name(DataCenterStatus s);

/// Every engine enum name in the engine's value order, including values the
/// model has no XML spelling for: a search may name any of them.
std::vector<std::string> engine_host_status_names();
std::vector<std::string> engine_vm_status_names();
std::vector<std::string> engine_data_center_status_names();

/// Every name, in the model's order: for hints and validation messages.
std::vector<std::string> host_status_names();
std::vector<std::string> vm_status_names();
std::vector<std::string> data_center_status_names();

}  // namespace she::lab
