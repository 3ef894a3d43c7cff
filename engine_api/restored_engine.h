// What an engine restored from a backup will answer, predicted before it
// exists. A dry run of a restore cannot read the engine the deploy brings
// back (there is none yet), yet what the run does afterwards (which stale
// records to remove, which hosts to fence, remove and reinstall, which VMs
// to start) follows from reading it. The backup's manifest records what the
// backed-up engine knew (its hosts and VMs); the documented effects of
// `hosted-engine --deploy --restore-from-file` say how the restored engine
// sees them. The deploy's write carries this prediction as an expectation
// (base/operation.h), and the engine client answers a rehearsal's reads of
// hosts and VMs from it, shown as predicted, never as read.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/operation.h"
#include "base/value.h"
#include "engine_api/model.h"

namespace she::engine_api {

/// The expectation key a deploy from a backup sets: its value is the
/// prediction's text (RestoredEngine::to_text).
inline constexpr const char* kRestoredEngineKey = "engine/restored";
/// Set once the paused deploy is let go on: it adds its own host.
inline constexpr const char* kDeployHostAddedKey = "engine/restored/deploy-host-added";

struct RestoredEngine {
  std::string basis;       // what the prediction rests on, for the operator
  std::vector<Host> hosts;
  std::vector<Vm> vms;
  bool knows_vms = false;  // an older manifest recorded no VMs
  /// The host the deploy adds to the engine once let go on.
  Host deploy_host;

  std::string to_text() const;
  /// Null when `text` is not a prediction's text.
  static std::optional<RestoredEngine> from_text(const std::string& text);
};

/// The prediction for a deploy on `deploy_host` (the name the engine knows
/// it by) from a backup whose manifest is `manifest` (the keys
/// plans/she-backup.yaml writes: hosts, vms). Null when the manifest records
/// no hosts. Rules, each from the sources:
///  - the hosted-engine VM is gone (restore_backup.yml "Remove previous
///    hosted-engine VM");
///  - the deploy host's records are gone, their VMs down (restore_backup.yml
///    "Update host used to redeploy", by name);
///  - the other hosted-engine hosts are non responsive, their running VMs
///    unknown (the failover-host procedure, seeds/000 step 9: "manually
///    fencing the Non Responsive hosts"; their VMs "move from an Unknown
///    state to a Down state" once fenced);
///  - regular hosts are as the backup recorded them.
///  A legacy deploy (`--noansible`, the engine restored by hand inside the
///  new VM) filters nothing: with DeployHostRecord::Kept the deploy host's
///  record stays as backed up, for the plan to remove before the host is
///  added again (seed 000, "Removing the Host from the Restored
///  Environment").
enum class DeployHostRecord { Filtered, Kept };
std::optional<RestoredEngine> predict_restored_engine(const Value& manifest, const std::string& deploy_host,
                                                      DeployHostRecord record = DeployHostRecord::Filtered);

/// The expectation a deploy's write carries ({kRestoredEngineKey: text}),
/// empty when the manifest predicts nothing (null, or no hosts).
std::map<std::string, std::string> restored_engine_expectation(const Value& manifest, const std::string& deploy_host,
                                                               DeployHostRecord record = DeployHostRecord::Filtered);

/// Whether two names are one to the engine, which compares them without
/// case (restore_backup.yml: `upper(vds_name)=upper(...)`).
bool same_engine_name(const std::string& a, const std::string& b);

/// The prediction a rehearsal's earlier writes set, if any, with the deploy
/// host added once the deploy was let go on (in place of a record of that
/// name: the plan removed the stale one first).
std::optional<RestoredEngine> restored_engine(const OperationRunner* runner);

}  // namespace she::engine_api
