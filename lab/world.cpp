#include "lab/world.h"
#include "lab/ascii_case.h"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <initializer_list>
#include <openssl/evp.h>

#include "lab/engine_messages.h"
#include "lab/iso_time.h"

namespace she::lab {

namespace {

using std::chrono::steady_clock;
using std::chrono::system_clock;

OpResult refuse(int http_status, std::string message) {
  OpResult r;
  r.http_status = http_status;
  r.message = std::move(message);
  return r;
}

OpResult not_found() { return refuse(404, {}); }

OpResult done(std::string job_id, int http_status = 200) {
  OpResult r;
  r.http_status = http_status;
  r.job_id = std::move(job_id);
  return r;
}

bool one_of(HostStatus s, std::initializer_list<HostStatus> set) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

// Ids look like the engine's GUIDs but are derived from a hash of what they
// name and a counter, so a scenario gives the same ids on every run and a
// failing test can be replayed.
std::string uuid_from(const std::string& seed) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(seed.data(), seed.size(), md, &len, EVP_sha256(), nullptr);
  md[6] = static_cast<unsigned char>((md[6] & 0x0f) | 0x40);  // version 4
  md[8] = static_cast<unsigned char>((md[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string hex;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) hex += '-';
    hex += fmt::format("{:02x}", md[i]);
  }
  return hex;
}

// The hosted-engine HA agent's score of a healthy host.
constexpr int kFullScore = 3400;

}  // namespace

World::World(WorldState state) { reset(std::move(state)); }

void World::reset(WorldState state) {
  Lock l(mutex_);
  s_ = std::move(state);
  events_.clear();
  jobs_.clear();
  transitions_.clear();
  machine_ids_.clear();
  he_stale_.clear();
  he_cleaned_.clear();
  started_ = steady_clock::now();
  next_event_id_ = 1;
  ticks_ = 0;
  id_counter_ = 0;
  clock_offset_ = std::chrono::milliseconds(0);
  for (auto& dc : s_.data_centers)
    if (dc.id.empty()) dc.id = new_id_locked("data_center", dc.name);
  for (auto& c : s_.clusters)
    if (c.id.empty()) c.id = new_id_locked("cluster", c.name);
  for (auto& h : s_.hosts) {
    if (h.id.empty()) h.id = new_id_locked("host", h.name);
    if (h.hardware_id.empty()) h.hardware_id = new_id_locked("hardware", h.address);
    machine_ids_[lower(h.address)] = h.hardware_id;
  }
  for (auto& v : s_.vms) {
    if (v.id.empty()) v.id = new_id_locked("vm", v.name);
    // A VM that is down runs nowhere: the engine clears run_on_vds.
    if (v.status == VmStatus::Down) v.host_id.clear();
    if (v.cluster_id.empty() && !v.host_id.empty())
      if (Host* h = find_host_locked(v.host_id)) v.cluster_id = h->cluster_id;
  }
}

// --- time ---

steady_clock::time_point World::now_locked() const { return steady_clock::now() + clock_offset_; }

steady_clock::time_point World::due_in_locked(double seconds) const {
  const double scaled = std::max(0.0, seconds * s_.time_scale);
  return now_locked() + std::chrono::duration_cast<steady_clock::duration>(std::chrono::duration<double>(scaled));
}

void World::tick() {
  Lock l(mutex_);
  ++ticks_;
  apply_due_locked();
}

void World::advance_clock(std::chrono::milliseconds d) {
  Lock l(mutex_);
  clock_offset_ += d;
}

void World::apply_due_locked() {
  const auto now = now_locked();
  std::vector<Transition> due;
  auto it = transitions_.begin();
  while (it != transitions_.end()) {
    // Due, and at least one request has seen the intermediate status.
    if (it->due <= now && ticks_ > it->created_tick + 1) {
      due.push_back(*it);
      it = transitions_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& t : due) complete_locked(t);
}

World::Transition& World::schedule_locked(TransitionKind kind, const std::string& entity_id, double seconds,
                                          const std::string& job_id, const OpContext& ctx) {
  Transition t;
  t.kind = kind;
  t.entity_id = entity_id;
  t.due = due_in_locked(seconds);
  t.created_tick = ticks_;
  t.job_id = job_id;
  t.ctx = ctx;
  transitions_.push_back(std::move(t));
  return transitions_.back();
}

void World::cancel_host_transition_locked(const std::string& host_id) {
  for (auto it = transitions_.begin(); it != transitions_.end();) {
    if (it->entity_id == host_id && it->kind != TransitionKind::VmUp) {
      finish_job_locked(it->job_id, false);
      it = transitions_.erase(it);
    } else {
      ++it;
    }
  }
  // Migrations away from this host are cancelled: the VMs keep running here.
  for (auto& v : s_.vms)
    if (v.host_id == host_id && v.status == VmStatus::Migrating) v.status = VmStatus::Up;
}

void World::cancel_vm_transition_locked(const std::string& vm_id) {
  for (auto it = transitions_.begin(); it != transitions_.end();) {
    if (it->entity_id == vm_id) {
      finish_job_locked(it->job_id, false);
      it = transitions_.erase(it);
    } else {
      ++it;
    }
  }
}

void World::complete_locked(const Transition& t) {
  switch (t.kind) {
    case TransitionKind::HostMaintenance:
      complete_maintenance_locked(t);
      return;
    case TransitionKind::HostUp: {
      Host* h = find_host_locked(t.entity_id);
      if (!h) return;
      h->status = HostStatus::Up;
      if (h->hosted_engine) {
        h->hosted_engine->active = true;
        h->hosted_engine->score = h->hosted_engine->local_maintenance ? 0 : kFullScore;
      }
      if (auto* dc = data_center_of_locked(*h)) elect_spm_locked(dc->id, {});
      event_locked(audit::kVdsDetected, audit::describe(audit::kVdsDetected, h->name, "Up"), h->id, {}, {});
      finish_job_locked(t.job_id, true);
      return;
    }
    case TransitionKind::HostInstalled: {
      Host* h = find_host_locked(t.entity_id);
      if (!h) return;
      const int he_host_id = !t.deploy_hosted_engine ? 0
                             : h->hosted_engine && h->hosted_engine->host_id ? h->hosted_engine->host_id
                                                                               : next_he_host_id_locked();
      if (std::string why = machines_ ? machines_->deploy(h->name, t.deploy_hosted_engine, he_host_id) : "";
          !why.empty()) {
        h->status = HostStatus::InstallFailed;
        h->status_detail.clear();
        event_locked(audit::kVdsInstallFailed, audit::describe(audit::kVdsInstallFailed, h->name, why), h->id, {},
                     t.ctx.correlation_id);
        finish_job_locked(t.job_id, false);
        return;
      }
      if (t.deploy_hosted_engine) {
        HostedEngine he = h->hosted_engine.value_or(HostedEngine{});
        he.host_id = he_host_id;
        he.active = true;
        he.local_maintenance = false;
        he.score = kFullScore;
        h->hosted_engine = he;
        // The host's agent now writes its metadata slot.
        he_stale_.erase(he.host_id);
        he_cleaned_.erase(he.host_id);
      }
      h->status = t.activate ? HostStatus::Up : HostStatus::Maintenance;
      event_locked(audit::kVdsInstall, audit::describe(audit::kVdsInstall, h->name), h->id, {}, t.ctx.correlation_id);
      if (t.activate) {
        if (auto* dc = data_center_of_locked(*h)) elect_spm_locked(dc->id, {});
        event_locked(audit::kVdsDetected, audit::describe(audit::kVdsDetected, h->name, "Up"), h->id, {}, {});
      }
      finish_job_locked(t.job_id, true);
      return;
    }
    case TransitionKind::VmUp: {
      Vm* v = find_vm_locked(t.entity_id);
      if (v && v->status == VmStatus::PoweringUp) {
        v->status = VmStatus::Up;
        const Host* h = find_host_locked(v->host_id);
        event_locked(audit::kUserRunVm, audit::describe(audit::kUserRunVm, v->name, h ? h->name : std::string()),
                     v->host_id, v->id, t.ctx.correlation_id);
      }
      finish_job_locked(t.job_id, true);
      return;
    }
    case TransitionKind::VmRebooted: {
      Vm* v = find_vm_locked(t.entity_id);
      if (v && v->status == VmStatus::RebootInProgress) v->status = VmStatus::Up;
      finish_job_locked(t.job_id, true);
      return;
    }
    case TransitionKind::VmDown: {
      Vm* v = find_vm_locked(t.entity_id);
      if (v && v->status == VmStatus::PoweringDown) {
        const std::string host_id = v->host_id;
        v->status = VmStatus::Down;
        v->host_id.clear();
        event_locked(audit::kVmDown, audit::describe(audit::kVmDown, v->name, "Exit message: User shut down from within the guest"),
                     host_id, v->id, t.ctx.correlation_id);
      }
      finish_job_locked(t.job_id, true);
      return;
    }
    case TransitionKind::VmSuspended: {
      Vm* v = find_vm_locked(t.entity_id);
      if (v && v->status == VmStatus::SavingState) {
        const std::string host_id = v->host_id;
        v->status = VmStatus::Suspended;
        v->host_id.clear();
        event_locked(audit::kUserSuspendVmFinishSuccess, audit::describe(audit::kUserSuspendVmFinishSuccess, v->name),
                     host_id, v->id, t.ctx.correlation_id);
      }
      finish_job_locked(t.job_id, true);
      return;
    }
  }
}

void World::complete_maintenance_locked(const Transition& t) {
  Host* h = find_host_locked(t.entity_id);
  if (!h) return;
  // Migrate every VM still here, one at a time so that the load spreads.
  std::vector<std::string> stuck;
  for (auto& v : s_.vms) {
    if (v.host_id != h->id) continue;
    auto targets = migration_targets_locked(*h, v.is_hosted_engine());
    if (targets.empty()) {
      v.status = VmStatus::Up;  // the migration failed: it keeps running here
      stuck.push_back(v.name);
      continue;
    }
    v.host_id = targets.front()->id;
    v.status = VmStatus::Up;
  }
  if (!stuck.empty()) {
    // The engine leaves the host in preparing_for_maintenance and says so.
    event_locked(audit::kVdsMaintenanceFailed, audit::describe(audit::kVdsMaintenanceFailed, h->name), h->id, {},
                 t.ctx.correlation_id);
    finish_job_locked(t.job_id, false);
    return;
  }
  h->status = HostStatus::Maintenance;
  // Maintenance of a hosted-engine host also puts its HA agent in local
  // maintenance, which scores 0.
  if (h->hosted_engine) {
    h->hosted_engine->local_maintenance = true;
    h->hosted_engine->score = 0;
  }
  event_locked(audit::kVdsMaintenance, audit::describe(audit::kVdsMaintenance, h->name), h->id, {},
               t.ctx.correlation_id);
  finish_job_locked(t.job_id, true);
}

// --- lookups ---

Host* World::find_host_locked(const std::string& id) {
  for (auto& h : s_.hosts)
    if (h.id == id) return &h;
  return nullptr;
}

Vm* World::find_vm_locked(const std::string& id) {
  for (auto& v : s_.vms)
    if (v.id == id) return &v;
  return nullptr;
}

Cluster* World::find_cluster_locked(const std::string& id) {
  for (auto& c : s_.clusters)
    if (c.id == id) return &c;
  return nullptr;
}

DataCenter* World::data_center_of_locked(const Host& h) {
  const Cluster* c = find_cluster_locked(h.cluster_id);
  if (!c) return nullptr;
  for (auto& dc : s_.data_centers)
    if (dc.id == c->data_center_id) return &dc;
  return nullptr;
}

int World::vm_count_locked(const std::string& host_id) const {
  return static_cast<int>(std::count_if(s_.vms.begin(), s_.vms.end(), [&](const Vm& v) { return v.host_id == host_id; }));
}

Host World::copy_host_locked(const Host& h) const {
  Host c = h;
  c.vm_count = vm_count_locked(h.id);
  return c;
}

std::vector<Host*> World::migration_targets_locked(const Host& from, bool engine_vm) {
  std::vector<Host*> out;
  for (auto& h : s_.hosts) {
    if (h.id == from.id || h.cluster_id != from.cluster_id || h.status != HostStatus::Up) continue;
    if (engine_vm && !(h.hosted_engine && h.hosted_engine->score > 0 && !h.hosted_engine->local_maintenance)) continue;
    out.push_back(&h);
  }
  std::sort(out.begin(), out.end(), [&](const Host* a, const Host* b) {
    const int va = vm_count_locked(a->id), vb = vm_count_locked(b->id);
    if (va != vb) return va < vb;
    return a->name < b->name;
  });
  return out;
}

void World::elect_spm_locked(const std::string& data_center_id, const std::string& exclude_host_id) {
  DataCenter* dc = nullptr;
  for (auto& d : s_.data_centers)
    if (d.id == data_center_id) dc = &d;
  if (!dc) return;
  Host* best = nullptr;
  for (auto& h : s_.hosts) {
    const Cluster* c = find_cluster_locked(h.cluster_id);
    if (!c || c->data_center_id != data_center_id) continue;
    if (h.spm == SpmStatus::Spm && h.id != exclude_host_id) return;  // it has one
    if (h.id == exclude_host_id || h.status != HostStatus::Up) continue;
    if (!best || h.spm_priority > best->spm_priority || (h.spm_priority == best->spm_priority && h.name < best->name))
      best = &h;
  }
  if (best) {
    best->spm = SpmStatus::Spm;
    dc->status = DataCenterStatus::Up;
    event_locked(audit::kIrsHostedOnVds, audit::describe(audit::kIrsHostedOnVds, best->name, best->address, dc->name),
                 best->id, {}, {});
  } else if (dc->status == DataCenterStatus::Up || dc->status == DataCenterStatus::Contend) {
    dc->status = DataCenterStatus::NotOperational;
  }
}

int World::next_he_host_id_locked() const {
  int id = 1;
  for (;;) {
    bool used = std::any_of(s_.hosts.begin(), s_.hosts.end(),
                            [&](const Host& h) { return h.hosted_engine && h.hosted_engine->host_id == id; });
    if (!used) return id;
    ++id;
  }
}

std::string World::new_id_locked(const std::string& kind, const std::string& name) {
  return uuid_from(fmt::format("{}/{}/{}", kind, name, ++id_counter_));
}

std::string World::new_job_locked(const std::string& description, const OpContext& ctx, bool finished) {
  Job j;
  j.id = new_id_locked("job", description);
  j.description = description;
  j.correlation_id = ctx.correlation_id;
  j.start_time = system_clock::now();
  if (finished) {
    j.status = "finished";
    j.end_time = j.start_time;
  }
  jobs_.push_back(j);
  return j.id;
}

void World::finish_job_locked(const std::string& job_id, bool ok) {
  for (auto& j : jobs_)
    if (j.id == job_id && j.status == "started") {
      j.status = ok ? "finished" : "failed";
      j.end_time = system_clock::now();
    }
}

void World::event_locked(const audit::AuditEvent& kind, const std::string& description, const std::string& host_id,
                         const std::string& vm_id, const std::string& correlation_id) {
  Event e;
  e.id = next_event_id_++;
  e.code = kind.code;
  e.severity = kind.severity;
  e.description = description;
  e.host_id = host_id;
  e.vm_id = vm_id;
  e.correlation_id = correlation_id;
  for (const auto& h : s_.hosts)
    if (h.id == host_id) e.host_name = h.name;
  e.time = system_clock::now();
  events_.push_back(std::move(e));
}

// --- reads ---

EngineInfo World::engine() const {
  Lock l(mutex_);
  return s_.engine;
}

bool World::global_maintenance() const {
  Lock l(mutex_);
  return s_.global_maintenance;
}

std::vector<DataCenter> World::data_centers() const {
  Lock l(mutex_);
  return s_.data_centers;
}

std::optional<DataCenter> World::data_center(const std::string& id) const {
  Lock l(mutex_);
  for (const auto& dc : s_.data_centers)
    if (dc.id == id) return dc;
  return std::nullopt;
}

std::vector<Cluster> World::clusters() const {
  Lock l(mutex_);
  return s_.clusters;
}

std::optional<Cluster> World::cluster(const std::string& id) const {
  Lock l(mutex_);
  for (const auto& c : s_.clusters)
    if (c.id == id) return c;
  return std::nullopt;
}

std::vector<StorageDomain> World::storage_domains() const {
  Lock l(mutex_);
  return s_.storage_domains;
}

std::optional<StorageDomain> World::storage_domain(const std::string& id) const {
  Lock l(mutex_);
  for (const auto& sd : s_.storage_domains)
    if (sd.id == id) return sd;
  return std::nullopt;
}

std::vector<Host> World::hosts() const {
  Lock l(mutex_);
  std::vector<Host> out;
  for (const auto& h : s_.hosts) out.push_back(copy_host_locked(h));
  return out;
}

std::optional<Host> World::host(const std::string& id) const {
  Lock l(mutex_);
  for (const auto& h : s_.hosts)
    if (h.id == id) return copy_host_locked(h);
  return std::nullopt;
}

std::optional<Host> World::host_by_name(const std::string& name) const {
  Lock l(mutex_);
  for (const auto& h : s_.hosts)
    if (h.name == name) return copy_host_locked(h);
  return std::nullopt;
}

std::vector<Vm> World::vms() const {
  Lock l(mutex_);
  return s_.vms;
}

std::optional<Vm> World::vm(const std::string& id) const {
  Lock l(mutex_);
  for (const auto& v : s_.vms)
    if (v.id == id) return v;
  return std::nullopt;
}

std::optional<Vm> World::vm_by_name(const std::string& name) const {
  Lock l(mutex_);
  for (const auto& v : s_.vms)
    if (v.name == name) return v;
  return std::nullopt;
}

std::vector<Event> World::events_after(std::int64_t from) const {
  Lock l(mutex_);
  std::vector<Event> out;
  for (auto it = events_.rbegin(); it != events_.rend(); ++it)
    if (it->id > from) out.push_back(*it);
  return out;
}

std::optional<Job> World::job(const std::string& id) const {
  Lock l(mutex_);
  for (const auto& j : jobs_)
    if (j.id == id) return j;
  return std::nullopt;
}

Durations World::durations() const {
  Lock l(mutex_);
  return s_.durations;
}

double World::time_scale() const {
  Lock l(mutex_);
  return s_.time_scale;
}

Faults World::faults() const {
  Lock l(mutex_);
  return s_.faults;
}

nlohmann::json World::to_json() const {
  using nlohmann::json;
  Lock l(mutex_);
  json j;
  j["engine"] = {{"fqdn", s_.engine.fqdn},
                 {"version", s_.engine.version},
                 {"health", !s_.engine.running ? "off" : s_.engine.health_up ? "up" : "down"},
                 {"admin_user", s_.engine.admin_user}};  // never the password
  j["global_maintenance"] = s_.global_maintenance;
  j["time_scale"] = s_.time_scale;
  j["ticks"] = ticks_;
  j["durations"] = {{"maintenance", s_.durations.maintenance},
                    {"activate", s_.durations.activate},
                    {"install", s_.durations.install},
                    {"start_vm", s_.durations.start_vm}};
  j["faults"] = {{"http_503", {{"count", s_.faults.http_503_count}, {"methods", s_.faults.http_503_methods}}},
                 {"slow_ms", s_.faults.slow_ms},
                 {"token_ttl_s", s_.faults.token_ttl_s},
                 {"restore_leaves_stale_host", s_.faults.restore_leaves_stale_host}};
  json dcs = json::array();
  for (const auto& dc : s_.data_centers) dcs.push_back({{"id", dc.id}, {"name", dc.name}, {"status", to_string(dc.status)}});
  j["data_centers"] = dcs;
  json clusters = json::array();
  for (const auto& c : s_.clusters)
    clusters.push_back({{"id", c.id}, {"name", c.name}, {"data_center_id", c.data_center_id}});
  j["clusters"] = clusters;
  json sds = json::array();
  for (const auto& sd : s_.storage_domains)
    sds.push_back({{"id", sd.id},
                   {"name", sd.name},
                   {"type", sd.type},
                   {"storage", sd.storage},
                   {"status", sd.status},
                   {"data_center_id", sd.data_center_id},
                   {"master", sd.master},
                   {"address", sd.address},
                   {"path", sd.path},
                   {"available_gib", sd.available_gib},
                   {"used_gib", sd.used_gib}});
  j["storage_domains"] = sds;
  auto host_name = [&](const std::string& id) -> std::string {
    for (const auto& h : s_.hosts)
      if (h.id == id) return h.name;
    return {};
  };
  json hosts = json::array();
  for (const auto& h : s_.hosts) {
    json jh = {{"id", h.id},
               {"name", h.name},
               {"address", h.address},
               {"hardware_id", h.hardware_id},
               {"cluster_id", h.cluster_id},
               {"status", to_string(h.status)},
               {"status_detail", h.status_detail},
               {"spm", {{"status", to_string(h.spm)}, {"priority", h.spm_priority}}},
               {"vm_count", vm_count_locked(h.id)}};
    if (h.hosted_engine)
      jh["hosted_engine"] = {{"configured", true},
                             {"active", h.hosted_engine->active},
                             {"score", h.hosted_engine->score},
                             {"global_maintenance", s_.global_maintenance},
                             {"local_maintenance", h.hosted_engine->local_maintenance},
                             {"host_id", h.hosted_engine->host_id}};
    else
      jh["hosted_engine"] = nullptr;
    hosts.push_back(jh);
  }
  j["hosts"] = hosts;
  json vms = json::array();
  for (const auto& v : s_.vms)
    vms.push_back({{"id", v.id},
                   {"name", v.name},
                   {"status", to_string(v.status)},
                   {"host_id", v.host_id},
                   {"host", host_name(v.host_id)},
                   {"cluster_id", v.cluster_id},
                   {"origin", v.origin}});
  j["vms"] = vms;
  json events = json::array();
  for (const auto& e : events_)
    events.push_back({{"id", e.id},
                      {"code", e.code},
                      {"severity", e.severity},
                      {"description", e.description},
                      {"host_id", e.host_id},
                      {"vm_id", e.vm_id},
                      {"correlation_id", e.correlation_id},
                      {"host", e.host_name},
                      {"time", iso_time(e.time)}});
  j["events"] = events;
  json jobs = json::array();
  for (const auto& jb : jobs_)
    jobs.push_back({{"id", jb.id},
                    {"description", jb.description},
                    {"status", jb.status},
                    {"correlation_id", jb.correlation_id}});
  j["jobs"] = jobs;
  json pending = json::array();
  const auto now = now_locked();
  for (const auto& t : transitions_) {
    static const char* kinds[] = {"host_maintenance", "host_up", "host_installed", "vm_up"};
    pending.push_back(
        {{"kind", kinds[static_cast<int>(t.kind)]},
         {"entity_id", t.entity_id},
         {"due_in_ms", std::max<long long>(
                           0, std::chrono::duration_cast<std::chrono::milliseconds>(t.due - now).count())}});
  }
  j["pending_transitions"] = pending;
  json stale = json::array();
  for (const auto& [id, slot] : he_stale_)
    stale.push_back({{"host_id", id}, {"hostname", slot.hostname}, {"stopped", slot.stopped}});
  j["he_metadata_stale"] = stale;
  return j;
}

// --- the engine's operations ---

OpResult World::remove_host(const std::string& id, bool force, const OpContext& ctx) {
  (void)force;  // only matters for Gluster bricks and clusters without an up server (code)
  Lock l(mutex_);
  Host* h = find_host_locked(id);
  if (!h) return not_found();
  // RemoveVdsCommand.statusLegalForRemove, then the VM count.
  if (!one_of(h->status, {HostStatus::NonResponsive, HostStatus::Maintenance, HostStatus::Down, HostStatus::Unassigned,
                          HostStatus::InstallFailed, HostStatus::PendingApproval, HostStatus::NonOperational,
                          HostStatus::InstallingOs}))
    return refuse(409, msg::kRemoveHostOperational);
  if (vm_count_locked(id) > 0) return refuse(409, msg::kRemoveHostHasVms);

  const std::string name = h->name;
  const bool was_spm = h->spm == SpmStatus::Spm;
  const DataCenter* dc = data_center_of_locked(*h);
  const std::string dc_id = dc ? dc->id : std::string();
  machine_ids_[lower(h->address)] = h->hardware_id;  // the machine may come back
  // Its hosted-engine metadata slot outlives the record (--clean-metadata).
  if (h->hosted_engine && h->hosted_engine->host_id > 0)
    he_stale_[h->hosted_engine->host_id] = {h->address, h->status == HostStatus::Down};
  cancel_host_transition_locked(id);
  event_locked(audit::kUserRemoveVds, audit::describe(audit::kUserRemoveVds, name, ctx.user), id, {}, ctx.correlation_id);
  s_.hosts.erase(std::remove_if(s_.hosts.begin(), s_.hosts.end(), [&](const Host& x) { return x.id == id; }),
                 s_.hosts.end());
  if (was_spm && !dc_id.empty()) elect_spm_locked(dc_id, {});
  return done(new_job_locked(fmt::format("Removing Host {}", name), ctx, true));
}

OpResult World::fence_manual(const std::string& id, const OpContext& ctx) {
  Lock l(mutex_);
  Host* h = find_host_locked(id);
  if (!h) return not_found();
  // FenceVdsManualyCommand.isLegalStatus: nine statuses, although the
  // message names three.
  if (!one_of(h->status, {HostStatus::Down, HostStatus::InstallFailed, HostStatus::Maintenance, HostStatus::NonOperational,
                          HostStatus::NonResponsive, HostStatus::Reboot, HostStatus::Installing, HostStatus::Connecting,
                          HostStatus::Kdumping}))
    return refuse(409, msg::kFenceStatus);
  DataCenter* dc = data_center_of_locked(*h);
  const bool was_spm = h->spm == SpmStatus::Spm;
  if (was_spm && dc && dc->status != DataCenterStatus::NotOperational && dc->status != DataCenterStatus::Problematic &&
      dc->status != DataCenterStatus::Maintenance)
    return refuse(409, msg::kFenceSpmDataCenterUp);

  // ClearNonResponsiveVdsVms: the host's VMs are down and run nowhere.
  for (auto& v : s_.vms)
    if (v.host_id == id) {
      v.status = VmStatus::Down;
      v.host_id.clear();
    }
  h->spm = SpmStatus::None;
  event_locked(audit::kVdsManualFenceStatus, audit::describe(audit::kVdsManualFenceStatus, h->name), id, {}, ctx.correlation_id);
  const std::string job = new_job_locked(fmt::format("Confirming Host {} has been rebooted", h->name), ctx, true);
  // The data center's status is recalculated: another up host takes the SPM role.
  if (was_spm && dc) elect_spm_locked(dc->id, id);
  return done(job);
}

OpResult World::deactivate_host(const std::string& id, const std::string& reason, const OpContext& ctx) {
  Lock l(mutex_);
  Host* h = find_host_locked(id);
  if (!h) return not_found();
  // MaintenanceNumberOfVdssCommand.validate, in its order.
  if (!one_of(h->status, {HostStatus::Maintenance, HostStatus::NonResponsive, HostStatus::Up, HostStatus::Error,
                          HostStatus::PreparingForMaintenance, HostStatus::Down, HostStatus::NonOperational,
                          HostStatus::InstallFailed}))
    return refuse(409, msg::kMaintenanceNotOperational);
  const int vm_count = vm_count_locked(id);
  const bool runs_engine_vm = std::any_of(s_.vms.begin(), s_.vms.end(),
                                          [&](const Vm& v) { return v.host_id == id && v.is_hosted_engine(); });
  if (runs_engine_vm && migration_targets_locked(*h, true).empty()) return refuse(409, msg::kMaintenanceNoHostForEngineVm);
  if (h->status == HostStatus::Maintenance) return refuse(409, msg::kMaintenanceAlready);
  if (h->spm == SpmStatus::Contending) return refuse(409, msg::kMaintenanceSpmContending);
  if (h->status == HostStatus::NonResponsive && vm_count > 0) return refuse(409, msg::kMaintenanceNonResponsiveWithVms);
  if (h->status == HostStatus::NonResponsive && h->spm != SpmStatus::None)
    return refuse(409, msg::kMaintenanceNonResponsiveSpm);
  if (vm_count > 0 && migration_targets_locked(*h, false).empty()) {
    const Cluster* c = find_cluster_locked(h->cluster_id);
    return refuse(409, fmt::format(msg::kMaintenanceNoOtherUpHost, h->name, c ? c->name : std::string()));
  }

  const std::string job = new_job_locked(fmt::format("Moving Host {} to Maintenance", h->name), ctx, false);
  if (reason.empty())
    event_locked(audit::kUserVdsMaintenanceWithoutReason, audit::describe(audit::kUserVdsMaintenanceWithoutReason, h->name, ctx.user), id, {},
                 ctx.correlation_id);
  else
    event_locked(audit::kUserVdsMaintenance, audit::describe(audit::kUserVdsMaintenance, h->name, ctx.user, reason),
                 id, {}, ctx.correlation_id);
  if (h->status == HostStatus::PreparingForMaintenance) {
    // Already on its way: the pending transition stands.
    finish_job_locked(job, true);
    return done(job);
  }
  h->status_detail = reason;
  // Non-responsive and down hosts skip preparing_for_maintenance (code).
  if (h->status != HostStatus::NonResponsive && h->status != HostStatus::Down)
    h->status = HostStatus::PreparingForMaintenance;
  for (auto& v : s_.vms)
    if (v.host_id == id && v.status == VmStatus::Up) v.status = VmStatus::Migrating;
  if (h->spm == SpmStatus::Spm) {
    h->spm = SpmStatus::None;
    if (auto* dc = data_center_of_locked(*h)) elect_spm_locked(dc->id, id);
  }
  schedule_locked(TransitionKind::HostMaintenance, id, s_.durations.maintenance, job, ctx);
  return done(job);
}

OpResult World::activate_host(const std::string& id, const OpContext& ctx) {
  Lock l(mutex_);
  Host* h = find_host_locked(id);
  if (!h) return not_found();
  if (h->status == HostStatus::Up) return refuse(409, msg::kActivateUp);
  if (h->status == HostStatus::NonResponsive) return refuse(409, msg::kActivateNonResponsive);
  cancel_host_transition_locked(id);
  // ActivateVdsCommand: Unassigned now, Up once the host is monitored; a
  // hosted-engine host leaves local maintenance.
  h->status = HostStatus::Unassigned;
  h->status_detail.clear();
  if (h->hosted_engine) h->hosted_engine->local_maintenance = false;
  event_locked(audit::kVdsActivate, audit::describe(audit::kVdsActivate, h->name, ctx.user), id, {},
               ctx.correlation_id);
  const std::string job = new_job_locked(fmt::format("Activating Host {}", h->name), ctx, false);
  schedule_locked(TransitionKind::HostUp, id, s_.durations.activate, job, ctx);
  return done(job);
}

OpResult World::install_host(const std::string& id, const InstallParams& p, const OpContext& ctx) {
  Lock l(mutex_);
  Host* h = find_host_locked(id);
  if (!h) return not_found();
  if (!one_of(h->status,
              {HostStatus::Maintenance, HostStatus::NonOperational, HostStatus::InstallFailed, HostStatus::InstallingOs}))
    return refuse(409, msg::kInstallStatus);
  cancel_host_transition_locked(id);
  h->status = HostStatus::Installing;
  h->status_detail.clear();
  if (p.undeploy_hosted_engine) h->hosted_engine.reset();
  event_locked(audit::kVdsInstallInProgress, audit::describe(audit::kVdsInstallInProgress, h->name, "Stage: Initializing"),
               id, {}, ctx.correlation_id);
  const std::string job = new_job_locked(fmt::format("Installing Host {}", h->name), ctx, false);
  auto& t = schedule_locked(TransitionKind::HostInstalled, id, s_.durations.install, job, ctx);
  t.activate = p.activate;
  t.deploy_hosted_engine = p.deploy_hosted_engine;
  return done(job);
}

OpResult World::add_host(const AddHostParams& p, const OpContext& ctx) {
  Lock l(mutex_);
  const Cluster* cluster = nullptr;
  if (!p.cluster_id.empty()) {
    cluster = find_cluster_locked(p.cluster_id);
    if (!cluster) return refuse(400, fmt::format("Entity not found: Cluster: id={}", p.cluster_id));
  } else if (!p.cluster_name.empty()) {
    for (const auto& c : s_.clusters)
      if (c.name == p.cluster_name) cluster = &c;
    if (!cluster) return refuse(400, fmt::format("Entity not found: Cluster: name={}", p.cluster_name));
  } else {
    for (const auto& c : s_.clusters)
      if (c.name == "Default") cluster = &c;
    if (!cluster && !s_.clusters.empty()) cluster = &s_.clusters.front();
    if (!cluster) return refuse(400, "Entity not found: Cluster: name=Default");
  }
  for (const auto& h : s_.hosts)
    if (h.name == p.name) return refuse(409, msg::kAddSameName);
  for (const auto& h : s_.hosts)
    if (lower(h.address) == lower(p.address)) return refuse(409, msg::kAddSameAddress);
  std::string hardware_id = p.hardware_id;
  if (hardware_id.empty()) {
    auto known = machine_ids_.find(lower(p.address));
    hardware_id = known != machine_ids_.end() ? known->second : new_id_locked("hardware", p.address);
  }
  for (const auto& h : s_.hosts)
    if (h.hardware_id == hardware_id) return refuse(409, msg::kAddSameUuid);

  Host h;
  h.id = new_id_locked("host", p.name);
  h.name = p.name;
  h.address = p.address;
  h.hardware_id = hardware_id;
  h.cluster_id = cluster->id;
  h.status = HostStatus::Installing;
  const std::string cluster_name = cluster->name;
  s_.hosts.push_back(h);
  machine_ids_[lower(p.address)] = hardware_id;
  event_locked(audit::kUserAddVds, audit::describe(audit::kUserAddVds, p.name, ctx.user), h.id, {}, ctx.correlation_id);
  event_locked(audit::kVdsInstallInProgress, audit::describe(audit::kVdsInstallInProgress, p.name, "Stage: Initializing"),
               h.id, {}, ctx.correlation_id);
  const std::string job =
      new_job_locked(fmt::format("Adding new Host {} to Cluster {}", p.name, cluster_name), ctx, false);
  auto& t = schedule_locked(TransitionKind::HostInstalled, h.id, s_.durations.install, job, ctx);
  t.activate = p.activate;
  t.deploy_hosted_engine = p.deploy_hosted_engine;
  OpResult r = done(job, 201);
  r.entity_id = h.id;
  return r;
}

OpResult World::start_vm(const std::string& id, const OpContext& ctx) {
  Lock l(mutex_);
  Vm* v = find_vm_locked(id);
  if (!v) return not_found();
  // Anything but down or suspended counts as running, including unknown on a
  // dead host: its VMs start only after a manual fence clears them.
  if (v->status != VmStatus::Down && v->status != VmStatus::Suspended) return refuse(409, msg::kRunVmRunning);
  Host* target = nullptr;
  for (auto& h : s_.hosts) {
    if (h.status != HostStatus::Up || (!v->cluster_id.empty() && h.cluster_id != v->cluster_id)) continue;
    if (v->is_hosted_engine() &&
        !(h.hosted_engine && h.hosted_engine->score > 0 && !h.hosted_engine->local_maintenance))
      continue;
    if (!target || vm_count_locked(h.id) < vm_count_locked(target->id)) target = &h;
  }
  if (!target) return refuse(409, msg::kRunVmNoHost);
  v->host_id = target->id;
  if (v->cluster_id.empty()) v->cluster_id = target->cluster_id;
  v->status = VmStatus::PoweringUp;
  event_locked(audit::kUserStartedVm, audit::describe(audit::kUserStartedVm, v->name, ctx.user, target->name),
               target->id, v->id, ctx.correlation_id);
  const std::string job = new_job_locked(fmt::format("Launching VM {}", v->name), ctx, false);
  schedule_locked(TransitionKind::VmUp, id, s_.durations.start_vm, job, ctx);
  return done(job);
}

namespace {

// VAR__VM_STATUS__*: how the engine names a status in its messages.
std::string vm_status_words(VmStatus s) {
  std::string words;
  for (char c : std::string(engine_name(s))) {
    if (std::isupper(static_cast<unsigned char>(c)) && !words.empty()) words += ' ';
    words += c;
  }
  return words == "Reboot In Progress" ? "Reboot in Progress" : words;
}

}  // namespace

OpResult World::stop_vm(const std::string& id, const OpContext& ctx) {
  Lock l(mutex_);
  Vm* v = find_vm_locked(id);
  if (!v) return not_found();
  if (v->status == VmStatus::Down) return refuse(409, msg::kStopVmNotRunning);
  cancel_vm_transition_locked(id);
  const Host* h = find_host_locked(v->host_id);
  event_locked(audit::kUserStopVm, audit::describe(audit::kUserStopVm, v->name, ctx.user, h ? h->name : std::string()),
               v->host_id, v->id, ctx.correlation_id);
  v->status = VmStatus::Down;
  v->host_id.clear();
  return done(new_job_locked(fmt::format("Stopping VM {}", v->name), ctx, true));
}

OpResult World::shutdown_vm(const std::string& id, const OpContext& ctx) {
  Lock l(mutex_);
  Vm* v = find_vm_locked(id);
  if (!v) return not_found();
  if (v->status == VmStatus::Down) return refuse(409, msg::kShutdownVmNotRunning);
  const Host* h = find_host_locked(v->host_id);
  const std::string host_name = h ? h->name : std::string();
  if (v->status != VmStatus::Up) {
    cancel_vm_transition_locked(id);
    event_locked(audit::kUserStopVm, audit::describe(audit::kUserStopVm, v->name, ctx.user, host_name), v->host_id,
                 v->id, ctx.correlation_id);
    v->status = VmStatus::Down;
    v->host_id.clear();
    return done(new_job_locked(fmt::format("Stopping VM {}", v->name), ctx, true));
  }
  event_locked(audit::kUserInitiatedShutdownVm,
               audit::describe(audit::kUserInitiatedShutdownVm, ctx.user, v->name, host_name), v->host_id, v->id,
               ctx.correlation_id);
  v->status = VmStatus::PoweringDown;
  const std::string job = new_job_locked(fmt::format("Shutting down VM {}", v->name), ctx, false);
  schedule_locked(TransitionKind::VmDown, id, s_.durations.start_vm, job, ctx);
  return done(job);
}

OpResult World::suspend_vm(const std::string& id, const OpContext& ctx) {
  Lock l(mutex_);
  Vm* v = find_vm_locked(id);
  if (!v) return not_found();
  if (v->status == VmStatus::WaitForLaunch || v->status == VmStatus::NotResponding)
    return refuse(409, fmt::format("Cannot hibernate VM because the VM is in {} status.", vm_status_words(v->status)));
  if (v->status != VmStatus::Up) return refuse(409, msg::kSuspendVmNotUp);
  const Host* h = find_host_locked(v->host_id);
  event_locked(audit::kUserSuspendVm, audit::describe(audit::kUserSuspendVm, v->name, ctx.user, h ? h->name : std::string()),
               v->host_id, v->id, ctx.correlation_id);
  v->status = VmStatus::SavingState;
  const std::string job = new_job_locked(fmt::format("Suspending VM {}", v->name), ctx, false);
  schedule_locked(TransitionKind::VmSuspended, id, s_.durations.start_vm, job, ctx);
  return done(job);
}

OpResult World::reboot_vm(const std::string& id, const OpContext& ctx) {
  Lock l(mutex_);
  Vm* v = find_vm_locked(id);
  if (!v) return not_found();
  if (v->status != VmStatus::Up && v->status != VmStatus::PoweringUp)
    return refuse(409, fmt::format(msg::kRebootVmStatus, vm_status_words(v->status)));
  cancel_vm_transition_locked(id);
  event_locked(audit::kUserRebootVm, audit::describe(audit::kUserRebootVm, v->name, ctx.user), v->host_id, v->id,
               ctx.correlation_id);
  v->status = VmStatus::RebootInProgress;
  const std::string job = new_job_locked(fmt::format("Rebooting VM {}", v->name), ctx, false);
  schedule_locked(TransitionKind::VmRebooted, id, s_.durations.start_vm, job, ctx);
  return done(job);
}

void World::log_login(const std::string& user, const std::string& source, const std::string& session,
                      const std::string& correlation_id) {
  Lock l(mutex_);
  event_locked(audit::kUserVdcLogin, audit::describe(audit::kUserVdcLogin, user, source, session), {}, {},
               correlation_id);
}

OpResult World::set_global_maintenance(const std::string& vm_id, bool enabled, const OpContext& ctx) {
  Lock l(mutex_);
  Vm* v = find_vm_locked(vm_id);
  if (!v) return not_found();
  if (!v->is_hosted_engine()) return refuse(409, msg::kLabNotHostedEngineVm);
  if (v->host_id.empty()) return refuse(409, msg::kLabEngineVmNotRunning);
  s_.global_maintenance = enabled;
  return done(new_job_locked(
      fmt::format("Setting Hosted Engine global maintenance {}", enabled ? "on" : "off"), ctx, true));
}

// --- lab controls ---

bool World::set_host_status(const std::string& id_or_name, HostStatus status, const std::string& detail) {
  Lock l(mutex_);
  Host* h = find_host_locked(id_or_name);
  if (!h)
    for (auto& x : s_.hosts)
      if (x.name == id_or_name) h = &x;
  if (!h) return false;
  cancel_host_transition_locked(h->id);
  h->status = status;
  h->status_detail = detail;
  if (status == HostStatus::NonResponsive) {
    for (auto& v : s_.vms)
      if (v.host_id == h->id) v.status = VmStatus::Unknown;
    if (h->hosted_engine) {
      h->hosted_engine->active = false;
      h->hosted_engine->score = 0;
    }
    event_locked(audit::kVdsFailure, audit::describe(audit::kVdsFailure, h->name), h->id, {}, {});
    if (h->spm == SpmStatus::Spm)
      if (auto* dc = data_center_of_locked(*h)) dc->status = DataCenterStatus::Problematic;
  } else if (status == HostStatus::Up) {
    for (auto& v : s_.vms)
      if (v.host_id == h->id && v.status == VmStatus::Unknown) v.status = VmStatus::Up;
    if (h->hosted_engine) {
      h->hosted_engine->active = true;
      h->hosted_engine->score = h->hosted_engine->local_maintenance ? 0 : kFullScore;
    }
    if (auto* dc = data_center_of_locked(*h)) {
      if (h->spm == SpmStatus::Spm) dc->status = DataCenterStatus::Up;
      elect_spm_locked(dc->id, {});
    }
  }
  return true;
}

void World::set_engine_health(bool up) {
  Lock l(mutex_);
  s_.engine.health_up = up;
}

void World::set_host_machines(const HostMachines* machines) {
  Lock l(mutex_);
  machines_ = machines;
}

void World::set_engine_running(bool running) {
  Lock l(mutex_);
  s_.engine.running = running;
}

void World::set_admin_password(const std::string& password) {
  Lock l(mutex_);
  s_.engine.admin_password = password;
}

void World::set_time_scale(double scale) {
  Lock l(mutex_);
  s_.time_scale = std::max(0.0, scale);
}

void World::set_durations(const Durations& d) {
  Lock l(mutex_);
  s_.durations = d;
}

void World::set_faults(const Faults& f) {
  Lock l(mutex_);
  s_.faults = f;
}

bool World::take_http_503(const std::string& method) {
  Lock l(mutex_);
  auto& f = s_.faults;
  if (f.http_503_count <= 0) return false;
  if (!f.http_503_methods.empty() &&
      std::find(f.http_503_methods.begin(), f.http_503_methods.end(), method) == f.http_503_methods.end())
    return false;
  --f.http_503_count;
  return true;
}

}  // namespace she::lab
