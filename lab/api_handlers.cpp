#include "lab/api_handlers.h"
#include "lab/ascii_case.h"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <functional>
#include <optional>
#include <pugixml.hpp>

#include "lab/api_xml.h"
#include "lab/engine_messages.h"
#include "lab/follow_links.h"
#include "lab/search_filter.h"
#include "lab/statuses.h"

namespace she::lab {

namespace {

// ParametersHelper's booleans: a bare name means true; t/true/y/yes/1 too.
bool truthy(const std::string& v) {
  const std::string l = lower(v);
  return l.empty() || l == "t" || l == "true" || l == "y" || l == "yes" || l == "1";
}

const std::string* query_value(const ApiCall& c, const std::string& name) {
  auto it = c.query.find(name);
  return it == c.query.end() ? nullptr : &it->second;
}

// A URL flag the engine reads from the query, then the matrix parameters.
bool url_flag(const ApiCall& c, const std::string& name, bool def) {
  if (const std::string* v = query_value(c, name)) return truthy(*v);
  auto m = c.matrix.find(name);
  if (m != c.matrix.end()) return truthy(m->second);
  return def;
}

bool all_content(const ApiCall& c) {
  auto h = c.headers.find("all-content");
  return url_flag(c, "all_content", false) || (h != c.headers.end() && truthy(h->second));
}

bool case_sensitive(const ApiCall& c) { return url_flag(c, "case_sensitive", false); }

int max_results(const ApiCall& c) {
  if (const std::string* v = query_value(c, "max")) {
    try {
      return std::max(0, std::stoi(*v));
    } catch (const std::exception&) {
    }
  }
  return -1;
}

// Engine ids are GUIDs; anything else is a malformed id (400), not an
// unknown one (404).
bool is_guid(const std::string& s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

HttpReply malformed_id(const std::string& id) {
  // MalformedIdExceptionMapper: note the lowercase "failed".
  return HttpReply::xml(400, fault_xml("Operation failed", "Invalid UUID string: " + id));
}

HttpReply not_found() { return HttpReply::empty(404); }

HttpReply incomplete(const std::string& type, const std::string& fields, const std::string& action) {
  // Messages.properties: "{0} {1} required for {2}".
  return HttpReply::xml(400, fault_xml("Incomplete parameters", fmt::format("{} [{}] required for {}", type, fields, action)));
}

HttpReply bad_body(const std::string& why) {
  return HttpReply::xml(400, fault_xml("Operation Failed", bracketed("The request body is not well-formed XML: " + why)));
}

HttpReply bad_search(const std::string& what, const std::string& why) {
  return HttpReply::xml(400, fault_xml("Operation Failed", bracketed(fmt::format("Cannot search {} (lab): {}", what, why))));
}

// A backend refusal of an action: the fault inside the echoed <action>.
HttpReply action_reply(const OpResult& r, const pugi::xml_document& request, const std::string& kind,
                       const std::string& id) {
  if (r.http_status == 404) return not_found();
  if (!r.ok()) return HttpReply::xml(r.http_status, action_failed_xml(request, "Operation Failed", bracketed(r.message)));
  return HttpReply::xml(200, action_complete_xml(request, r.job_id, kind, id));
}

bool parse_body(const ApiCall& c, pugi::xml_document& doc, std::string& error) {
  if (c.body.find_first_not_of(" \t\r\n") == std::string::npos) return true;  // no body: <action/>
  auto res = doc.load_buffer(c.body.data(), c.body.size());
  if (!res) {
    error = res.description();
    return false;
  }
  return true;
}

std::string child_text(pugi::xml_node n, const char* name) { return n.child(name).text().as_string(); }

std::optional<bool> child_bool(pugi::xml_node n, const char* name) {
  pugi::xml_node c = n.child(name);
  if (!c) return std::nullopt;
  return truthy(c.text().as_string());
}

OpContext context(const ApiCall& c) {
  OpContext ctx;
  ctx.user = c.user;
  ctx.correlation_id = c.correlation_id;
  return ctx;
}

// --- search ---

SearchField text(const char* name) { return {name, FieldKind::Text, {}, false}; }
SearchField status_field(std::vector<std::string> names) { return {"status", FieldKind::Enum, std::move(names), false}; }

// The engine's fields per object (searchbackend's *ConditionFieldAutoCompleter);
// `unmodeled` are those the lab keeps no data for.
const SearchObject& hosts_search() {
  static const SearchObject o{
      "Hosts",
      {text("name"), text("address"), status_field(engine_host_status_names()), text("cluster"), text("hw_id"),
       {"active_vms", FieldKind::Number, {}, true}},
      {"comment", "external_status", "cpu_usage", "mem_usage", "network_usage", "load", "version", "cpus", "memory",
       "cpu_speed", "cpu_model", "migrating_vms", "committed_mem", "tag", "type", "datacenter", "architecture",
       "update_available", "ha_score", "spm_id", "id"}};
  return o;
}

const SearchObject& vms_search() {
  static const SearchObject o{
      "VMs",
      {text("name"), status_field(engine_vm_status_names()), text("on_host"), text("host")},
      {"comment", "ip", "fqdn", "uptime", "os", "creationdate", "address", "cpu_usage", "mem_usage", "network_usage",
       "migration_progress_percent", "memory", "guaranteed_memory", "apps", "cluster", "pool", "loggedinuser", "tag",
       "datacenter", "type", "quota", "id", "description", "architecture", "custom_emulated_machine",
       "custom_cpu_type", "compatibility_level", "custom_compatibility_level", "created_by_user_id",
       "next_run_config_exists", "has_illegal_images", "bios_type", "k8s_namespace", "vcpus"}};
  return o;
}

const SearchObject& data_centers_search() {
  static const SearchObject o{"Data Centers",
                              {text("name"), status_field(engine_data_center_status_names())},
                              {"description", "local", "comment", "compatibility_version"}};
  return o;
}

const SearchObject& clusters_search() {
  static const SearchObject o{
      "Clusters", {text("name")}, {"description", "comment", "architecture", "compatibility_level", "cpu_type"}};
  return o;
}

const SearchObject& storage_domains_search() {
  static const SearchObject o{"Storage",
                              {text("name")},
                              {"status", "datacenter", "host", "type", "size", "used", "committed", "comment",
                               "description", "wipe_after_delete", "external_status", "id"}};
  return o;
}

// AuditLogSeverity in value order: `severity>=warning` compares by it.
const SearchObject& events_search() {
  static const SearchObject o{
      "Events",
      {text("correlation_id"), {"type", FieldKind::Number, {}, false},
       {"severity", FieldKind::Ordinal, {"NORMAL", "WARNING", "ERROR", "ALERT"}, true}, text("event_host"),
       text("host.name"), text("host")},
      {"message", "time", "usrname", "event_vm", "event_template", "event_storage", "event_datacenter",
       "event_volume", "origin", "custom_event_id", "deleted", "usrid", "_event_vm_id", "_event_template_id",
       "_event_storage_id", "_event_host_id", "_event_datacenter_id", "_event_quota_id", "_event_volume_id"}};
  return o;
}

// Keeps the items the request's search selects, in the answer's order; a
// refusal for a field the lab does not model comes back as the reply.
template <typename T>
std::optional<HttpReply> filter(const ApiCall& c, std::vector<T>& items, const SearchObject& object,
                                const std::function<std::string(const T&, const std::string&)>& get) {
  const std::string* s = query_value(c, "search");
  SearchOutcome r = run_search(object, s ? *s : std::string(), items.size(),
                               [&](std::size_t i, const std::string& f) { return get(items[i], f); },
                               case_sensitive(c), max_results(c));
  if (r.verdict == SearchVerdict::LabUnsupported) return bad_search(object.title, r.why);
  std::vector<T> kept;
  for (std::size_t i : r.selected) kept.push_back(items[i]);
  items.swap(kept);
  return std::nullopt;
}

// --- resources ---

HttpReply api_root(World& w) {
  ApiSummary s;
  for (const auto& h : w.hosts()) {
    ++s.hosts_total;
    if (h.status == HostStatus::Up) ++s.hosts_active;
  }
  for (const auto& v : w.vms()) {
    ++s.vms_total;
    if (v.status == VmStatus::Up) ++s.vms_active;
  }
  for (const auto& sd : w.storage_domains()) {
    ++s.storage_domains_total;
    if (sd.status == "active") ++s.storage_domains_active;
  }
  return HttpReply::xml(200, api_root_xml(w.engine(), s, std::chrono::system_clock::now()));
}

HttpReply list_hosts(World& w, const ApiCall& c) {
  auto hosts = w.hosts();
  const auto clusters = w.clusters();
  std::function<std::string(const Host&, const std::string&)> get = [&](const Host& h, const std::string& f) {
    if (f == "name") return h.name;
    if (f == "address") return h.address;
    if (f == "status") return std::string(engine_name(h.status));
    if (f == "hw_id") return h.hardware_id;
    if (f == "active_vms") return std::to_string(h.vm_count);
    if (f == "cluster")
      for (const auto& cl : clusters)
        if (cl.id == h.cluster_id) return cl.name;
    return std::string();
  };
  if (auto refused = filter(c, hosts, hosts_search(), get)) return *refused;
  return HttpReply::xml(200, hosts_xml(hosts, all_content(c), w.global_maintenance()));
}

HttpReply add_host(World& w, const ApiCall& c) {
  pugi::xml_document doc;
  std::string error;
  if (!parse_body(c, doc, error)) return bad_body(error);
  pugi::xml_node h = doc.child("host");
  AddHostParams p;
  p.name = child_text(h, "name");
  p.address = child_text(h, "address");
  std::vector<std::string> missing;
  if (p.name.empty()) missing.push_back("name");
  if (p.address.empty()) missing.push_back("address");
  if (!missing.empty()) return incomplete("Host", fmt::format("{}", fmt::join(missing, ", ")), "add");
  pugi::xml_node cluster = h.child("cluster");
  p.cluster_id = cluster.attribute("id").as_string();
  if (p.cluster_id.empty()) p.cluster_id = child_text(cluster, "id");
  p.cluster_name = child_text(cluster, "name");
  p.auth_method = child_text(h.child("ssh"), "authentication_method");
  // For add these are URL parameters; the engine ignores them in the body.
  p.deploy_hosted_engine = url_flag(c, "deploy_hosted_engine", false);
  p.activate = url_flag(c, "activate", true);
  p.reboot = url_flag(c, "reboot", true);
  OpResult r = w.add_host(p, context(c));
  if (!r.ok()) return HttpReply::xml(r.http_status, fault_xml("Operation Failed", bracketed(r.message)));
  auto created = w.host(r.entity_id);
  HttpReply reply = HttpReply::xml(201, host_xml(*created, false, w.global_maintenance()));
  reply.headers.push_back({"Location", c.origin + kApiPrefix + "/hosts/" + r.entity_id});
  return reply;
}

HttpReply host_action(World& w, const ApiCall& c, const std::string& id, const std::string& verb) {
  pugi::xml_document doc;
  std::string error;
  if (!parse_body(c, doc, error)) return bad_body(error);
  pugi::xml_node a = doc.child("action");
  const OpContext ctx = context(c);
  if (verb == "deactivate") {
    // reason from the body; stop_gluster_service only from the URL (ignored here).
    return action_reply(w.deactivate_host(id, child_text(a, "reason"), ctx), doc, "host", id);
  }
  if (verb == "activate") return action_reply(w.activate_host(id, ctx), doc, "host", id);
  if (verb == "fence") {
    const std::string type = child_text(a, "fence_type");
    if (type.empty()) return incomplete("Action", "fenceType", "fence");
    const std::string upper = [&] {
      std::string u = type;
      for (char& ch : u) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      return u;
    }();
    if (upper == "MANUAL") return action_reply(w.fence_manual(id, ctx), doc, "host", id);
    if (upper == "RESTART" || upper == "START" || upper == "STOP" || upper == "STATUS") {
      if (!w.host(id)) return not_found();
      OpResult r;
      r.http_status = 409;
      r.message = msg::kLabFenceNoPowerManagement;
      return action_reply(r, doc, "host", id);
    }
    return HttpReply::xml(400, fault_xml("Invalid value", type + " is not a member of FenceType"));
  }
  if (verb == "install") {
    // Everything of install comes from the body; activate defaults to false.
    InstallParams p;
    p.activate = child_bool(a, "activate").value_or(false);
    p.reboot = child_bool(a, "reboot").value_or(true);
    p.deploy_hosted_engine = child_bool(a, "deploy_hosted_engine").value_or(false);
    p.undeploy_hosted_engine = child_bool(a, "undeploy_hosted_engine").value_or(false);
    p.auth_method = child_text(a.child("ssh"), "authentication_method");
    return action_reply(w.install_host(id, p, ctx), doc, "host", id);
  }
  return not_found();
}

HttpReply hosts(World& w, const ApiCall& c) {
  const auto& s = c.segments;
  if (s.size() == 1) {
    if (c.method == "GET") return list_hosts(w, c);
    if (c.method == "POST") return add_host(w, c);
    return HttpReply::empty(405);
  }
  const std::string& id = s[1];
  if (!is_guid(id)) return malformed_id(id);
  if (s.size() == 2) {
    if (c.method == "GET") {
      auto h = w.host(id);
      if (!h) return not_found();
      return HttpReply::xml(200, host_xml(*h, all_content(c), w.global_maintenance()));
    }
    if (c.method == "DELETE") {
      OpResult r = w.remove_host(id, url_flag(c, "force", false), context(c));
      if (r.http_status == 404) return not_found();
      // A refused DELETE is a bare fault; a done one is an <action> (200, not 204).
      if (!r.ok()) return HttpReply::xml(r.http_status, fault_xml("Operation Failed", bracketed(r.message)));
      pugi::xml_document none;
      return HttpReply::xml(200, action_complete_xml(none, r.job_id, "", ""));
    }
    return HttpReply::empty(405);
  }
  if (s.size() == 3) {
    if (c.method != "POST") return HttpReply::empty(405);
    return host_action(w, c, id, s[2]);
  }
  return not_found();
}

HttpReply vms(World& w, const ApiCall& c) {
  const auto& s = c.segments;
  if (s.size() == 1) {
    if (c.method != "GET") return HttpReply::empty(405);
    auto list = w.vms();
    const auto hosts = w.hosts();
    std::function<std::string(const Vm&, const std::string&)> get = [&](const Vm& v, const std::string& f) {
      if (f == "name") return v.name;
      if (f == "status") return std::string(engine_name(v.status));
      if (f == "host" || f == "on_host")
        for (const auto& h : hosts)
          if (h.id == v.host_id) return h.name;
      return std::string();
    };
    if (auto refused = filter(c, list, vms_search(), get)) return *refused;
    return HttpReply::xml(200, vms_xml(list));
  }
  const std::string& id = s[1];
  if (!is_guid(id)) return malformed_id(id);
  if (s.size() == 2) {
    if (c.method != "GET") return HttpReply::empty(405);
    auto v = w.vm(id);
    return v ? HttpReply::xml(200, vm_xml(*v)) : not_found();
  }
  if (s.size() == 3 && c.method == "POST") {
    pugi::xml_document doc;
    std::string error;
    if (!parse_body(c, doc, error)) return bad_body(error);
    if (s[2] == "start") return action_reply(w.start_vm(id, context(c)), doc, "vm", id);
    if (s[2] == "stop") return action_reply(w.stop_vm(id, context(c)), doc, "vm", id);
    if (s[2] == "shutdown") return action_reply(w.shutdown_vm(id, context(c)), doc, "vm", id);
    if (s[2] == "suspend") return action_reply(w.suspend_vm(id, context(c)), doc, "vm", id);
    if (s[2] == "reboot") return action_reply(w.reboot_vm(id, context(c)), doc, "vm", id);
    if (s[2] == "maintenance") {
      auto enabled = child_bool(doc.child("action"), "maintenance_enabled");
      if (!enabled) return incomplete("Action", "maintenanceEnabled", "maintenance");
      return action_reply(w.set_global_maintenance(id, *enabled, context(c)), doc, "vm", id);
    }
    return not_found();
  }
  return s.size() == 3 ? HttpReply::empty(405) : not_found();
}

// Keeps the domains the request's search selects (by name).
std::optional<HttpReply> filter_storage_domains(const ApiCall& c, std::vector<StorageDomain>& list) {
  std::function<std::string(const StorageDomain&, const std::string&)> get = [](const StorageDomain& sd,
                                                                             const std::string&) { return sd.name; };
  return filter(c, list, storage_domains_search(), get);
}

HttpReply storagedomains(World& w, const ApiCall& c) {
  if (c.method != "GET") return HttpReply::empty(405);
  if (c.segments.size() == 1) {
    auto list = w.storage_domains();
    if (auto refused = filter_storage_domains(c, list)) return *refused;
    return HttpReply::xml(200, storage_domains_xml(list, false));
  }
  if (c.segments.size() != 2) return not_found();
  if (!is_guid(c.segments[1])) return malformed_id(c.segments[1]);
  auto sd = w.storage_domain(c.segments[1]);
  return sd ? HttpReply::xml(200, storage_domain_xml(*sd, false)) : not_found();
}

// /datacenters/ID/storagedomains[/SD]: the domains attached to the data
// center, with their status there.
HttpReply attached_storage_domains(World& w, const ApiCall& c, const std::string& dc_id) {
  if (!w.data_center(dc_id)) return not_found();
  std::vector<StorageDomain> list;
  for (const auto& sd : w.storage_domains())
    if (sd.data_center_id == dc_id) list.push_back(sd);
  if (c.segments.size() == 3) return HttpReply::xml(200, storage_domains_xml(list, true));
  if (c.segments.size() != 4) return not_found();
  if (!is_guid(c.segments[3])) return malformed_id(c.segments[3]);
  for (const auto& sd : list)
    if (sd.id == c.segments[3]) return HttpReply::xml(200, storage_domain_xml(sd, true));
  return not_found();
}

HttpReply datacenters(World& w, const ApiCall& c) {
  if (c.method != "GET") return HttpReply::empty(405);
  if (c.segments.size() >= 3 && c.segments[2] == "storagedomains") {
    if (!is_guid(c.segments[1])) return malformed_id(c.segments[1]);
    return attached_storage_domains(w, c, c.segments[1]);
  }
  if (c.segments.size() == 1) {
    auto list = w.data_centers();
    std::function<std::string(const DataCenter&, const std::string&)> get = [](const DataCenter& d,
                                                                               const std::string& f) {
      return f == "name" ? d.name : std::string(engine_name(d.status));
    };
    if (auto refused = filter(c, list, data_centers_search(), get)) return *refused;
    return HttpReply::xml(200, data_centers_xml(list));
  }
  if (c.segments.size() != 2) return not_found();
  if (!is_guid(c.segments[1])) return malformed_id(c.segments[1]);
  auto dc = w.data_center(c.segments[1]);
  return dc ? HttpReply::xml(200, data_center_xml(*dc)) : not_found();
}

HttpReply clusters(World& w, const ApiCall& c) {
  if (c.method != "GET") return HttpReply::empty(405);
  if (c.segments.size() == 1) {
    auto list = w.clusters();
    std::function<std::string(const Cluster&, const std::string&)> get = [](const Cluster& cl, const std::string&) {
      return cl.name;
    };
    if (auto refused = filter(c, list, clusters_search(), get)) return *refused;
    return HttpReply::xml(200, clusters_xml(list));
  }
  if (c.segments.size() != 2) return not_found();
  if (!is_guid(c.segments[1])) return malformed_id(c.segments[1]);
  auto cl = w.cluster(c.segments[1]);
  return cl ? HttpReply::xml(200, cluster_xml(*cl)) : not_found();
}

HttpReply jobs(World& w, const ApiCall& c) {
  if (c.method != "GET") return HttpReply::empty(405);
  if (c.segments.size() != 2) return not_found();
  if (!is_guid(c.segments[1])) return malformed_id(c.segments[1]);
  auto j = w.job(c.segments[1]);
  return j ? HttpReply::xml(200, job_xml(*j)) : not_found();
}

HttpReply events(World& w, const ApiCall& c) {
  if (c.method != "GET" || c.segments.size() != 1) return c.segments.size() == 1 ? HttpReply::empty(405) : not_found();
  std::int64_t from = 0;
  if (const std::string* f = query_value(c, "from")) {
    try {
      from = std::stoll(*f);
    } catch (const std::exception&) {
      return HttpReply::xml(400, fault_xml("Invalid value", *f + " is not a valid value for from"));
    }
  }
  auto list = w.events_after(from);
  std::function<std::string(const Event&, const std::string&)> get = [](const Event& e, const std::string& f) {
    if (f == "correlation_id") return e.correlation_id;
    if (f == "type") return std::to_string(e.code);
    if (f == "severity") return e.severity;
    return e.host_name;
  };
  if (auto refused = filter(c, list, events_search(), get)) return *refused;
  return HttpReply::xml(200, events_xml(list));
}

// What a link names, as a GET of it would answer (for follow=).
std::string linked_object(World& w, const ApiCall& c, const std::string& collection, const std::string& id) {
  if (collection == "hosts")
    if (auto h = w.host(id)) return host_xml(*h, all_content(c), w.global_maintenance());
  if (collection == "vms")
    if (auto v = w.vm(id)) return vm_xml(*v);
  if (collection == "clusters")
    if (auto cl = w.cluster(id)) return cluster_xml(*cl);
  if (collection == "datacenters")
    if (auto dc = w.data_center(id)) return data_center_xml(*dc);
  if (collection == "storagedomains")
    if (auto sd = w.storage_domain(id)) return storage_domain_xml(*sd, false);
  return {};
}

HttpReply route(World& world, const ApiCall& call) {
  if (call.segments.empty()) {
    if (call.method == "GET") return api_root(world);
    return HttpReply::empty(405);
  }
  const std::string& collection = call.segments[0];
  if (collection == "hosts") return hosts(world, call);
  if (collection == "vms") return vms(world, call);
  if (collection == "datacenters") return datacenters(world, call);
  if (collection == "clusters") return clusters(world, call);
  if (collection == "storagedomains") return storagedomains(world, call);
  if (collection == "jobs") return jobs(world, call);
  if (collection == "events") return events(world, call);
  return not_found();
}

}  // namespace

HttpReply handle_api_call(World& world, const ApiCall& call) {
  HttpReply reply = route(world, call);
  const std::string* follow = query_value(call, "follow");
  if (follow && call.method == "GET" && reply.status == 200 && !call.segments.empty())
    reply.body = follow_links(reply.body, *follow, [&](const std::string& collection, const std::string& id) {
      return linked_object(world, call, collection, id);
    });
  return reply;
}

}  // namespace she::lab
