#include "lab/api_xml.h"

#include <cstdio>
#include <initializer_list>
#include <sstream>

#include "lab/iso_time.h"

namespace she::lab {

namespace {

pugi::xml_document new_doc() {
  pugi::xml_document doc;
  auto decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  decl.append_attribute("standalone") = "yes";
  return doc;
}

void text(pugi::xml_node parent, const char* name, const std::string& value) {
  parent.append_child(name).text().set(value.c_str());
}

void flag(pugi::xml_node parent, const char* name, bool value) { text(parent, name, value ? "true" : "false"); }

pugi::xml_node ref(pugi::xml_node parent, const char* name, const std::string& collection, const std::string& id) {
  auto n = parent.append_child(name);
  n.append_attribute("href") = (std::string(kApiPrefix) + "/" + collection + "/" + id).c_str();
  n.append_attribute("id") = id.c_str();
  return n;
}

pugi::xml_node entity(pugi::xml_node parent, const char* name, const std::string& collection, const std::string& id) {
  return ref(parent, name, collection, id);
}

// The engine's writer puts an identified object's name, description and
// comment first, then its <actions>, then links, then the other
// attributes alphabetically and last its references to other objects.
void actions(pugi::xml_node n, const std::string& self, std::initializer_list<const char*> verbs) {
  auto a = n.append_child("actions");
  for (const char* verb : verbs) {
    auto link = a.append_child("link");
    link.append_attribute("href") = (self + "/" + verb).c_str();
    link.append_attribute("rel") = verb;
  }
}

void sub_link(pugi::xml_node n, const std::string& self, const char* rel) {
  auto link = n.append_child("link");
  link.append_attribute("href") = (self + "/" + rel).c_str();
  link.append_attribute("rel") = rel;
}

void version(pugi::xml_node parent, const char* name, int major, int minor, int build, int revision,
             const std::string& full) {
  auto v = parent.append_child(name);
  text(v, "build", std::to_string(build));
  if (!full.empty()) text(v, "full_version", full);
  text(v, "major", std::to_string(major));
  text(v, "minor", std::to_string(minor));
  text(v, "revision", std::to_string(revision));
}

// The lab's hosts are all the same machine, as oVirt Node 4.5 on EL8
// reports it to the engine (the facts HostMapper reads from vdsm's caps).
void append_host(pugi::xml_node parent, const Host& h, bool all_content, bool global_maintenance) {
  auto n = entity(parent, "host", "hosts", h.id);
  const std::string self = std::string(kApiPrefix) + "/hosts/" + h.id;
  text(n, "name", h.name);
  text(n, "comment", "");
  actions(n, self, {"activate", "approve", "commitnetconfig", "deactivate", "enrollcertificate", "fence", "install",
                    "iscsidiscover", "iscsilogin", "refresh", "setupnetworks", "upgrade", "upgradecheck"});
  for (const char* rel : {"affinitylabels", "katelloerrata", "networkattachments", "nics", "numanodes",
                          "storage", "permissions", "statistics", "tags", "unmanagednetworks", "storageconnectionextensions"})
    sub_link(n, self, rel);
  text(n, "address", h.address);
  text(n, "auto_numa_status", "unknown");
  auto cert = n.append_child("certificate");
  text(cert, "organization", "lab.example");
  text(cert, "subject", "O=lab.example,CN=" + h.address);
  auto cpu = n.append_child("cpu");
  text(cpu, "name", "Intel Xeon Processor (Cascadelake)");
  text(cpu, "speed", "2400");
  auto topology = cpu.append_child("topology");
  text(topology, "cores", "4");
  text(topology, "sockets", "2");
  text(topology, "threads", "1");
  text(cpu, "type", "Intel Cascadelake Server Family");
  flag(n.append_child("device_passthrough"), "enabled", false);
  text(n.append_child("display"), "address", h.address);
  text(n, "external_status", "ok");
  auto hw = n.append_child("hardware_information");
  text(hw, "family", "Red Hat Enterprise Linux");
  text(hw, "manufacturer", "Red Hat");
  text(hw, "product_name", "KVM");
  text(hw, "serial_number", h.hardware_id);
  auto rng = hw.append_child("supported_rng_sources");
  text(rng, "supported_rng_source", "urandom");
  text(hw, "uuid", h.hardware_id);
  text(hw, "version", "RHEL-8.6.0 PC (Q35 + ICH9, 2009)");
  // BackendHostsResource.addHostedEngineIfConfigured: only with
  // all_content, and only for configured hosts.
  if (all_content && h.hosted_engine) {
    auto he = n.append_child("hosted_engine");
    flag(he, "active", h.hosted_engine->active);
    flag(he, "configured", true);
    flag(he, "global_maintenance", global_maintenance);
    flag(he, "local_maintenance", h.hosted_engine->local_maintenance);
    text(he, "score", std::to_string(h.hosted_engine->score));
  }
  text(n.append_child("iscsi"), "initiator", "iqn.1994-05.com.redhat:" + h.name);
  text(n, "kdump_status", "disabled");
  flag(n.append_child("ksm"), "enabled", false);
  version(n, "libvirt_version", 8, 0, 0, 0, "libvirt-8.0.0-10.module_el8");
  text(n, "max_scheduling_memory", "32212254720");
  text(n, "memory", "33439088640");
  flag(n, "numa_supported", false);
  auto os = n.append_child("os");
  text(os, "custom_kernel_cmdline", "");
  text(os, "description", "oVirt Node 4.5.5");
  text(os, "reported_kernel_cmdline", "BOOT_IMAGE=(hd0,msdos1)/ovirt-node-ng-4.5.5-0.20231130.0+1/vmlinuz-4.18.0-526.el8.x86_64 root=/dev/onn/ovirt-node-ng-4.5.5-0.20231130.0+1 ro crashkernel=auto");
  text(os, "type", "RHEL");
  version(os, "version", 8, 10, 0, 0, "8.10 - 1.el8");
  flag(n, "ovn_configured", true);
  text(n, "port", "54321");
  auto pm = n.append_child("power_management");
  flag(pm, "automatic_pm_enabled", true);
  flag(pm, "enabled", false);
  flag(pm, "kdump_detection", true);
  auto proxies = pm.append_child("pm_proxies");
  text(proxies.append_child("pm_proxy"), "type", "cluster");
  text(proxies.append_child("pm_proxy"), "type", "dc");
  text(n, "protocol", "stomp");
  flag(n, "reinstallation_required", false);
  text(n.append_child("se_linux"), "mode", "enforcing");
  auto spm = n.append_child("spm");
  text(spm, "priority", std::to_string(h.spm_priority));
  text(spm, "status", to_string(h.spm));
  auto ssh = n.append_child("ssh");
  text(ssh, "fingerprint", "SHA256:lab-" + h.hardware_id.substr(0, 8));
  text(ssh, "port", "22");
  text(ssh.append_child("user"), "user_name", "root");
  text(n, "status", to_string(h.status));
  if (!h.status_detail.empty()) text(n, "status_detail", h.status_detail);
  auto summary = n.append_child("summary");
  text(summary, "active", std::to_string(h.vm_count));
  text(summary, "migrating", "0");
  text(summary, "total", std::to_string(h.vm_count));
  flag(n.append_child("transparent_hugepages"), "enabled", true);
  text(n, "type", "ovirt_node");
  flag(n, "update_available", false);
  version(n, "version", 4, 50, 3, 4, "vdsm-4.50.3.4-1.el8");
  text(n, "vgpu_placement", "consolidated");
  if (!h.cluster_id.empty()) ref(n, "cluster", "clusters", h.cluster_id);
}

void append_vm(pugi::xml_node parent, const Vm& v) {
  auto n = entity(parent, "vm", "vms", v.id);
  const std::string self = std::string(kApiPrefix) + "/vms/" + v.id;
  text(n, "name", v.name);
  text(n, "description", "");
  text(n, "comment", "");
  actions(n, self, {"cancelmigration", "clone", "detach", "export", "logon", "maintenance", "migrate",
                    "previewsnapshot", "reboot", "reordermacaddresses", "shutdown", "start", "stop", "suspend",
                    "ticket", "undosnapshot"});
  for (const char* rel : {"affinitylabels", "applications", "cdroms", "diskattachments", "graphicsconsoles",
                          "hostdevices", "nics", "permissions", "snapshots", "statistics", "tags", "watchdogs"})
    sub_link(n, self, rel);
  text(n.append_child("bios"), "type", "q35_ovmf");
  auto cpu = n.append_child("cpu");
  text(cpu, "architecture", "x86_64");
  auto topology = cpu.append_child("topology");
  text(topology, "cores", "1");
  text(topology, "sockets", v.is_hosted_engine() ? "4" : "2");
  text(topology, "threads", "1");
  text(n, "cpu_shares", "0");
  flag(n, "delete_protected", false);
  auto display = n.append_child("display");
  text(display, "type", "vnc");
  auto ha = n.append_child("high_availability");
  flag(ha, "enabled", v.is_hosted_engine());
  text(ha, "priority", v.is_hosted_engine() ? "1" : "0");
  const std::string memory = v.is_hosted_engine() ? "17179869184" : "4294967296";
  text(n, "memory", memory);
  auto policy = n.append_child("memory_policy");
  flag(policy, "ballooning", !v.is_hosted_engine());
  text(policy, "guaranteed", memory);
  text(policy, "max", std::to_string(std::stoll(memory) * 4));
  text(n, "origin", v.origin);
  auto os = n.append_child("os");
  auto boot = os.append_child("boot").append_child("devices");
  text(boot, "device", "hd");
  text(os, "type", "other_linux");
  auto placement = n.append_child("placement_policy");
  text(placement, "affinity", v.is_hosted_engine() ? "user_migratable" : "migratable");
  flag(n, "stateless", false);
  text(n, "status", to_string(v.status));
  text(n, "type", "server");
  if (!v.cluster_id.empty()) ref(n, "cluster", "clusters", v.cluster_id);
  if (!v.host_id.empty()) ref(n, "host", "hosts", v.host_id);
}

void append_data_center(pugi::xml_node parent, const DataCenter& dc) {
  auto n = entity(parent, "data_center", "datacenters", dc.id);
  const std::string self = std::string(kApiPrefix) + "/datacenters/" + dc.id;
  text(n, "name", dc.name);
  text(n, "description", dc.name == "Default" ? "The default Data Center" : "");
  text(n, "comment", "");
  actions(n, self, {"cleanfinishedtasks", "setmaster"});
  for (const char* rel : {"clusters", "networks", "permissions", "quotas", "qoss", "iscsibonds", "storagedomains"})
    sub_link(n, self, rel);
  flag(n, "local", false);
  text(n, "quota_mode", "disabled");
  text(n, "status", to_string(dc.status));
  text(n, "storage_format", "v5");
  auto supported = n.append_child("supported_versions").append_child("version");
  text(supported, "major", "4");
  text(supported, "minor", "7");
  auto v = n.append_child("version");
  text(v, "major", "4");
  text(v, "minor", "7");
}

void append_cluster(pugi::xml_node parent, const Cluster& c) {
  auto n = entity(parent, "cluster", "clusters", c.id);
  const std::string self = std::string(kApiPrefix) + "/clusters/" + c.id;
  text(n, "name", c.name);
  text(n, "description", c.name == "Default" ? "The default server cluster" : "");
  text(n, "comment", "");
  actions(n, self, {"resetemulatedmachine", "syncallnetworks", "upgrade"});
  for (const char* rel : {"affinitygroups", "cpuprofiles", "enabledfeatures", "externalnetworkproviders",
                          "glusterhooks", "glustervolumes", "networkfilters", "networks", "permissions"})
    sub_link(n, self, rel);
  flag(n, "ballooning_enabled", true);
  auto cpu = n.append_child("cpu");
  text(cpu, "architecture", "x86_64");
  text(cpu, "type", "Intel Cascadelake Server Family");
  text(n.append_child("error_handling"), "on_error", "migrate");
  auto fencing = n.append_child("fencing_policy");
  flag(fencing, "enabled", true);
  flag(n, "gluster_service", false);
  flag(n, "ha_reservation", false);
  auto ksm = n.append_child("ksm");
  flag(ksm, "enabled", true);
  flag(ksm, "merge_across_nodes", true);
  auto migration = n.append_child("migration");
  text(migration, "auto_converge", "inherit");
  text(migration, "compressed", "inherit");
  flag(n, "threads_as_cores", false);
  flag(n, "trusted_service", false);
  flag(n, "tunnel_migration", false);
  auto v = n.append_child("version");
  text(v, "major", "4");
  text(v, "minor", "7");
  flag(n, "virt_service", true);
  if (!c.data_center_id.empty()) ref(n, "data_center", "datacenters", c.data_center_id);
}

// StorageDomainMapper.map plus the resource's links. `in_data_center`: the
// attachment under /datacenters/ID/storagedomains, the only place the engine
// shows an attached domain's status (BackendStorageDomainsResource blanks it
// at top level, keeping only "unattached").
void append_storage_domain(pugi::xml_node parent, const StorageDomain& sd, bool in_data_center) {
  const std::string collection =
      in_data_center ? "datacenters/" + sd.data_center_id + "/storagedomains" : std::string("storagedomains");
  auto n = entity(parent, "storage_domain", collection, sd.id);
  const std::string self = std::string(kApiPrefix) + "/" + collection + "/" + sd.id;
  text(n, "name", sd.name);
  text(n, "description", "");
  text(n, "comment", "");
  if (in_data_center)
    actions(n, self, {"activate", "deactivate"});
  else
    actions(n, self, {"isattached", "reduceluns", "refreshluns", "updateovfstore"});
  if (!in_data_center)
    for (const char* rel : {"diskprofiles", "disks", "disksnapshots", "files", "images", "permissions",
                            "storageconnections", "templates", "vms"})
      sub_link(n, self, rel);
  constexpr std::int64_t kGiB = 1024LL * 1024 * 1024;
  text(n, "available", std::to_string(sd.available_gib * kGiB));
  flag(n, "backup", false);
  text(n, "block_size", "512");
  text(n, "committed", std::to_string(sd.used_gib * kGiB));
  text(n, "critical_space_action_blocker", "5");
  flag(n, "discard_after_delete", false);
  text(n, "external_status", "ok");
  flag(n, "master", sd.master);
  if (in_data_center || sd.status == "unattached") text(n, "status", sd.status);
  auto storage = n.append_child("storage");
  if (sd.storage == "iscsi" || sd.storage == "fcp") {
    text(storage, "type", sd.storage);
    text(storage.append_child("volume_group"), "id", sd.path.empty() ? "vg-" + sd.id.substr(0, 8) : sd.path);
  } else {
    if (!sd.address.empty()) text(storage, "address", sd.address);
    // The connection's nfs_version (mapNfsStorage); hosted-engine deploys "auto".
    if (sd.storage == "nfs") text(storage, "nfs_version", "auto");
    if (!sd.path.empty()) text(storage, "path", sd.path);
    text(storage, "type", sd.storage);
  }
  text(n, "storage_format", "v5");
  flag(n, "supports_discard", false);
  flag(n, "supports_discard_zeroes_data", false);
  text(n, "type", sd.type);
  text(n, "used", std::to_string(sd.used_gib * kGiB));
  text(n, "warning_low_space_indicator", "10");
  flag(n, "wipe_after_delete", false);
  if (in_data_center) {
    ref(n, "data_center", "datacenters", sd.data_center_id);
  } else if (!sd.data_center_id.empty()) {
    // StorageDomainHelper.addAttachedDataCenterReferences
    ref(n.append_child("data_centers"), "data_center", "datacenters", sd.data_center_id);
  }
}

void append_job(pugi::xml_node parent, const Job& j) {
  auto n = entity(parent, "job", "jobs", j.id);
  text(n, "description", j.description);
  flag(n, "auto_cleared", true);
  if (j.end_time) text(n, "end_time", iso_time(*j.end_time));
  flag(n, "external", false);
  text(n, "last_updated", iso_time(j.end_time ? *j.end_time : j.start_time));
  text(n, "start_time", iso_time(j.start_time));
  text(n, "status", j.status);
}

// The request's action, minus what the engine's answer replaces and the
// root password, which has no business travelling back.
void echo_action(const pugi::xml_document& request, pugi::xml_node action) {
  pugi::xml_node in = request.child("action");
  for (auto c : in.children()) {
    const std::string name = c.name();
    if (name == "root_password" || name == "status" || name == "fault" || name == "job") continue;
    action.append_copy(c);
  }
}

}  // namespace

std::string xml_text(const pugi::xml_document& doc) {
  std::ostringstream out;
  doc.save(out, "    ", pugi::format_indent, pugi::encoding_utf8);
  return out.str();
}

std::string api_root_xml(const EngineInfo& engine, const ApiSummary& s, std::chrono::system_clock::time_point now) {
  auto doc = new_doc();
  auto api = doc.append_child("api");
  for (const char* rel : {"clusters", "datacenters", "events", "hosts", "jobs", "storagedomains", "vms"}) {
    auto link = api.append_child("link");
    link.append_attribute("href") = (std::string(kApiPrefix) + "/" + rel).c_str();
    link.append_attribute("rel") = rel;
  }
  // The engine also links the searchable collections as URI templates
  // (rel "hosts/search"); clients such as libgovirt find searches by them.
  for (const char* rel : {"clusters", "datacenters", "events", "hosts", "storagedomains", "vms"}) {
    auto link = api.append_child("link");
    link.append_attribute("href") = (std::string(kApiPrefix) + "/" + rel + "?search={query}").c_str();
    link.append_attribute("rel") = (std::string(rel) + "/search").c_str();
  }
  int major = 0, minor = 0, build = 0, revision = 0;
  std::sscanf(engine.version.c_str(), "%d.%d.%d.%d", &major, &minor, &build, &revision);
  auto product = api.append_child("product_info");
  text(product, "name", "oVirt Engine");
  text(product, "vendor", "ovirt.org");
  auto version = product.append_child("version");
  text(version, "build", std::to_string(build));
  text(version, "full_version", engine.version);
  text(version, "major", std::to_string(major));
  text(version, "minor", std::to_string(minor));
  text(version, "revision", std::to_string(revision));
  auto summary = api.append_child("summary");
  auto hosts = summary.append_child("hosts");
  text(hosts, "active", std::to_string(s.hosts_active));
  text(hosts, "total", std::to_string(s.hosts_total));
  auto sds = summary.append_child("storage_domains");
  text(sds, "active", std::to_string(s.storage_domains_active));
  text(sds, "total", std::to_string(s.storage_domains_total));
  auto users = summary.append_child("users");
  text(users, "active", "1");
  text(users, "total", "1");
  auto vms = summary.append_child("vms");
  text(vms, "active", std::to_string(s.vms_active));
  text(vms, "total", std::to_string(s.vms_total));
  text(api, "time", iso_time(now));
  return xml_text(doc);
}

std::string host_xml(const Host& h, bool all_content, bool global_maintenance) {
  auto doc = new_doc();
  append_host(doc, h, all_content, global_maintenance);
  return xml_text(doc);
}

std::string hosts_xml(const std::vector<Host>& hosts, bool all_content, bool global_maintenance) {
  auto doc = new_doc();
  auto list = doc.append_child("hosts");
  for (const auto& h : hosts) append_host(list, h, all_content, global_maintenance);
  return xml_text(doc);
}

std::string vm_xml(const Vm& v) {
  auto doc = new_doc();
  append_vm(doc, v);
  return xml_text(doc);
}

std::string vms_xml(const std::vector<Vm>& vms) {
  auto doc = new_doc();
  auto list = doc.append_child("vms");
  for (const auto& v : vms) append_vm(list, v);
  return xml_text(doc);
}

std::string data_center_xml(const DataCenter& dc) {
  auto doc = new_doc();
  append_data_center(doc, dc);
  return xml_text(doc);
}

std::string data_centers_xml(const std::vector<DataCenter>& dcs) {
  auto doc = new_doc();
  auto list = doc.append_child("data_centers");
  for (const auto& dc : dcs) append_data_center(list, dc);
  return xml_text(doc);
}

std::string cluster_xml(const Cluster& c) {
  auto doc = new_doc();
  append_cluster(doc, c);
  return xml_text(doc);
}

std::string clusters_xml(const std::vector<Cluster>& clusters) {
  auto doc = new_doc();
  auto list = doc.append_child("clusters");
  for (const auto& c : clusters) append_cluster(list, c);
  return xml_text(doc);
}

std::string storage_domain_xml(const StorageDomain& sd, bool in_data_center) {
  auto doc = new_doc();
  append_storage_domain(doc, sd, in_data_center);
  return xml_text(doc);
}

std::string storage_domains_xml(const std::vector<StorageDomain>& sds, bool in_data_center) {
  auto doc = new_doc();
  auto list = doc.append_child("storage_domains");
  for (const auto& sd : sds) append_storage_domain(list, sd, in_data_center);
  return xml_text(doc);
}

std::string events_xml(const std::vector<Event>& events) {
  auto doc = new_doc();
  auto list = doc.append_child("events");
  for (const auto& e : events) {
    auto n = entity(list, "event", "events", std::to_string(e.id));
    text(n, "description", e.description);
    text(n, "code", std::to_string(e.code));
    if (!e.correlation_id.empty()) text(n, "correlation_id", e.correlation_id);
    text(n, "custom_id", "-1");
    text(n, "flood_rate", "30");
    text(n, "index", std::to_string(e.id));
    text(n, "origin", "oVirt");
    text(n, "severity", e.severity);
    text(n, "time", iso_time(e.time));
    if (!e.host_id.empty()) ref(n, "host", "hosts", e.host_id);
    if (!e.vm_id.empty()) ref(n, "vm", "vms", e.vm_id);
  }
  return xml_text(doc);
}

std::string job_xml(const Job& j) {
  auto doc = new_doc();
  append_job(doc, j);
  return xml_text(doc);
}

std::string jobs_xml(const std::vector<Job>& jobs) {
  auto doc = new_doc();
  auto list = doc.append_child("jobs");
  for (const auto& j : jobs) append_job(list, j);
  return xml_text(doc);
}

std::string bracketed(const std::string& message) { return "[" + message + "]"; }

std::string fault_xml(const std::string& reason, const std::string& detail) {
  auto doc = new_doc();
  auto fault = doc.append_child("fault");
  text(fault, "reason", reason);
  text(fault, "detail", detail);
  return xml_text(doc);
}

std::string action_complete_xml(const pugi::xml_document& request, const std::string& job_id,
                                const std::string& target_kind, const std::string& target_id) {
  auto doc = new_doc();
  auto action = doc.append_child("action");
  echo_action(request, action);
  if (!target_id.empty() && !action.child(target_kind.c_str()))
    ref(action, target_kind.c_str(), target_kind + "s", target_id);
  if (!job_id.empty()) ref(action, "job", "jobs", job_id);
  text(action, "status", "complete");
  return xml_text(doc);
}

std::string action_failed_xml(const pugi::xml_document& request, const std::string& reason,
                              const std::string& detail) {
  auto doc = new_doc();
  auto action = doc.append_child("action");
  echo_action(request, action);
  auto fault = action.append_child("fault");
  text(fault, "reason", reason);
  text(fault, "detail", detail);
  text(action, "status", "failed");
  return xml_text(doc);
}

}  // namespace she::lab
