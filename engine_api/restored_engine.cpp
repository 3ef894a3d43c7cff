#include "engine_api/restored_engine.h"

#include <algorithm>
#include <cctype>

namespace she::engine_api {


bool same_engine_name(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string RestoredEngine::to_text() const {
  Value v = {{"basis", basis}, {"hosts", Value::array()}, {"vms", Value::array()}, {"knows_vms", knows_vms},
             {"deploy_host", deploy_host.to_value()}};
  for (const auto& h : hosts) v["hosts"].push_back(h.to_value());
  for (const auto& vm : vms) v["vms"].push_back(vm.to_value());
  return dump_json(v);
}

std::optional<RestoredEngine> RestoredEngine::from_text(const std::string& text) {
  Value v = Value::parse(text, nullptr, false);
  if (!v.is_object() || !v.contains("hosts") || !v["hosts"].is_array()) return std::nullopt;
  RestoredEngine e;
  if (v.contains("basis") && v["basis"].is_string()) e.basis = v["basis"].get<std::string>();
  for (const auto& h : v["hosts"]) e.hosts.push_back(Host::from_value(h));
  if (v.contains("vms") && v["vms"].is_array())
    for (const auto& vm : v["vms"]) e.vms.push_back(Vm::from_value(vm));
  e.knows_vms = v.contains("knows_vms") && v["knows_vms"].is_boolean() && v["knows_vms"].get<bool>();
  if (v.contains("deploy_host")) e.deploy_host = Host::from_value(v["deploy_host"]);
  return e;
}

std::optional<RestoredEngine> predict_restored_engine(const Value& manifest, const std::string& deploy_host,
                                                      DeployHostRecord record) {
  if (!manifest.is_object() || !manifest.contains("hosts") || !manifest["hosts"].is_array()) return std::nullopt;
  RestoredEngine e;
  auto named = manifest.find("archive");
  const std::string archive = named != manifest.end() && named->is_string() ? named->get<std::string>() : "";
  e.basis = "the backup's manifest" + (archive.empty() ? std::string() : " (" + archive + ")") +
            " and what a restore does to it";
  std::vector<std::string> gone_hosts;
  for (const auto& v : manifest["hosts"]) {
    Host h = Host::from_value(v);
    if (same_engine_name(h.name, deploy_host)) {
      e.deploy_host = h;  // the deploy adds it again, under a new id
      if (record == DeployHostRecord::Filtered) gone_hosts.push_back(h.id);
      else e.hosts.push_back(h);  // as it was backed up: in maintenance, without VMs
      continue;
    }
    if (h.hosted_engine) {
      h.status = "non_responsive";
      h.status_detail.clear();
      h.hosted_engine->score = 0;
      h.hosted_engine->active = false;
    }
    e.hosts.push_back(h);
  }
  auto host = [&](const std::string& id) -> const Host* {
    for (const auto& h : e.hosts)
      if (h.id == id) return &h;
    return nullptr;
  };
  if (manifest.contains("vms") && manifest["vms"].is_array()) {
    e.knows_vms = true;
    for (const auto& v : manifest["vms"]) {
      Vm vm = Vm::from_value(v);
      if (vm.origin == "managed_hosted_engine") continue;
      if (std::find(gone_hosts.begin(), gone_hosts.end(), vm.host_id) != gone_hosts.end()) {
        vm.status = "down";
        vm.host_id.clear();
      } else if (const Host* h = host(vm.host_id); h && h->status == "non_responsive" && vm.status != "down") {
        vm.status = "unknown";
      }
      e.vms.push_back(vm);
    }
  }
  if (e.deploy_host.name.empty()) e.deploy_host.name = deploy_host;
  // hosted-engine --deploy adds its host as a hosted-engine host, up once
  // the deploy finishes; the engine gives it a new id.
  e.deploy_host.id = "<id of the new host " + e.deploy_host.name + ">";
  e.deploy_host.status = "up";
  e.deploy_host.status_detail.clear();
  e.deploy_host.spm_status = "none";
  HostedEngineInfo he;
  he.configured = true;
  he.active = true;
  he.score = 3400;
  e.deploy_host.hosted_engine = he;
  return e;
}

std::map<std::string, std::string> restored_engine_expectation(const Value& manifest, const std::string& deploy_host,
                                                               DeployHostRecord record) {
  auto restored = predict_restored_engine(manifest, deploy_host, record);
  if (!restored) return {};
  return {{kRestoredEngineKey, restored->to_text()}};
}

std::optional<RestoredEngine> restored_engine(const OperationRunner* runner) {
  if (!runner) return std::nullopt;
  const std::string* text = runner->expectation(kRestoredEngineKey);
  if (!text) return std::nullopt;
  auto e = RestoredEngine::from_text(*text);
  if (e && runner->expectation(kDeployHostAddedKey)) {
    const std::string name = e->deploy_host.name;
    e->hosts.erase(std::remove_if(e->hosts.begin(), e->hosts.end(),
                                  [&](const Host& h) { return same_engine_name(h.name, name); }),
                   e->hosts.end());
    e->hosts.push_back(e->deploy_host);
  }
  return e;
}

}  // namespace she::engine_api
