// The engine's XML representations of the lab's world (reference:
// ovirt-engine-api.md sections 2 to 5): `id` and `href` are the only
// attributes, everything else is a nested element, enum values are
// lowercase, and documents start with the declaration the engine writes.
#pragma once

#include <chrono>
#include <pugixml.hpp>
#include <string>
#include <vector>

#include "lab/world.h"

namespace she::lab {

inline constexpr const char* kApiPrefix = "/ovirt-engine/api";

/// The document as the engine sends it: XML declaration, 4-space indent.
std::string xml_text(const pugi::xml_document& doc);

struct ApiSummary {
  int hosts_total = 0, hosts_active = 0, vms_total = 0, vms_active = 0;
  int storage_domains_total = 0, storage_domains_active = 0;
};

std::string api_root_xml(const EngineInfo& engine, const ApiSummary& summary,
                         std::chrono::system_clock::time_point now);

/// <host>; with `all_content`, <hosted_engine> for hosts configured for it.
std::string host_xml(const Host& h, bool all_content, bool global_maintenance);
std::string hosts_xml(const std::vector<Host>& hosts, bool all_content, bool global_maintenance);
std::string vm_xml(const Vm& v);
std::string vms_xml(const std::vector<Vm>& vms);
std::string data_center_xml(const DataCenter& dc);
std::string data_centers_xml(const std::vector<DataCenter>& dcs);
std::string cluster_xml(const Cluster& c);
std::string clusters_xml(const std::vector<Cluster>& clusters);
/// <storage_domain>: `in_data_center` for /datacenters/ID/storagedomains
/// (href under the data center, <status>, <data_center>); else the top-level
/// form (<data_centers>, status only when unattached).
std::string storage_domain_xml(const StorageDomain& sd, bool in_data_center);
std::string storage_domains_xml(const std::vector<StorageDomain>& sds, bool in_data_center);
std::string events_xml(const std::vector<Event>& events);
std::string job_xml(const Job& j);
std::string jobs_xml(const std::vector<Job>& jobs);

/// The engine's list form of validation messages: "[msg]".
std::string bracketed(const std::string& message);

/// A bare <fault><reason/><detail/></fault>.
std::string fault_xml(const std::string& reason, const std::string& detail);

/// The request's <action> echoed back with <status>complete</status>, a
/// <job href id/> when `job_id` is set, and a reference to the target
/// (`target_kind` "host" or "vm") when given. A root password in the request
/// is not echoed.
std::string action_complete_xml(const pugi::xml_document& request, const std::string& job_id,
                                const std::string& target_kind, const std::string& target_id);

/// The request's <action> with <fault><reason/><detail/></fault> and
/// <status>failed</status>: how the engine refuses an action.
std::string action_failed_xml(const pugi::xml_document& request, const std::string& reason,
                              const std::string& detail);

}  // namespace she::lab
