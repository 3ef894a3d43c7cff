// The engine's refusal texts, as the API returns them with the variables
// filled in (reference: ovirt-engine-api.md section 4; engine
// AppErrors.properties). They live in one place so that a test, a reader or
// a reviewer can hold them against the fact sheet line by line. The server
// wraps each in the `[msg]` list form of the <detail> element.
#pragma once

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
