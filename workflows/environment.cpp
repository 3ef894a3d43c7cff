#include "workflows/environment.h"

#include <algorithm>
#include <cstdlib>

namespace she {

bool HostSpec::has_role(const std::string& role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

std::string Environment::path(const std::string& written) const {
  if (written.empty() || written[0] == '/') return written;
  if (written.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    return std::string(home ? home : "") + written.substr(1);
  }
  return base_dir.empty() ? written : base_dir + "/" + written;
}

const HostSpec* Environment::find_host(const std::string& n) const {
  for (auto& h : hosts)
    if (h.name == n) return &h;
  return nullptr;
}

const HostSpec* Environment::find_target(const std::string& n) const {
  if (n == "engine" && engine.has_vm) return &engine.vm;
  if (n == "backup_storage" && backup_storage.configured) return &backup_storage.host;
  return find_host(n);
}

std::vector<std::string> Environment::target_names() const {
  std::vector<std::string> out;
  for (auto& h : hosts) out.push_back(h.name);
  if (engine.has_vm) out.push_back("engine");
  if (backup_storage.configured) out.push_back("backup_storage");
  return out;
}

namespace {
Value host_value(const HostSpec& h) {
  return Value{{"name", h.name},
               {"address", h.address},
               {"hardware_id", h.hardware_id},
               {"roles", h.roles},
               {"ssh", {{"user", h.ssh.user}, {"port", h.ssh.port}}}};
}
}  // namespace

Value Environment::to_value() const {
  Value v;
  v["name"] = name;
  v["mode"] = mode;
  v["engine"] = {{"fqdn", engine.fqdn},
                 {"api_url", engine.api_url},
                 {"user", engine.user},
                 {"password", engine.password},
                 {"ca_file", engine.ca_file},
                 {"ca_fingerprint", engine.ca_fingerprint},
                 {"datacenter", engine.datacenter},
                 {"cluster", engine.cluster}};
  if (engine.has_vm) v["engine"]["vm"] = host_value(engine.vm);
  v["hosts"] = Value::array();
  v["host"] = Value::object();
  v["hosts_by_role"] = Value::object();
  for (auto& role : known_host_roles()) v["hosts_by_role"][role] = Value::array();
  for (auto& h : hosts) {
    v["hosts"].push_back(host_value(h));
    v["host"][h.name] = host_value(h);
    for (auto& r : h.roles) v["hosts_by_role"][r].push_back(host_value(h));
  }
  if (backup_storage.configured)
    v["backup_storage"] = {{"host", "backup_storage"},
                           {"address", backup_storage.host.address},
                           {"path", backup_storage.path}};
  return v;
}

const std::vector<std::string>& known_host_roles() {
  static const std::vector<std::string> roles = {"hosted_engine", "failover", "regular", "spm", "spare",
                                                  "engine_machine", "database", "ovm_manager", "ovm_server"};
  return roles;
}

}  // namespace she
