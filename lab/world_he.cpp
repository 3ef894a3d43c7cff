// The World's hosted-engine side, as the lab hosts' agent sees it: the HA
// agents' view (--vm-status, maintenance, metadata cleaning) and what
// `hosted-engine --deploy --restore-from-file` does to the engine's
// database. World::to_json() read back (world_state_from_json) is the lab's
// engine database dump inside an engine-backup archive.
#include <algorithm>
#include <set>
#include <cctype>
#include <fmt/format.h>

#include "lab/engine_messages.h"
#include "lab/ascii_case.h"
#include "lab/world.h"

namespace she::lab {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr int kFullScore = 3400;

constexpr const char* kLocalMaintenanceEngineHere =
    "Unable to enter local maintenance mode: the engine VM is running on the current host, please migrate it before "
    "entering local maintenance mode.";

OpResult refused(int status, std::string message) {
  OpResult r;
  r.http_status = status;
  r.message = std::move(message);
  return r;
}

std::string text(const json& j, const char* key, const std::string& def = {}) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_string()) throw std::runtime_error(fmt::format("'{}' must be a string", key));
  return it->get<std::string>();
}

template <typename T, typename Parse>
T status_of(const json& j, const char* key, T def, Parse parse) {
  const std::string s = text(j, key);
  if (s.empty()) return def;
  auto v = parse(s);
  if (!v) throw std::runtime_error(fmt::format("'{}' is not a valid {}", s, key));
  return *v;
}

// An HA agent publishes while its host runs; a dead host's slot is stale.
bool agent_live(const Host& h) {
  return h.status != HostStatus::NonResponsive && h.status != HostStatus::Down && h.status != HostStatus::Reboot &&
         h.status != HostStatus::Kdumping && h.status != HostStatus::InstallingOs;
}

std::string crc32_hex(const std::string& data) {
  std::uint32_t crc = 0xffffffffu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return fmt::format("{:08x}", ~crc);
}

}  // namespace

WorldState world_state_from_json(const json& j) {
  if (!j.is_object()) throw std::runtime_error("the engine database dump is not a JSON object");
  WorldState s;
  try {
    if (j.contains("engine")) {
      const json& e = j.at("engine");
      s.engine.fqdn = text(e, "fqdn", s.engine.fqdn);
      s.engine.version = text(e, "version", s.engine.version);
      s.engine.health_up = text(e, "health", "up") == "up";
      s.engine.running = text(e, "health", "up") != "off";
      s.engine.admin_user = text(e, "admin_user", s.engine.admin_user);
    }
    s.global_maintenance = j.value("global_maintenance", false);
    if (j.contains("time_scale")) s.time_scale = j.at("time_scale").get<double>();
    if (j.contains("durations")) {
      const json& d = j.at("durations");
      s.durations.maintenance = d.value("maintenance", s.durations.maintenance);
      s.durations.activate = d.value("activate", s.durations.activate);
      s.durations.install = d.value("install", s.durations.install);
      s.durations.start_vm = d.value("start_vm", s.durations.start_vm);
    }
    for (const auto& dc : j.value("data_centers", json::array())) {
      DataCenter d;
      d.id = text(dc, "id");
      d.name = text(dc, "name");
      d.status = status_of(dc, "status", DataCenterStatus::Up, parse_data_center_status);
      s.data_centers.push_back(d);
    }
    for (const auto& c : j.value("clusters", json::array()))
      s.clusters.push_back({text(c, "id"), text(c, "name"), text(c, "data_center_id")});
    for (const auto& js : j.value("storage_domains", json::array())) {
      StorageDomain sd;
      sd.id = text(js, "id");
      sd.name = text(js, "name");
      sd.type = text(js, "type", sd.type);
      sd.storage = text(js, "storage", sd.storage);
      sd.status = text(js, "status", sd.status);
      sd.data_center_id = text(js, "data_center_id");
      sd.master = js.value("master", false);
      sd.address = text(js, "address");
      sd.path = text(js, "path");
      sd.available_gib = js.value("available_gib", sd.available_gib);
      sd.used_gib = js.value("used_gib", sd.used_gib);
      s.storage_domains.push_back(sd);
    }
    for (const auto& jh : j.value("hosts", json::array())) {
      Host h;
      h.id = text(jh, "id");
      h.name = text(jh, "name");
      h.address = text(jh, "address");
      h.hardware_id = text(jh, "hardware_id");
      h.cluster_id = text(jh, "cluster_id");
      h.status = status_of(jh, "status", HostStatus::Up, parse_host_status);
      h.status_detail = text(jh, "status_detail");
      if (jh.contains("spm") && jh.at("spm").is_object()) {
        h.spm = status_of(jh.at("spm"), "status", SpmStatus::None, parse_spm_status);
        h.spm_priority = jh.at("spm").value("priority", 5);
      }
      if (jh.contains("hosted_engine") && jh.at("hosted_engine").is_object()) {
        const json& he = jh.at("hosted_engine");
        HostedEngine info;
        info.active = he.value("active", true);
        info.score = he.value("score", kFullScore);
        info.local_maintenance = he.value("local_maintenance", false);
        info.host_id = he.value("host_id", 0);
        h.hosted_engine = info;
      }
      s.hosts.push_back(h);
    }
    for (const auto& jv : j.value("vms", json::array())) {
      Vm v;
      v.id = text(jv, "id");
      v.name = text(jv, "name");
      v.status = status_of(jv, "status", VmStatus::Down, parse_vm_status);
      v.host_id = text(jv, "host_id");
      v.cluster_id = text(jv, "cluster_id");
      v.origin = text(jv, "origin", "ovirt");
      s.vms.push_back(v);
    }
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("the engine database dump has a bad shape: ") + e.what());
  }
  return s;
}

ordered_json World::he_vm_status() const {
  Lock l(mutex_);
  const auto now = now_locked();
  const long long ts = std::chrono::duration_cast<std::chrono::seconds>(now - started_).count() + 1000;
  ordered_json out = ordered_json::object();
  std::vector<const Host*> he_hosts;
  for (const auto& h : s_.hosts)
    if (h.hosted_engine && h.hosted_engine->host_id > 0) he_hosts.push_back(&h);
  std::sort(he_hosts.begin(), he_hosts.end(),
            [](const Host* a, const Host* b) { return a->hosted_engine->host_id < b->hosted_engine->host_id; });
  auto entry = [&](int id, const std::string& hostname, int score, ordered_json engine_status, bool maintenance,
                   bool stopped, bool live, const std::string& state) {
    const long long host_ts = live ? ts : std::max(0LL, ts - 600);
    const std::string extra = fmt::format(
        "metadata_parse_version=1\nmetadata_feature_version=1\ntimestamp={ts}\nhost-id={id}\nscore={score}\n"
        "vm_conf_refresh_time={ts}\nconf_on_shared_storage=True\nmaintenance={m}\nstate={state}\nstopped={stopped}\n",
        fmt::arg("ts", host_ts), fmt::arg("id", id), fmt::arg("score", score), fmt::arg("m", maintenance ? "True" : "False"),
        fmt::arg("state", state), fmt::arg("stopped", stopped ? "True" : "False"));
    ordered_json e;
    e["host-id"] = id;
    e["host-ts"] = host_ts;
    e["score"] = score;
    e["engine-status"] = std::move(engine_status);
    e["hostname"] = hostname;
    e["maintenance"] = maintenance;
    e["stopped"] = stopped;
    e["crc32"] = crc32_hex(extra);
    e["conf_on_shared_storage"] = true;
    e["local_conf_timestamp"] = host_ts;
    e["extra"] = extra;
    e["live-data"] = live;
    out[std::to_string(id)] = std::move(e);
  };
  std::set<int> shown;
  for (const Host* h : he_hosts) {
    const int id = h->hosted_engine->host_id;
    const bool live = agent_live(*h);
    if (!live && he_cleaned_.count(id)) continue;
    const Vm* vm = nullptr;
    for (const auto& v : s_.vms)
      if (v.is_hosted_engine() && v.host_id == h->id && v.status != VmStatus::Down) vm = &v;
    ordered_json es;
    std::string state;
    if (vm && (vm->status == VmStatus::Up || vm->status == VmStatus::Migrating ||
               (!live && vm->status == VmStatus::Unknown))) {
      // A dead host's slot still says what it last published: up.
      es = {{"vm", "up"}, {"health", s_.engine.health_up ? "good" : "bad"}, {"detail", "Up"}};
      if (!s_.engine.health_up) es["reason"] = "failed liveliness check";
      state = s_.engine.health_up ? "EngineUp" : "EngineUpBadHealth";
    } else if (vm && vm->status == VmStatus::PoweringUp) {
      es = {{"vm", "up"}, {"health", "bad"}, {"detail", "Powering up"}, {"reason", "failed liveliness check"}};
      state = "EngineStarting";
    } else {
      es = {{"vm", "down"}, {"health", "bad"}, {"detail", "unknown"}, {"reason", "vm not running on this host"}};
      state = "EngineDown";
    }
    const bool stopped = h->status == HostStatus::Down;
    if (s_.global_maintenance) state = "GlobalMaintenance";
    if (h->hosted_engine->local_maintenance) state = "LocalMaintenance";
    if (stopped) state = "AgentStopped";
    entry(id, h->address, h->hosted_engine->score, std::move(es), h->hosted_engine->local_maintenance, stopped, live,
          state);
    shown.insert(id);
  }
  for (const auto& [id, slot] : he_stale_) {
    if (shown.count(id)) continue;
    entry(id, slot.hostname, 0,
          {{"vm", "down"}, {"health", "bad"}, {"detail", "unknown"}, {"reason", "vm not running on this host"}}, false,
          slot.stopped, false, slot.stopped ? "AgentStopped" : "EngineDown");
  }
  out["global_maintenance"] = s_.global_maintenance;
  return out;
}

OpResult World::he_set_maintenance(const std::string& host_name, const std::string& mode) {
  Lock l(mutex_);
  if (mode != "global" && mode != "local" && mode != "none")
    return refused(400, fmt::format("Invalid maintenance mode: {}", mode));
  Host* h = nullptr;
  for (auto& x : s_.hosts)
    if (x.name == host_name && x.hosted_engine) h = &x;
  if (mode == "local" && h) {
    for (const auto& v : s_.vms)
      if (v.is_hosted_engine() && v.host_id == h->id && v.status != VmStatus::Down)
        return refused(409, kLocalMaintenanceEngineHere);
  }
  OpResult r;
  if (mode == "global") {
    s_.global_maintenance = true;
  } else if (mode == "local") {
    if (h) {
      h->hosted_engine->local_maintenance = true;
      h->hosted_engine->score = 0;
    }
  } else {
    s_.global_maintenance = false;
    if (h) {
      h->hosted_engine->local_maintenance = false;
      if (agent_live(*h) && h->status != HostStatus::Maintenance) h->hosted_engine->score = kFullScore;
    }
  }
  return r;
}

OpResult World::he_clean_metadata(int host_id, bool force) {
  Lock l(mutex_);
  OpResult r;
  const Host* h = nullptr;
  for (const auto& x : s_.hosts)
    if (x.hosted_engine && x.hosted_engine->host_id == host_id) h = &x;
  auto stale = he_stale_.find(host_id);
  if (!h && stale == he_stale_.end()) {
    r.message = "Metadata for current host missing.";
    return r;
  }
  const bool stopped = h ? h->status == HostStatus::Down : stale->second.stopped;
  if (!force && !stopped) {
    r.message = "Cannot clean unclean metadata block. Consider --force-clean.";
    return r;
  }
  r.message = "Cleaning the metadata block!";
  r.entity_id = "cleaned";
  if (h) {
    // A live agent publishes again at its next cycle; a dead one does not.
    if (!agent_live(*h)) he_cleaned_.insert(host_id);
  } else {
    he_stale_.erase(stale);
  }
  return r;
}

OpResult World::he_restore(const json& db, const DeployHost& deploy) { return restore_backup(db, &deploy); }

OpResult World::he_legacy_engine_setup(const json& db) { return restore_backup(db, nullptr); }

OpResult World::restore_backup(const json& db, const DeployHost* deploy_host) {
  WorldState st;
  try {
    st = world_state_from_json(db);
  } catch (const std::exception& e) {
    return refused(400, e.what());
  }
  bool keep_stale = false;
  std::set<std::string> unreachable;  // asked with the world locked, as HostMachines wants
  {
    Lock l(mutex_);
    for (const auto& h : st.hosts)
      if (machines_ && !machines_->reachable(h.name)) unreachable.insert(h.name);
    // Lab settings are not in the engine's database.
    st.engine.admin_password = s_.engine.admin_password;
    st.durations = s_.durations;
    st.time_scale = s_.time_scale;
    st.faults = s_.faults;
    st.lab_hosts = s_.lab_hosts;
    keep_stale = s_.faults.restore_leaves_stale_host || !deploy_host;
  }
  st.engine.health_up = true;
  st.engine.running = true;
  // restore_backup.yml: "Remove previous hosted-engine VM" (engine-backup
  // alone, the legacy way, keeps it).
  if (deploy_host)
    st.vms.erase(std::remove_if(st.vms.begin(), st.vms.end(), [](const Vm& v) { return v.is_hosted_engine(); }),
                 st.vms.end());
  // The legacy restore knows no deploying host: the record to keep as it was
  // backed up is the one in maintenance (the seed's failover host).
  auto is_deploy_host = [&](const Host& h) {
    if (!deploy_host) return h.status == HostStatus::Maintenance;
    const DeployHost& deploy = *deploy_host;
    return upper(h.name) == upper(deploy.name) ||
           (!deploy.hardware_id.empty() && upper(h.hardware_id) == upper(deploy.hardware_id));
  };
  // "Update host used to redeploy", by vds_name then by vds_unique_id: its
  // VMs down, then deletevds. Never by address.
  std::vector<std::string> removed;
  if (!keep_stale) {
    for (const auto& h : st.hosts) {
      if (!is_deploy_host(h)) continue;
      for (auto& v : st.vms)
        if (v.host_id == h.id) {
          v.status = VmStatus::Down;
          v.host_id.clear();
        }
      removed.push_back(h.name);
    }
    st.hosts.erase(std::remove_if(st.hosts.begin(), st.hosts.end(), is_deploy_host), st.hosts.end());
  }
  // What the failover-host procedure leaves: the other hosted-engine hosts
  // are not reachable by the new engine (their configuration points at the
  // old storage), regular hosts come up, the SPM stays where it was.
  std::vector<std::string> dead;
  for (auto& h : st.hosts) {
    if (keep_stale && is_deploy_host(h)) continue;  // as it was backed up
    if (h.hosted_engine) {
      h.status = HostStatus::NonResponsive;
      h.status_detail.clear();
      h.hosted_engine->active = false;
      h.hosted_engine->score = 0;
      for (auto& v : st.vms)
        if (v.host_id == h.id && v.status != VmStatus::Down) v.status = VmStatus::Unknown;
      dead.push_back(h.id);
    } else if (!unreachable.count(h.name)) {
      h.status = HostStatus::Up;  // vdsm answers the new engine: up on its own
      h.status_detail.clear();
      for (auto& v : st.vms)
        if (v.host_id == h.id && v.status == VmStatus::Unknown) v.status = VmStatus::Up;
    } else {
      h.status = HostStatus::NonResponsive;
      h.status_detail.clear();
      for (auto& v : st.vms)
        if (v.host_id == h.id && v.status != VmStatus::Down) v.status = VmStatus::Unknown;
      dead.push_back(h.id);
    }
  }
  for (auto& dc : st.data_centers) {
    for (const auto& h : st.hosts) {
      if (h.spm != SpmStatus::Spm) continue;
      bool in_dc = false;
      for (const auto& c : st.clusters)
        if (c.id == h.cluster_id && c.data_center_id == dc.id) in_dc = true;
      if (in_dc) dc.status = h.status == HostStatus::NonResponsive ? DataCenterStatus::Problematic : DataCenterStatus::Up;
    }
  }
  reset(st);
  Lock l(mutex_);
  for (const auto& id : dead)
    if (Host* h = find_host_locked(id))
      event_locked(audit::kVdsFailure, audit::describe(audit::kVdsFailure, h->name), h->id, {}, {});
  OpResult r;
  for (std::size_t i = 0; i < removed.size(); ++i) r.message += (i ? "," : "") + removed[i];
  return r;
}

const Cluster* World::deploy_cluster_locked(const DeployHost& deploy, OpResult* refusal) const {
  // The engine's add-host checks, in its order: name, address, hardware id.
  auto refuse = [&](const char* why) -> const Cluster* {
    *refusal = refused(409, why);
    return nullptr;
  };
  for (const auto& h : s_.hosts)
    if (h.name == deploy.name) return refuse(msg::kAddSameName);
  for (const auto& h : s_.hosts)
    if (upper(h.address) == upper(deploy.address)) return refuse(msg::kAddSameAddress);
  for (const auto& h : s_.hosts)
    if (!deploy.hardware_id.empty() && upper(h.hardware_id) == upper(deploy.hardware_id))
      return refuse(msg::kAddSameUuid);
  const Cluster* cluster = nullptr;
  for (const auto& c : s_.clusters)
    if (c.name == "Default") cluster = &c;
  if (!cluster && !s_.clusters.empty()) cluster = &s_.clusters.front();
  if (!cluster) *refusal = refused(400, "Entity not found: Cluster: name=Default");
  return cluster;
}

Host World::deploy_host_record_locked(const DeployHost& deploy, const Cluster& cluster) {
  Host h;
  h.id = new_id_locked("host", deploy.name);
  h.name = deploy.name;
  h.address = deploy.address;
  h.hardware_id = deploy.hardware_id.empty() ? new_id_locked("hardware", deploy.address) : deploy.hardware_id;
  h.cluster_id = cluster.id;
  return h;
}

Vm& World::engine_vm_locked() {
  for (auto& v : s_.vms)
    if (v.is_hosted_engine()) return v;
  // A deploy creates it on the new storage.
  Vm v;
  v.id = new_id_locked("vm", "HostedEngine");
  v.name = "HostedEngine";
  v.origin = "managed_hosted_engine";
  s_.vms.push_back(v);
  return s_.vms.back();
}

OpResult World::he_deploy_add_host(const DeployHost& deploy, const OpContext& ctx) {
  Lock l(mutex_);
  OpResult refusal;
  const Cluster* cluster = deploy_cluster_locked(deploy, &refusal);
  if (!cluster) return refusal;

  Host h = deploy_host_record_locked(deploy, *cluster);
  h.status = HostStatus::Up;
  HostedEngine he;
  he.host_id = next_he_host_id_locked();
  he.score = kFullScore;
  h.hosted_engine = he;
  s_.hosts.push_back(h);
  he_stale_.erase(he.host_id);
  he_cleaned_.erase(he.host_id);
  machine_ids_[lower(h.address)] = h.hardware_id;
  event_locked(audit::kUserAddVds, audit::describe(audit::kUserAddVds, h.name, ctx.user), h.id, {}, ctx.correlation_id);
  // The new engine VM, created on the new storage and started here.
  Vm* engine_vm = &engine_vm_locked();
  engine_vm->host_id = h.id;
  engine_vm->cluster_id = h.cluster_id;
  engine_vm->status = VmStatus::Up;
  // The deploy ends with hosted-engine --set-maintenance --mode=none.
  s_.global_maintenance = false;
  for (auto& dc : s_.data_centers)
    if (dc.id == cluster->data_center_id) elect_spm_locked(dc.id, {});
  OpResult r;
  r.http_status = 201;
  r.entity_id = std::to_string(he.host_id);
  r.job_id = new_job_locked(fmt::format("Adding new Host {} to Cluster {}", h.name, cluster->name), ctx, true);
  return r;
}

OpResult World::he_legacy_add_host(const DeployHost& deploy, const OpContext& ctx) {
  Lock l(mutex_);
  OpResult refusal;
  const Cluster* cluster = deploy_cluster_locked(deploy, &refusal);
  if (!cluster) return refusal;
  // The storage pool is reached through its SPM: a dead SPM leaves the new
  // host non-operational (seed 000, "Synchronizing the Host and the Engine").
  bool spm_dead = false;
  for (const auto& h : s_.hosts) {
    const Cluster* hc = nullptr;
    for (const auto& c : s_.clusters)
      if (c.id == h.cluster_id) hc = &c;
    if (h.spm == SpmStatus::Spm && hc && hc->data_center_id == cluster->data_center_id)
      spm_dead = h.status == HostStatus::NonResponsive;
  }
  Host h = deploy_host_record_locked(deploy, *cluster);
  h.status = spm_dead ? HostStatus::NonOperational : HostStatus::Up;
  if (spm_dead) h.status_detail = "storage_domain_unreachable";
  s_.hosts.push_back(h);
  machine_ids_[lower(h.address)] = h.hardware_id;
  event_locked(audit::kUserAddVds, audit::describe(audit::kUserAddVds, h.name, ctx.user), h.id, {}, ctx.correlation_id);
  OpResult r;
  r.http_status = 201;
  r.entity_id = h.id;
  r.job_id = new_job_locked(fmt::format("Adding new Host {} to Cluster {}", h.name, cluster->name), ctx, true);
  return r;
}

OpResult World::he_legacy_engine_vm(const std::string& power, const std::string& host_name) {
  Lock l(mutex_);
  const bool on = power != "off";
  if (machines_) machines_->power_engine_vm(on);
  if (power == "created") return {};
  if (!on) {
    // The engine's database is inside the VM: its records stay as they were.
    s_.engine.running = false;
    return {};
  }
  s_.engine.running = true;
  s_.engine.health_up = true;
  Host* host = nullptr;
  for (auto& h : s_.hosts)
    if (h.name == host_name) host = &h;
  if (!host) return {};  // not in the engine (the add failed): the VM runs unseen
  if (!host->hosted_engine) {
    HostedEngine he;
    he.host_id = next_he_host_id_locked();
    host->hosted_engine = he;
  }
  host->hosted_engine->active = true;
  host->hosted_engine->score = kFullScore;
  he_stale_.erase(host->hosted_engine->host_id);
  he_cleaned_.erase(host->hosted_engine->host_id);
  Vm* engine_vm = &engine_vm_locked();
  engine_vm->host_id = host->id;
  engine_vm->cluster_id = host->cluster_id;
  engine_vm->status = VmStatus::Up;
  OpResult r;
  r.entity_id = std::to_string(host->hosted_engine->host_id);
  return r;
}

}  // namespace she::lab
