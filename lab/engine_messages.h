// The engine's refusal texts, as the API returns them with the variables
// filled in (reference: ovirt-engine-api.md section 4; engine
// AppErrors.properties). They live in one place so that a test, a reader or
// a reviewer can hold them against the fact sheet line by line. The server
// wraps each in the `[msg]` list form of the <detail> element.
#pragma once

#include <fmt/format.h>
#include <string>
#include <utility>

namespace she::lab::msg {

// Remove (RemoveVdsCommand.validate), 409.
inline constexpr const char* kRemoveHostOperational =
    "Cannot remove Host. Host is operational. Please switch Host to Maintenance mode first.";
inline constexpr const char* kRemoveHostHasVms = "Cannot remove Host. One or more VMs are still running on this Host.";

// Manual fence (FenceVdsManualyCommand.validate), 409. The text names three
// statuses although the code accepts nine; the engine says it this way.
inline constexpr const char* kFenceStatus =
    "Cannot confirm 'Host has been rebooted' Host. Valid Host statuses are \"Non operational\", \"Maintenance\" "
    "or \"Connecting\".";
// ACTION_TYPE_FAILED_STORAGE_POOL_STATUS_ILLEGAL: the SPM host's data center
// is still up (not in the fact sheet; engine AppErrors text).
inline constexpr const char* kFenceSpmDataCenterUp = "Cannot confirm 'Host has been rebooted' Host. Unknown Data Center status.";

// Install (UpdateHostValidator.statusSupportedForHostInstallation), 409.
inline constexpr const char* kInstallStatus = "Cannot install Host. Please move Host to Maintenance mode first.";

// Maintenance (MaintenanceNumberOfVdssCommand.validate), 409.
inline constexpr const char* kMaintenanceAlready = "Cannot switch Host to Maintenance mode. Host is already in Maintenance mode.";
inline constexpr const char* kMaintenanceNonResponsiveWithVms =
    "Cannot switch Host to Maintenance mode. Host still has running VMs on it and is in Non Responsive state.";
inline constexpr const char* kMaintenanceNonResponsiveSpm =
    "Cannot switch Host to Maintenance mode. Host is Storage Pool Manager and is in Non Responsive state.";
inline constexpr const char* kMaintenanceNoHostForEngineVm =
    "Cannot switch the Host(s) to Maintenance mode.\n"
    "None of the hosts capable of running the engine VM has score more than 0 and is in Up state.";
// Not in the fact sheet; engine AppErrors texts.
inline constexpr const char* kMaintenanceSpmContending =
    "Cannot switch Host to Maintenance mode. Host is contending for Storage Pool Manager,\n"
    "wait for operation to complete and retry.";
inline constexpr const char* kMaintenanceNotOperational =
    "Cannot switch Host to Maintenance mode, Host is not operational.";
// CANNOT_MAINTENANCE_VDS_RUN_VMS_NO_OTHER_RUNNING_VDS; {} are the host and
// the cluster names.
inline constexpr const char* kMaintenanceNoOtherUpHost =
    "The following Hosts have running VMs and cannot be switched to maintenance mode: {}.\n"
    "Please ensure that the following Clusters have at least one Host in UP state: {}.";

// Activate (VdsValidator.validateStatusForActivation): engine AppErrors texts.
inline constexpr const char* kActivateUp = "Cannot activate Host. Host in Up status.";
inline constexpr const char* kActivateNonResponsive = "Cannot activate Host. Host is non responsive.";

// Add (AddVdsCommand), 409.
inline constexpr const char* kAddSameName =
    "Cannot add Host. The Host name is already in use, please choose a unique name and try again.";
inline constexpr const char* kAddSameAddress = "Cannot add Host. Host with the same address already exists.";
inline constexpr const char* kAddSameUuid = "Cannot add Host. Host with the same UUID already exists.";

// Run VM: engine AppErrors texts.
inline constexpr const char* kRunVmRunning = "Cannot run VM. VM is running.";
// Stop and shutdown (StopVmCommandBase.validate: ACTION_TYPE_FAILED_VM_IS_NOT_RUNNING).
inline constexpr const char* kStopVmNotRunning = "Cannot stop VM. VM is not running.";
inline constexpr const char* kShutdownVmNotRunning = "Cannot shutdown VM. VM is not running.";
// Suspend (HibernateVmCommand.validate: ACTION_TYPE_FAILED_VM_IS_NOT_UP).
inline constexpr const char* kSuspendVmNotUp = "Cannot hibernate VM. VM is not up.";
// Reboot (RebootVmCommand.validate: ACTION_TYPE_FAILED_VM_STATUS_ILLEGAL);
// {} is the status as the engine spells it (VAR__VM_STATUS__*: "Down").
inline constexpr const char* kRebootVmStatus = "Cannot restart VM because the VM is in {} status.";
inline constexpr const char* kRunVmNoHost = "Cannot run VM. There are no available running Hosts in the Host Cluster.";

// The lab's own words, where the engine's exact text is not known: each
// says that it comes from the lab.
inline constexpr const char* kLabFenceNoPowerManagement =
    "Cannot fence Host. The lab simulates no power management: only fence_type manual is supported.";
inline constexpr const char* kLabNotHostedEngineVm =
    "Cannot set hosted engine maintenance. The lab accepts it only through the hosted engine VM.";
inline constexpr const char* kLabEngineVmNotRunning =
    "Cannot set hosted engine maintenance. The hosted engine VM is not running on any host (lab).";

}  // namespace she::lab::msg

// The audit log: every event the lab logs, with the engine's code
// (AuditLogType), severity and text (AuditLogMessages.properties, its
// ${...} variables as {} in their order). The one table the world's
// transitions and the server's login take their events from.
namespace she::lab::audit {

struct AuditEvent {
  int code;
  const char* severity;  // normal | warning | error | alert
  const char* text;
};

// {} user (name@profile-authz), source address, session id.
inline constexpr AuditEvent kUserVdcLogin{30, "normal", "User {} connecting from '{}' using session '{}' logged in."};
inline constexpr AuditEvent kVdsFailure{12, "error", "Host {} is non responsive."};
// Host monitoring, when it sees the host reach a status (Up after activation
// or installation): what a watcher of the event log learns it from.
inline constexpr AuditEvent kVdsDetected{13, "normal", "Status of host {} was set to {}."};
inline constexpr AuditEvent kVdsMaintenance{15, "normal", "Host {} was switched to Maintenance Mode."};
inline constexpr AuditEvent kVdsActivate{16, "normal", "Activation of host {} initiated by {}."};
inline constexpr AuditEvent kVdsMaintenanceFailed{17, "error", "Failed to switch Host {} to Maintenance mode."};
// {} VM, user, host; the optional reason left empty.
// {} VM, host: logged when the VM is up (RunVmCommand's success), after
// USER_STARTED_VM (153) at the call.
inline constexpr AuditEvent kUserRunVm{32, "normal", "VM {} started on Host {}"};
inline constexpr AuditEvent kUserStopVm{33, "normal", "VM {} powered off by {} (Host: {})."};
inline constexpr AuditEvent kUserAddVds{42, "normal", "Host {} was added by {}."};
inline constexpr AuditEvent kUserRemoveVds{44, "normal", "Host {} was removed by {}."};
inline constexpr AuditEvent kVmDown{61, "normal", "VM {} is down. {}"};
inline constexpr AuditEvent kUserInitiatedShutdownVm{73, "normal", "VM shutdown initiated by {} on VM {} (Host: {})."};
inline constexpr AuditEvent kUserStartedVm{153, "normal", "VM {} was started by {} (Host: {})."};
inline constexpr AuditEvent kUserRebootVm{157, "normal", "VM {} is rebooting. Rebooted by: {}"};
// {} host, its address, data center: an SPM elected.
inline constexpr AuditEvent kIrsHostedOnVds{204, "normal",
                                            "Storage Pool Manager runs on Host {} (Address: {}), Data Center {}."};
inline constexpr AuditEvent kVdsManualFenceStatus{494, "normal", "Manual fence for host {} was started."};
inline constexpr AuditEvent kUserSuspendVm{501, "normal", "Suspending VM {} was initiated by User {} (Host: {})."};
inline constexpr AuditEvent kVdsInstall{504, "normal", "Host {} installed"};
inline constexpr AuditEvent kVdsInstallFailed{505, "error", "Host {} installation failed. {}."};
inline constexpr AuditEvent kVdsInstallInProgress{509, "normal", "Installing Host {}. {}."};
inline constexpr AuditEvent kUserSuspendVmFinishSuccess{512, "normal", "Suspending VM {} has been completed."};
inline constexpr AuditEvent kUserVdsMaintenance{600, "normal",
                                                "Host {} was switched to Maintenance mode by {} (Reason: {})."};
inline constexpr AuditEvent kUserVdsMaintenanceWithoutReason{620, "normal",
                                                             "Host {} was switched to Maintenance mode by {}."};

/// The event's text with its variables filled in, in order.
template <typename... Args>
std::string describe(const AuditEvent& e, Args&&... args) {
  return fmt::format(fmt::runtime(e.text), std::forward<Args>(args)...);
}

}  // namespace she::lab::audit
