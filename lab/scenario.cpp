#include "lab/scenario.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "base/diagnostics.h"
#include "base/yaml_reader.h"

namespace she::lab {

namespace {

// The engine answers 400 to a malformed id, so explicit ids must be GUIDs.
bool is_guid(const std::string& s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {}

  WorldState load(const YAML::Node& root) {
    if (!root.IsMap()) {
      d_.error(ErrorKind::WrongType, pos(root), "a scenario is a mapping",
               "start with 'scenario: NAME' and the keys engine, data_centers, clusters, hosts, vms");
      fail();
    }
    check_keys(root, {"scenario", "description", "engine", "data_centers", "clusters", "storage_domains", "hosts", "vms",
                      "durations", "time_scale", "faults", "lab_hosts", "dns", "after_disaster", "engine_machine"},
               "a scenario");
    if (root["scenario"]) text_of(root["scenario"], "scenario");
    if (root["description"]) text_of(root["description"], "description");
    engine(root["engine"]);
    data_centers(root["data_centers"]);
    clusters(root["clusters"]);
    storage_domains(root["storage_domains"]);
    hosts(root["hosts"]);
    vms(root["vms"]);
    durations(root["durations"]);
    if (root["time_scale"]) s_.time_scale = number(root["time_scale"], "time_scale", 0, 1e6);
    lab_hosts(root["lab_hosts"]);
    engine_machine(root["engine_machine"]);
    dns(root["dns"]);
    after_disaster(root["after_disaster"]);
    faults(root["faults"]);
    if (!d_.ok()) fail();
    return s_;
  }

 private:
  [[noreturn]] void fail() { throw ScenarioError(d_.str()); }

  SourcePos pos(const YAML::Node& n) const {
    const auto m = n.Mark();
    if (m.line < 0) return {file_, 0, 0};
    return {file_, m.line + 1, m.column + 1};
  }

  static YAML::Node key_node(const YAML::Node& map, const std::string& key) {
    for (auto it = map.begin(); it != map.end(); ++it)
      if (it->first.IsScalar() && it->first.Scalar() == key) return it->first;
    return map;
  }

  // Unknown and repeated keys, each at its own position.
  void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const std::string& what) {
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const std::string k = it->first.IsScalar() ? it->first.Scalar() : std::string("?");
      if (!seen.insert(k).second)
        d_.error(ErrorKind::DuplicateKey, pos(it->first), fmt::format("'{}' is given twice in {}", k, what));
      if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
        std::string hint = did_you_mean(k, allowed);
        if (hint.empty()) hint = "allowed keys: " + fmt::format("{}", fmt::join(allowed, ", "));
        d_.error(ErrorKind::UnknownKey, pos(it->first), fmt::format("unknown key '{}' in {}", k, what), hint);
      }
    }
  }

  bool is_map(const YAML::Node& n, const std::string& what) {
    if (n.IsMap()) return true;
    d_.error(ErrorKind::WrongType, pos(n), fmt::format("{} must be a mapping", what));
    return false;
  }

  bool is_list(const YAML::Node& n, const std::string& what) {
    if (n.IsSequence()) return true;
    d_.error(ErrorKind::WrongType, pos(n), fmt::format("{} must be a list", what));
    return false;
  }

  std::string text_of(const YAML::Node& n, const std::string& what) {
    if (n.IsScalar()) return n.Scalar();
    d_.error(ErrorKind::WrongType, pos(n), fmt::format("{} must be a string", what));
    return {};
  }

  std::string required_text(const YAML::Node& map, const std::string& key, const std::string& what) {
    YAML::Node n = map[key];
    if (!n || n.IsNull()) {
      d_.error(ErrorKind::MissingKey, pos(map), fmt::format("{} needs '{}'", what, key));
      return {};
    }
    std::string v = text_of(n, what + " " + key);
    if (v.empty() && n.IsScalar()) d_.error(ErrorKind::InvalidValue, pos(n), fmt::format("{} {} is empty", what, key));
    return v;
  }

  std::string optional_text(const YAML::Node& map, const std::string& key, const std::string& what,
                            const std::string& def = {}) {
    YAML::Node n = map[key];
    if (!n || n.IsNull()) return def;
    return text_of(n, what + " " + key);
  }

  bool boolean(const YAML::Node& n, const std::string& what, bool def) {
    if (!n || n.IsNull()) return def;
    if (n.IsScalar()) {
      const std::string v = n.Scalar();
      if (v == "true" || v == "yes") return true;
      if (v == "false" || v == "no") return false;
    }
    d_.error(ErrorKind::WrongType, pos(n), fmt::format("{} must be true or false", what));
    return def;
  }

  double number(const YAML::Node& n, const std::string& what, double min, double max) {
    if (n.IsScalar()) {
      try {
        std::size_t used = 0;
        const double v = std::stod(n.Scalar(), &used);
        if (used == n.Scalar().size()) {
          if (v >= min && v <= max) return v;
          d_.error(ErrorKind::InvalidValue, pos(n), fmt::format("{} must be between {} and {}", what, min, max));
          return min;
        }
      } catch (const std::exception&) {
      }
    }
    d_.error(ErrorKind::WrongType, pos(n), fmt::format("{} must be a number", what));
    return min;
  }

  int integer(const YAML::Node& n, const std::string& what, int def, int min, int max) {
    if (!n || n.IsNull()) return def;
    if (n.IsScalar()) {
      try {
        std::size_t used = 0;
        const long v = std::stol(n.Scalar(), &used);
        if (used == n.Scalar().size()) {
          if (v >= min && v <= max) return static_cast<int>(v);
          d_.error(ErrorKind::InvalidValue, pos(n), fmt::format("{} must be between {} and {}", what, min, max));
          return def;
        }
      } catch (const std::exception&) {
      }
    }
    d_.error(ErrorKind::WrongType, pos(n), fmt::format("{} must be an integer", what));
    return def;
  }

  std::string id_of(const YAML::Node& map, const std::string& what) {
    YAML::Node n = map["id"];
    if (!n) return {};
    std::string id = text_of(n, what + " id");
    if (!id.empty() && !is_guid(id))
      d_.error(ErrorKind::InvalidValue, pos(n), fmt::format("{} id '{}' is not a GUID", what, id),
               "write it as 8-4-4-4-12 hexadecimal digits, or leave it out for a generated one");
    if (!id.empty() && !ids_.insert(id).second)
      d_.error(ErrorKind::InvalidValue, pos(n), fmt::format("id '{}' is used twice", id));
    return id;
  }

  template <typename Status, typename Parse>
  Status status_of(const YAML::Node& n, const std::string& what, Status def, Parse parse,
                   const std::vector<std::string>& names) {
    if (!n || n.IsNull()) return def;
    const std::string v = text_of(n, what);
    if (auto s = parse(v)) return *s;
    if (n.IsScalar()) {
      std::string hint = did_you_mean(v, names);
      if (hint.empty()) hint = one_of(names);
      d_.error(ErrorKind::InvalidValue, pos(n), fmt::format("'{}' is not a {}", v, what), hint);
    }
    return def;
  }

  void engine(const YAML::Node& n) {
    if (!n) return;
    if (!is_map(n, "engine")) return;
    check_keys(n, {"fqdn", "version", "health", "user", "global_maintenance"}, "engine");
    s_.engine.fqdn = optional_text(n, "fqdn", "engine", s_.engine.fqdn);
    s_.engine.version = optional_text(n, "version", "engine", s_.engine.version);
    s_.engine.admin_user = optional_text(n, "user", "engine", s_.engine.admin_user);
    if (n["health"]) {
      const std::string h = text_of(n["health"], "engine health");
      if (h == "up" || h == "down" || h == "off") {
        s_.engine.health_up = h == "up";
        s_.engine.running = h != "off";
      } else if (n["health"].IsScalar()) {
        d_.error(ErrorKind::InvalidValue, pos(n["health"]),
                 fmt::format("engine health '{}' is not up, down or off", h),
                 "off: the engine VM is off and nothing answers; down: it answers 'DB Down!'");
      }
    }
    int major = 0, minor = 0, build = 0;
    if (std::sscanf(s_.engine.version.c_str(), "%d.%d.%d", &major, &minor, &build) < 2)
      d_.error(ErrorKind::InvalidValue, pos(n["version"] ? n["version"] : n),
               fmt::format("engine version '{}' is not MAJOR.MINOR[.BUILD]", s_.engine.version));
    s_.global_maintenance = boolean(n["global_maintenance"], "engine global_maintenance", false);
  }

  void data_centers(const YAML::Node& n) {
    if (n && is_list(n, "data_centers")) {
      for (const auto& e : n) {
        if (!is_map(e, "a data center")) continue;
        check_keys(e, {"name", "id", "status"}, "a data center");
        DataCenter dc;
        dc.name = required_text(e, "name", "a data center");
        dc.id = id_of(e, "data center");
        dc.status = status_of(e["status"], "data center status", DataCenterStatus::Up, parse_data_center_status,
                              data_center_status_names());
        if (!dc.name.empty() && !dc_names_.insert(dc.name).second)
          d_.error(ErrorKind::DuplicateKey, pos(e["name"]), fmt::format("data center '{}' is defined twice", dc.name));
        s_.data_centers.push_back(dc);
      }
    }
    if (s_.data_centers.empty()) s_.data_centers.push_back({"", "Default", DataCenterStatus::Up});
    assign_ids(s_.data_centers, "data_center");
  }

  void clusters(const YAML::Node& n) {
    if (n && is_list(n, "clusters")) {
      for (const auto& e : n) {
        if (!is_map(e, "a cluster")) continue;
        check_keys(e, {"name", "id", "data_center"}, "a cluster");
        Cluster c;
        c.name = required_text(e, "name", "a cluster");
        c.id = id_of(e, "cluster");
        c.data_center_id = lookup_data_center(e["data_center"], "cluster data_center");
        if (!c.name.empty() && !cluster_names_.insert(c.name).second)
          d_.error(ErrorKind::DuplicateKey, pos(e["name"]), fmt::format("cluster '{}' is defined twice", c.name));
        s_.clusters.push_back(c);
      }
    }
    if (s_.clusters.empty()) s_.clusters.push_back({"", "Default", s_.data_centers.front().id});
    assign_ids(s_.clusters, "cluster");
  }

  // One of the API's enum values, lowercase as the engine writes them.
  std::string choice(const YAML::Node& map, const std::string& key, const std::string& what, const std::string& def,
                     const std::vector<std::string>& allowed) {
    YAML::Node n = map[key];
    if (!n || n.IsNull()) return def;
    const std::string v = text_of(n, what + " " + key);
    if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return v;
    if (n.IsScalar()) {
      std::string hint = did_you_mean(v, allowed);
      if (hint.empty()) hint = one_of(allowed);
      d_.error(ErrorKind::InvalidValue, pos(n), fmt::format("'{}' is not a {} {}", v, what, key), hint);
    }
    return def;
  }

  // The engine's StorageDomainType, StorageType and StorageDomainStatus
  // (model values). A data center has at most one master domain; without a
  // data center a domain is unattached.
  void storage_domains(const YAML::Node& n) {
    if (!n || !is_list(n, "storage_domains")) return;
    std::set<std::string> names;
    std::map<std::string, int> masters;
    for (const auto& e : n) {
      if (!is_map(e, "a storage domain")) continue;
      check_keys(e, {"name", "id", "type", "storage", "status", "data_center", "master", "address", "path",
                     "available_gib", "used_gib"},
                 "a storage domain");
      StorageDomain sd;
      sd.name = required_text(e, "name", "a storage domain");
      sd.id = id_of(e, "storage domain");
      sd.type = choice(e, "type", "storage domain", "data", {"data", "iso", "export", "image", "volume", "managed_block_storage"});
      sd.storage = choice(e, "storage", "storage domain", "nfs",
                          {"nfs", "iscsi", "fcp", "glusterfs", "posixfs", "localfs", "cinder", "managed_block_storage"});
      const bool unattached = e["data_center"] && e["data_center"].IsNull();
      if (!unattached) sd.data_center_id = lookup_data_center(e["data_center"], "storage domain data_center");
      sd.status = choice(e, "status", "storage domain", unattached ? "unattached" : "active",
                         {"active", "inactive", "maintenance", "locked", "unknown", "mixed", "preparing_for_maintenance",
                          "activating", "detaching", "unattached"});
      sd.master = boolean(e["master"], "storage domain master", false);
      sd.address = optional_text(e, "address", "storage domain");
      sd.path = optional_text(e, "path", "storage domain");
      if (e["available_gib"]) sd.available_gib = integer(e["available_gib"], "storage domain available_gib", 0, 0, 1 << 30);
      if (e["used_gib"]) sd.used_gib = integer(e["used_gib"], "storage domain used_gib", 0, 0, 1 << 30);
      if (!sd.name.empty() && !names.insert(sd.name).second)
        d_.error(ErrorKind::DuplicateKey, pos(e["name"]), fmt::format("storage domain '{}' is defined twice", sd.name));
      if (sd.master && ++masters[sd.data_center_id] > 1)
        d_.error(ErrorKind::InvalidValue, pos(e["master"]),
                 fmt::format("storage domain '{}' is a second master of its data center", sd.name),
                 "a data center has one master domain");
      s_.storage_domains.push_back(sd);
    }
    assign_ids(s_.storage_domains, "storage_domain");
  }

  std::string lookup_data_center(const YAML::Node& n, const std::string& what) {
    if (!n || n.IsNull()) {
      if (s_.data_centers.size() == 1) return s_.data_centers.front().id;
      d_.error(ErrorKind::MissingKey, pos(n), fmt::format("{} is needed when there are several data centers", what));
      return {};
    }
    const std::string name = text_of(n, what);
    for (const auto& dc : s_.data_centers)
      if (dc.name == name) return dc.id;
    if (n.IsScalar()) d_.error(ErrorKind::UnknownHost, pos(n), fmt::format("no data center named '{}'", name));
    return {};
  }

  std::string lookup_cluster(const YAML::Node& n, const std::string& what) {
    if (!n || n.IsNull()) {
      for (const auto& c : s_.clusters)
        if (c.name == "Default") return c.id;
      if (s_.clusters.size() == 1) return s_.clusters.front().id;
      d_.error(ErrorKind::MissingKey, pos(n), fmt::format("{} is needed: there is no cluster named Default", what));
      return {};
    }
    const std::string name = text_of(n, what);
    for (const auto& c : s_.clusters)
      if (c.name == name) return c.id;
    if (n.IsScalar()) d_.error(ErrorKind::UnknownHost, pos(n), fmt::format("no cluster named '{}'", name));
    return {};
  }

  void hosts(const YAML::Node& n) {
    if (!n) return;
    if (!is_list(n, "hosts")) return;
    std::map<std::string, int> spm_per_dc;
    std::set<int> he_ids;
    std::set<std::string> addresses, hardware_ids;
    for (const auto& e : n) {
      if (!is_map(e, "a host")) continue;
      check_keys(e,
                 {"name", "id", "address", "hardware_id", "cluster", "status", "status_detail", "spm", "spm_priority",
                  "hosted_engine"},
                 "a host");
      Host h;
      h.name = required_text(e, "name", "a host");
      h.id = id_of(e, "host");
      h.address = required_text(e, "address", "a host");
      h.hardware_id = optional_text(e, "hardware_id", "host");
      h.cluster_id = lookup_cluster(e["cluster"], "host cluster");
      h.status = status_of(e["status"], "host status", HostStatus::Up, parse_host_status, host_status_names());
      h.status_detail = optional_text(e, "status_detail", "host");
      if (boolean(e["spm"], "host spm", false)) {
        h.spm = SpmStatus::Spm;
        for (const auto& c : s_.clusters)
          if (c.id == h.cluster_id && ++spm_per_dc[c.data_center_id] > 1)
            d_.error(ErrorKind::InvalidValue, pos(key_node(e, "spm")),
                     fmt::format("host '{}' is a second SPM in its data center", h.name),
                     "a data center has one Storage Pool Manager");
      }
      h.spm_priority = integer(e["spm_priority"], "host spm_priority", 5, -1, 10);
      if (YAML::Node he = e["hosted_engine"]) {
        if (is_map(he, "hosted_engine")) {
          check_keys(he, {"host_id", "score", "active", "local_maintenance"}, "hosted_engine");
          HostedEngine info;
          info.host_id = integer(he["host_id"], "hosted_engine host_id", 0, 1, 250);
          if (!he["host_id"]) d_.error(ErrorKind::MissingKey, pos(he), "hosted_engine needs 'host_id'");
          else if (!he_ids.insert(info.host_id).second)
            d_.error(ErrorKind::InvalidValue, pos(he["host_id"]),
                     fmt::format("hosted-engine host id {} is used twice", info.host_id));
          info.score = integer(he["score"], "hosted_engine score", 3400, 0, 3400);
          info.active = boolean(he["active"], "hosted_engine active", true);
          info.local_maintenance = boolean(he["local_maintenance"], "hosted_engine local_maintenance", false);
          h.hosted_engine = info;
        }
      }
      if (!h.name.empty() && !host_names_.insert(h.name).second)
        d_.error(ErrorKind::DuplicateHost, pos(e["name"]), fmt::format("host '{}' is defined twice", h.name));
      if (!h.address.empty() && !addresses.insert(h.address).second)
        d_.error(ErrorKind::DuplicateHost, pos(e["address"]),
                 fmt::format("address '{}' belongs to two hosts", h.address),
                 "the engine refuses two hosts with the same address");
      if (!h.hardware_id.empty() && !hardware_ids.insert(h.hardware_id).second)
        d_.error(ErrorKind::DuplicateHost, pos(e["hardware_id"]),
                 fmt::format("hardware_id '{}' belongs to two hosts", h.hardware_id));
      s_.hosts.push_back(h);
    }
    assign_ids(s_.hosts, "host");
  }

  void vms(const YAML::Node& n) {
    if (!n) return;
    if (!is_list(n, "vms")) return;
    bool have_engine_vm = false;
    std::set<std::string> names;
    for (const auto& e : n) {
      if (!is_map(e, "a VM")) continue;
      check_keys(e, {"name", "id", "host", "cluster", "status", "hosted_engine_vm"}, "a VM");
      Vm v;
      v.name = required_text(e, "name", "a VM");
      v.id = id_of(e, "VM");
      if (YAML::Node host = e["host"]) {
        const std::string name = text_of(host, "VM host");
        for (const auto& h : s_.hosts)
          if (h.name == name) {
            v.host_id = h.id;
            v.cluster_id = h.cluster_id;
          }
        if (v.host_id.empty() && host.IsScalar())
          d_.error(ErrorKind::UnknownHost, pos(host), fmt::format("no host named '{}'", name),
                   did_you_mean(name, std::vector<std::string>(host_names_.begin(), host_names_.end())));
      }
      if (e["cluster"]) v.cluster_id = lookup_cluster(e["cluster"], "VM cluster");
      if (v.cluster_id.empty()) v.cluster_id = lookup_cluster(YAML::Node(), "VM cluster");
      v.status = status_of(e["status"], "VM status", v.host_id.empty() ? VmStatus::Down : VmStatus::Up, parse_vm_status,
                           vm_status_names());
      if (v.status != VmStatus::Down && v.status != VmStatus::Suspended && !e["host"])
        d_.error(ErrorKind::MissingKey, pos(e), fmt::format("VM '{}' is {} but has no host", v.name, to_string(v.status)),
                 "give it a host, or status down");
      if (boolean(e["hosted_engine_vm"], "VM hosted_engine_vm", false)) {
        v.origin = "managed_hosted_engine";
        if (have_engine_vm)
          d_.error(ErrorKind::InvalidValue, pos(key_node(e, "hosted_engine_vm")), "a second hosted engine VM",
                   "an engine has one hosted engine VM");
        have_engine_vm = true;
      }
      if (!v.name.empty() && !names.insert(v.name).second)
        d_.error(ErrorKind::DuplicateKey, pos(e["name"]), fmt::format("VM '{}' is defined twice", v.name));
      s_.vms.push_back(v);
    }
    assign_ids(s_.vms, "vm");
  }

  void durations(const YAML::Node& n) {
    if (!n) return;
    if (!is_map(n, "durations")) return;
    check_keys(n, {"maintenance", "activate", "install", "start_vm"}, "durations");
    auto& d = s_.durations;
    if (n["maintenance"]) d.maintenance = number(n["maintenance"], "durations maintenance", 0, 86400);
    if (n["activate"]) d.activate = number(n["activate"], "durations activate", 0, 86400);
    if (n["install"]) d.install = number(n["install"], "durations install", 0, 86400);
    if (n["start_vm"]) d.start_vm = number(n["start_vm"], "durations start_vm", 0, 86400);
  }

  void faults(const YAML::Node& n) {
    if (!n) return;
    if (!is_map(n, "faults")) return;
    check_keys(n, {"http_503", "slow_ms", "token_ttl_s", "hosted_engine_restore_leaves_stale_host", "hosts"}, "faults");
    s_.faults.restore_leaves_stale_host =
        boolean(n["hosted_engine_restore_leaves_stale_host"], "faults hosted_engine_restore_leaves_stale_host", false);
    host_faults(n["hosts"]);
    auto& f = s_.faults;
    if (YAML::Node b = n["http_503"]) {
      if (is_map(b, "faults http_503")) {
        check_keys(b, {"count", "methods"}, "faults http_503");
        f.http_503_count = integer(b["count"], "http_503 count", 0, 0, 1000000);
        if (YAML::Node m = b["methods"]) {
          if (is_list(m, "http_503 methods"))
            for (const auto& x : m) {
              const std::string method = text_of(x, "an HTTP method");
              static const std::vector<std::string> known = {"GET", "HEAD", "POST", "PUT", "DELETE"};
              if (std::find(known.begin(), known.end(), method) == known.end() && x.IsScalar())
                d_.error(ErrorKind::InvalidValue, pos(x), fmt::format("'{}' is not an HTTP method", method),
                         one_of(known));
              f.http_503_methods.push_back(method);
            }
        }
      }
    }
    f.slow_ms = integer(n["slow_ms"], "faults slow_ms", 0, 0, 600000);
    f.token_ttl_s = integer(n["token_ttl_s"], "faults token_ttl_s", 0, 0, 100000000);
  }

  // Machines of the lab the engine does not know (spares for a restore on
  // new hardware): lab_hosts: [{name, role, hostname, hardware_id}].
  void lab_hosts(const YAML::Node& n) {
    if (!n) return;
    if (!is_list(n, "lab_hosts")) return;
    for (const auto& e : n) {
      if (!is_map(e, "a lab host")) continue;
      check_keys(e, {"name", "role", "hostname", "hardware_id"}, "a lab host");
      LabHostsConfig::Extra x;
      x.name = required_text(e, "name", "a lab host");
      x.role = optional_text(e, "role", "lab host", "spare");
      x.hostname = optional_text(e, "hostname", "lab host");
      x.hardware_id = optional_text(e, "hardware_id", "lab host");
      if (!x.name.empty() && (!host_names_.insert(x.name).second || x.name == "engine" || x.name == "backup_storage"))
        d_.error(ErrorKind::DuplicateHost, pos(e["name"]), fmt::format("lab host '{}' is defined twice", x.name));
      s_.lab_hosts.extra.push_back(x);
    }
  }

  // engine_machine: {setup: done|installed, database: local|LAB_HOST,
  // postgresql: BOOL, dwh: BOOL}: the engine's own machine (lab/host_fleet.h).
  void engine_machine(const YAML::Node& n) {
    if (!n || !is_map(n, "engine_machine")) return;
    check_keys(n, {"setup", "database", "postgresql", "dwh"}, "engine_machine");
    auto& l = s_.lab_hosts;
    l.engine_setup = optional_text(n, "setup", "engine_machine", "done");
    if (l.engine_setup != "done" && l.engine_setup != "installed")
      d_.error(ErrorKind::InvalidValue, pos(n["setup"]), "engine_machine setup is done or installed");
    l.engine_database = optional_text(n, "database", "engine_machine");
    l.engine_postgresql = boolean(n["postgresql"], "engine_machine postgresql", false);
    l.engine_dwh = boolean(n["dwh"], "engine_machine dwh", false);
    if (l.engine_dwh && l.engine_database.empty())
      d_.error(ErrorKind::InvalidValue, pos(n["dwh"]), "engine_machine dwh needs a real database (database: local or a lab host)");
    if (!l.engine_database.empty() && l.engine_database != "local") {
      bool found = false;
      for (const auto& x : l.extra) found = found || (x.name == l.engine_database && x.role == "database");
      if (!found)
        d_.error(ErrorKind::InvalidValue, pos(n["database"]),
                 fmt::format("engine_machine database '{}' is neither local nor a lab host with role database",
                             l.engine_database));
    }
  }

  // after_disaster: {failover: HOST, backup: NAME, deploy: ansible|legacy}: staged at start by she-lab
  // serve (lab/staged_disaster.h).
  void after_disaster(const YAML::Node& n) {
    if (!n) return;
    if (!is_map(n, "after_disaster")) return;
    check_keys(n, {"failover", "backup", "deploy"}, "after_disaster");
    AfterDisaster a;
    a.failover = required_text(n, "failover", "after_disaster");
    a.backup = optional_text(n, "backup", "after_disaster", "engine-before-the-disaster.backup");
    a.deploy = optional_text(n, "deploy", "after_disaster", "ansible");
    if (a.deploy != "ansible" && a.deploy != "legacy")
      d_.error(ErrorKind::InvalidValue, pos(n["deploy"]), "after_disaster: deploy is ansible or legacy",
               "legacy: the 4.0-4.2 restore (hosted-engine --deploy --noansible, the engine restored inside its VM)");
    if (a.deploy == "legacy" && s_.lab_hosts.engine_database != "local")
      d_.error(ErrorKind::InvalidValue, pos(n["deploy"]),
               "after_disaster: a legacy restore needs the engine's real database",
               "add engine_machine: {setup: done, database: local}");
    bool hosted_engine = false;
    for (const auto& h : s_.hosts) hosted_engine |= h.name == a.failover && h.hosted_engine.has_value();
    if (!a.failover.empty() && !hosted_engine)
      d_.error(ErrorKind::UnknownHost, pos(n["failover"]),
               fmt::format("after_disaster: '{}' is not a hosted-engine host of the scenario", a.failover),
               "name the failover host: a hosted-engine host that does not run the engine VM");
    if (a.backup.find('/') != std::string::npos)
      d_.error(ErrorKind::InvalidValue, pos(n["backup"]), "after_disaster: backup is a file name, not a path");
    s_.after_disaster = a;
  }

  // dns: {NAME: ADDRESS}: the lab hosts' /etc/hosts, over the defaults (the
  // engine FQDN and every host address in 192.0.2.0/24); `NAME: ''` drops one.
  void dns(const YAML::Node& n) {
    if (!n) return;
    if (!is_map(n, "dns")) return;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string name = it->first.IsScalar() ? it->first.Scalar() : std::string();
      if (name.empty() || !it->second.IsScalar()) {
        d_.error(ErrorKind::WrongType, pos(it->first), "a dns entry is NAME: ADDRESS",
                 "e.g. dns: {engine.example.com: 192.0.2.10}");
        continue;
      }
      s_.lab_hosts.dns[name] = it->second.Scalar();
    }
  }

  // faults: hosts: {NAME: {unreachable, fail: [{match, message, exit, times}],
  //   drop_mid_command, drop_after_bytes, drop_times, slow_ms}}: what the
  // lab host's agent reads from its faults file.
  void host_faults(const YAML::Node& n) {
    if (!n) return;
    if (!is_map(n, "faults hosts")) return;
    std::vector<std::string> known(host_names_.begin(), host_names_.end());
    known.push_back("engine");
    known.push_back("backup_storage");
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string name = it->first.IsScalar() ? it->first.Scalar() : std::string();
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        d_.error(ErrorKind::UnknownHost, pos(it->first), fmt::format("faults for '{}', which is no lab host", name),
                 did_you_mean(name, known));
        continue;
      }
      const YAML::Node f = it->second;
      if (!is_map(f, "the faults of a lab host")) continue;
      check_keys(f, {"unreachable", "fail", "drop_mid_command", "drop_after_bytes", "drop_times", "slow_ms"},
                 "the faults of a lab host");
      nlohmann::json j = nlohmann::json::object();
      if (boolean(f["unreachable"], "faults unreachable", false)) s_.lab_hosts.unreachable.insert(name);
      if (YAML::Node fail = f["fail"]) {
        j["fail"] = nlohmann::json::array();
        if (is_list(fail, "faults fail"))
          for (const auto& r : fail) {
            if (!is_map(r, "a fail rule")) continue;
            check_keys(r, {"match", "message", "exit", "times"}, "a fail rule");
            nlohmann::json rule = {{"match", required_text(r, "match", "a fail rule")},
                                   {"message", optional_text(r, "message", "fail rule")},
                                   {"exit", integer(r["exit"], "fail rule exit", 1, 0, 255)}};
            if (r["times"]) rule["times"] = integer(r["times"], "fail rule times", 1, 1, 1000000);
            j["fail"].push_back(rule);
          }
      }
      if (f["drop_mid_command"]) j["drop_mid_command"] = text_of(f["drop_mid_command"], "faults drop_mid_command");
      if (f["drop_after_bytes"])
        j["drop_after_bytes"] = static_cast<long long>(number(f["drop_after_bytes"], "faults drop_after_bytes", 0, 1e15));
      if (f["drop_times"]) j["drop_times"] = integer(f["drop_times"], "faults drop_times", 1, 1, 1000000);
      if (f["slow_ms"]) j["slow_ms"] = integer(f["slow_ms"], "faults slow_ms", 0, 0, 600000);
      s_.lab_hosts.faults[name] = j.dump();
    }
  }

  // Ids the scenario did not give, derived from the names, so that a
  // scenario gives the same ids every time. Each section gets its ids before
  // the next one refers to it by name.
  template <typename T>
  void assign_ids(std::vector<T>& items, const std::string& kind) {
    for (auto& x : items)
      if (x.id.empty()) x.id = derived_id(kind, x.name);
  }

  std::string derived_id(const std::string& kind, const std::string& name) {
    // A GUID-shaped id from the kind and the name: FNV-1a spread over 128 bits.
    auto fnv = [](const std::string& s, std::uint64_t seed) {
      std::uint64_t h = seed;
      for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ULL;
      }
      return h;
    };
    const std::string key = kind + "/" + name;
    const std::uint64_t a = fnv(key, 14695981039346656037ULL), b = fnv(key, a ^ 0x9e3779b97f4a7c15ULL);
    std::string hex = fmt::format("{:016x}{:016x}", a, b);
    hex[12] = '4';  // version 4 shape
    hex[16] = "89ab"[b & 3];
    std::string id = hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) +
                     "-" + hex.substr(20, 12);
    while (!ids_.insert(id).second) id = derived_id(kind + "'", name);
    return id;
  }

  std::string file_;
  Diagnostics d_;
  WorldState s_;
  std::set<std::string> ids_;
  std::set<std::string> dc_names_, cluster_names_, host_names_;
};

}  // namespace

WorldState parse_scenario(const std::string& text, const std::string& file_name) {
  Diagnostics d;
  std::optional<YAML::Node> root = parse_yaml_text(text, file_name, d);
  if (!root) throw ScenarioError(d.str());
  return Loader(file_name).load(*root);
}

WorldState load_scenario(const std::filesystem::path& file) {
  Diagnostics d;
  std::optional<YAML::Node> root = read_yaml_file(file.string(), {}, d);
  if (!root) throw ScenarioError(d.str());
  return Loader(file.string()).load(*root);
}

}  // namespace she::lab
