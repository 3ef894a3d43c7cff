#include "lab/statuses.h"

#include <array>
#include <utility>

namespace she::lab {

namespace {

// One table per enum, indexed by the enumerator's value, so the name of a
// status and its parse can never disagree.
constexpr std::array<const char*, 16> kHostStatus = {
    "down",        "error",          "initializing",   "installing",
    "install_failed", "maintenance", "non_operational", "non_responsive",
    "pending_approval", "preparing_for_maintenance", "connecting", "reboot",
    "unassigned",  "up",             "installing_os",  "kdumping"};

constexpr std::array<const char*, 15> kVmStatus = {
    "unassigned", "down",    "up",           "powering_up",   "paused",
    "migrating",  "unknown", "not_responding", "wait_for_launch", "reboot_in_progress",
    "saving_state", "restoring_state", "suspended", "image_locked", "powering_down"};

constexpr std::array<const char*, 3> kSpmStatus = {"none", "contending", "spm"};

constexpr std::array<const char*, 6> kDataCenterStatus = {
    "uninitialized", "up", "maintenance", "not_operational", "problematic", "contend"};

// The same order as the model's tables above, spelled as the engine's enums.
constexpr std::array<const char*, 16> kHostEngineName = {
    "Down",          "Error",       "Initializing",   "Installing",
    "InstallFailed", "Maintenance", "NonOperational", "NonResponsive",
    "PendingApproval", "PreparingForMaintenance", "Connecting", "Reboot",
    "Unassigned",    "Up",          "InstallingOS",   "Kdumping"};

constexpr std::array<const char*, 15> kVmEngineName = {
    "Unassigned",  "Down",    "Up",            "PoweringUp",   "Paused",
    "MigratingFrom", "Unknown", "NotResponding", "WaitForLaunch", "RebootInProgress",
    "SavingState", "RestoringState", "Suspended", "ImageLocked", "PoweringDown"};

// StoragePoolStatus has NonResponsive where the model says problematic.
constexpr std::array<const char*, 6> kDataCenterEngineName = {
    "Uninitialized", "Up", "Maintenance", "NotOperational", "NonResponsive", "Contend"};

// The engine's enums in their value order (VDSStatus 0..15, VMStatus -1..16,
// StoragePoolStatus 0..5), which is also the order sortby uses.
constexpr std::array<const char*, 16> kVdsStatus = {
    "Unassigned", "Down", "Maintenance", "Up", "NonResponsive", "Error", "Installing", "InstallFailed",
    "Reboot", "PreparingForMaintenance", "NonOperational", "PendingApproval", "Initializing", "Connecting",
    "InstallingOS", "Kdumping"};

constexpr std::array<const char*, 17> kVmEngineStatus = {
    "Unassigned", "Down", "Up", "PoweringUp", "Paused", "MigratingFrom", "MigratingTo", "Unknown",
    "NotResponding", "WaitForLaunch", "RebootInProgress", "SavingState", "RestoringState", "Suspended",
    "ImageIllegal", "ImageLocked", "PoweringDown"};

template <typename Enum, std::size_t N>
std::optional<Enum> parse(const std::array<const char*, N>& table, std::string_view s) {
  for (std::size_t i = 0; i < N; ++i)
    if (s == table[i]) return static_cast<Enum>(i);
  return std::nullopt;
}

template <std::size_t N>
std::vector<std::string> names(const std::array<const char*, N>& table) {
  return std::vector<std::string>(table.begin(), table.end());
}

}  // namespace

const char* to_string(HostStatus s) { return kHostStatus[static_cast<std::size_t>(s)]; }
const char* to_string(VmStatus s) { return kVmStatus[static_cast<std::size_t>(s)]; }
const char* to_string(SpmStatus s) { return kSpmStatus[static_cast<std::size_t>(s)]; }
const char* to_string(DataCenterStatus s) { return kDataCenterStatus[static_cast<std::size_t>(s)]; }

std::optional<HostStatus> parse_host_status(std::string_view s) { return parse<HostStatus>(kHostStatus, s); }
std::optional<VmStatus> parse_vm_status(std::string_view s) { return parse<VmStatus>(kVmStatus, s); }
std::optional<SpmStatus> parse_spm_status(std::string_view s) { return parse<SpmStatus>(kSpmStatus, s); }
std::optional<DataCenterStatus> parse_data_center_status(std::string_view s) {
  return parse<DataCenterStatus>(kDataCenterStatus, s);
}

const char* engine_name(HostStatus s) { return kHostEngineName[static_cast<std::size_t>(s)]; }
const char* engine_name(VmStatus s) { return kVmEngineName[static_cast<std::size_t>(s)]; }
const char* engine_name(DataCenterStatus s) { return kDataCenterEngineName[static_cast<std::size_t>(s)]; }

std::vector<std::string> engine_host_status_names() { return names(kVdsStatus); }
std::vector<std::string> engine_vm_status_names() { return names(kVmEngineStatus); }
std::vector<std::string> engine_data_center_status_names() { return names(kDataCenterEngineName); }

std::vector<std::string> host_status_names() { return names(kHostStatus); }
std::vector<std::string> vm_status_names() { return names(kVmStatus); }
std::vector<std::string> data_center_status_names() { return names(kDataCenterStatus); }

}  // namespace she::lab
