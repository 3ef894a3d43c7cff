#include "lab/api_xml.h"

#include <cstdio>
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

void append_host(pugi::xml_node parent, const Host& h, bool all_content, bool global_maintenance) {
  auto n = entity(parent, "host", "hosts", h.id);
  text(n, "name", h.name);
  text(n, "address", h.address);
  text(n, "port", "54321");
  text(n, "status", to_string(h.status));
  if (!h.status_detail.empty()) text(n, "status_detail", h.status_detail);
  auto spm = n.append_child("spm");
  text(spm, "priority", std::to_string(h.spm_priority));
  text(spm, "status", to_string(h.spm));
  if (!h.cluster_id.empty()) ref(n, "cluster", "clusters", h.cluster_id);
  text(n.append_child("hardware_information"), "uuid", h.hardware_id);
  text(n.append_child("summary"), "total", std::to_string(h.vm_count));
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
}

void append_vm(pugi::xml_node parent, const Vm& v) {
  auto n = entity(parent, "vm", "vms", v.id);
  text(n, "name", v.name);
  text(n, "origin", v.origin);
  text(n, "status", to_string(v.status));
  if (!v.cluster_id.empty()) ref(n, "cluster", "clusters", v.cluster_id);
  if (!v.host_id.empty()) ref(n, "host", "hosts", v.host_id);
}

void append_data_center(pugi::xml_node parent, const DataCenter& dc) {
  auto n = entity(parent, "data_center", "datacenters", dc.id);
  text(n, "name", dc.name);
  flag(n, "local", false);
  text(n, "status", to_string(dc.status));
}

void append_cluster(pugi::xml_node parent, const Cluster& c) {
  auto n = entity(parent, "cluster", "clusters", c.id);
  text(n, "name", c.name);
  if (!c.data_center_id.empty()) ref(n, "data_center", "datacenters", c.data_center_id);
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
  for (const char* rel : {"clusters", "datacenters", "events", "hosts", "jobs", "vms"}) {
    auto link = api.append_child("link");
    link.append_attribute("href") = (std::string(kApiPrefix) + "/" + rel).c_str();
    link.append_attribute("rel") = rel;
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
  text(sds, "active", "0");
  text(sds, "total", "0");
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

std::string events_xml(const std::vector<Event>& events) {
  auto doc = new_doc();
  auto list = doc.append_child("events");
  for (const auto& e : events) {
    auto n = entity(list, "event", "events", std::to_string(e.id));
    text(n, "description", e.description);
    text(n, "code", std::to_string(e.code));
    if (!e.correlation_id.empty()) text(n, "correlation_id", e.correlation_id);
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
