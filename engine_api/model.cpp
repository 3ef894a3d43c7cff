#include "engine_api/model.h"

#include <cstdlib>
#include <pugixml.hpp>

#include "engine_api/engine_error.h"

namespace she::engine_api {

namespace {

pugi::xml_document load(const std::string& xml, const char* what) {
  pugi::xml_document doc;
  pugi::xml_parse_result r = doc.load_buffer(xml.data(), xml.size());
  if (!r) throw EngineError(EngineError::Kind::Protocol, 0, std::string("the engine sent unreadable XML for ") + what);
  return doc;
}

bool flag(pugi::xml_node n, const char* name) { return std::string(n.child_value(name)) == "true"; }

Host host_from(pugi::xml_node n) {
  Host h;
  h.id = n.attribute("id").value();
  h.name = n.child_value("name");
  h.address = n.child_value("address");
  h.status = n.child_value("status");
  h.status_detail = n.child_value("status_detail");
  h.spm_status = n.child("spm").child_value("status");
  h.spm_priority = std::atoi(n.child("spm").child_value("priority"));
  h.vm_count = std::atoi(n.child("summary").child_value("total"));
  h.cluster_id = n.child("cluster").attribute("id").value();
  h.hardware_uuid = n.child("hardware_information").child_value("uuid");
  if (pugi::xml_node he = n.child("hosted_engine")) {
    HostedEngineInfo info;
    info.configured = flag(he, "configured");
    info.active = flag(he, "active");
    info.score = std::atoi(he.child_value("score"));
    info.global_maintenance = flag(he, "global_maintenance");
    info.local_maintenance = flag(he, "local_maintenance");
    h.hosted_engine = info;
  }
  return h;
}

}  // namespace

Value Host::to_value() const {
  Value v = {{"id", id},         {"name", name},       {"address", address},     {"status", status},
             {"status_detail", status_detail}, {"spm", spm_status}, {"vm_count", vm_count}, {"hardware_id", hardware_uuid},
             {"hosted_engine", hosted_engine.has_value() && hosted_engine->configured}};
  if (hosted_engine) v["score"] = hosted_engine->score;
  return v;
}

namespace {
std::string text_of(const Value& v, const char* key) {
  auto it = v.find(key);
  return it != v.end() && it->is_string() ? it->get<std::string>() : std::string();
}
}  // namespace

Host Host::from_value(const Value& v) {
  Host h;
  h.id = text_of(v, "id");
  h.name = text_of(v, "name");
  h.address = text_of(v, "address");
  h.status = text_of(v, "status");
  h.status_detail = text_of(v, "status_detail");
  h.spm_status = text_of(v, "spm");
  h.hardware_uuid = text_of(v, "hardware_id");
  auto he_flag = v.find("hosted_engine");
  if (he_flag != v.end() && he_flag->is_boolean() && he_flag->get<bool>()) {
    HostedEngineInfo he;
    he.configured = true;
    auto score = v.find("score");
    he.score = score != v.end() && score->is_number_integer() ? score->get<int>() : 0;
    h.hosted_engine = he;
  }
  return h;
}

Vm Vm::from_value(const Value& v) {
  Vm vm;
  vm.id = text_of(v, "id");
  vm.name = text_of(v, "name");
  vm.status = text_of(v, "status");
  vm.host_id = text_of(v, "host_id");
  vm.origin = text_of(v, "origin");
  return vm;
}

Value Vm::to_value() const {
  return {{"id", id}, {"name", name}, {"status", status}, {"host_id", host_id}, {"origin", origin}};
}

std::vector<Host> parse_hosts(const std::string& xml) {
  auto doc = load(xml, "hosts");
  std::vector<Host> out;
  for (pugi::xml_node n : doc.child("hosts").children("host")) out.push_back(host_from(n));
  return out;
}

Host parse_host(const std::string& xml) {
  auto doc = load(xml, "a host");
  pugi::xml_node n = doc.child("host");
  if (!n) throw EngineError(EngineError::Kind::Protocol, 0, "the engine's answer holds no <host>");
  return host_from(n);
}

std::vector<Vm> parse_vms(const std::string& xml) {
  auto doc = load(xml, "VMs");
  std::vector<Vm> out;
  for (pugi::xml_node n : doc.child("vms").children("vm"))
    out.push_back({n.attribute("id").value(), n.child_value("name"), n.child_value("status"),
                   n.child("host").attribute("id").value(), n.child_value("origin")});
  return out;
}

std::vector<DataCenter> parse_datacenters(const std::string& xml) {
  auto doc = load(xml, "data centers");
  std::vector<DataCenter> out;
  for (pugi::xml_node n : doc.child("data_centers").children("data_center"))
    out.push_back({n.attribute("id").value(), n.child_value("name"), n.child_value("status")});
  return out;
}

std::vector<Event> parse_events(const std::string& xml) {
  auto doc = load(xml, "events");
  std::vector<Event> out;
  for (pugi::xml_node n : doc.child("events").children("event")) {
    Event e;
    e.id = std::atoll(n.attribute("id").value());
    e.code = std::atoi(n.child_value("code"));
    e.severity = n.child_value("severity");
    e.description = n.child_value("description");
    e.time = n.child_value("time");
    e.host_id = n.child("host").attribute("id").value();
    e.correlation_id = n.child_value("correlation_id");
    out.push_back(e);
  }
  return out;
}

ApiInfo parse_api(const std::string& xml) {
  auto doc = load(xml, "the API root");
  pugi::xml_node p = doc.child("api").child("product_info");
  return {p.child_value("name"), p.child_value("vendor"), p.child("version").child_value("full_version")};
}

std::string parse_job_status(const std::string& xml) {
  auto doc = load(xml, "a job");
  return doc.child("job").child_value("status");
}

std::vector<Host> select_hosts(const std::vector<Host>& hosts, const std::vector<std::string>& statuses,
                               const std::string& hosted_engine, const std::vector<std::string>& exclude) {
  auto in = [](const std::vector<std::string>& list, const std::string& x) {
    return std::find(list.begin(), list.end(), x) != list.end();
  };
  std::vector<Host> out;
  for (const auto& h : hosts) {
    bool is_he = h.hosted_engine && h.hosted_engine->configured;
    if (!statuses.empty() && !in(statuses, h.status)) continue;
    if ((hosted_engine == "yes" && !is_he) || (hosted_engine == "no" && is_he)) continue;
    if (in(exclude, h.name)) continue;
    out.push_back(h);
  }
  return out;
}

}  // namespace she::engine_api
