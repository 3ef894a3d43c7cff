// The parts of the engine's XML representations she-restore reads
// (reference: ovirt-engine-api.md sections 2 and 5), parsed with pugixml.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/value.h"

namespace she::engine_api {

struct HostedEngineInfo {
  bool configured = false;
  bool active = false;
  int score = 0;
  bool global_maintenance = false;
  bool local_maintenance = false;
};

struct Host {
  std::string id, name, address, status, status_detail;
  std::string spm_status;  // spm | contending | none
  int spm_priority = 0;
  int vm_count = 0;        // summary/total
  std::string cluster_id;
  std::string hardware_uuid;
  std::optional<HostedEngineInfo> hosted_engine;  // only with all_content, only when configured

  /// The item steps capture and loops iterate over.
  Value to_value() const;
  /// Back from such an item (a backup's manifest records them).
  static Host from_value(const Value& v);
};

/// The hosts of `hosts` in one of `statuses` (empty: any), hosted-engine
/// hosts only ("yes"), regular ones only ("no") or both ("any"), without
/// those named in `exclude`: what `engine.hosts.select` and a loop over a
/// live host query keep.
std::vector<Host> select_hosts(const std::vector<Host>& hosts, const std::vector<std::string>& statuses,
                               const std::string& hosted_engine, const std::vector<std::string>& exclude);

struct Vm {
  std::string id, name, status, host_id, origin;

  /// The item steps capture (engine.vms.select, the backup's manifest).
  Value to_value() const;
  static Vm from_value(const Value& v);
};

struct DataCenter {
  std::string id, name, status;
};

struct Event {
  long long id = 0;
  int code = 0;
  std::string severity, description, time, host_id, correlation_id;
};

struct ApiInfo {
  std::string product, vendor, full_version;
};

std::vector<Host> parse_hosts(const std::string& xml);
Host parse_host(const std::string& xml);
std::vector<Vm> parse_vms(const std::string& xml);
std::vector<DataCenter> parse_datacenters(const std::string& xml);
std::vector<Event> parse_events(const std::string& xml);
ApiInfo parse_api(const std::string& xml);
/// The <status> of a <job>.
std::string parse_job_status(const std::string& xml);

}  // namespace she::engine_api
