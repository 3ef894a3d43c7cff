// The lab's world model: one simulated oVirt engine's database (data
// centers, clusters, hosts, VMs, events, jobs) and the engine's rules for
// changing it, as the fact sheet lists them (reference: ovirt-engine-api.md
// sections 3 and 4). The REST server is a thin skin over this class; tests
// drive it directly too.
//
// Thread-safe: one mutex guards everything, and every read returns a copy.
//
// Time. Status transitions that take time in the real engine (maintenance,
// activation, installation, VM start) take a scenario-defined duration
// multiplied by the time scale. They are applied lazily by tick(), which the
// server calls at the start of every engine request. A transition never
// completes before the second tick after the one that started it, so that a
// client polling once always sees the intermediate status
// (preparing_for_maintenance, installing, ...) even with time scale 0, where
// everything is due at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lab/statuses.h"

namespace she::lab {

namespace audit {
struct AuditEvent;
}

struct EngineInfo {
  std::string fqdn = "engine.lab.example";
  std::string version = "4.5.6";
  bool health_up = true;
  // False: the engine VM is off; nothing answers at the FQDN (a connection
  // gets no reply), which the split-brain check must see as "down".
  bool running = true;
  std::string admin_user = "admin@internal";
  std::string admin_password;  // empty: no password is accepted
};

struct DataCenter {
  std::string id, name;
  DataCenterStatus status = DataCenterStatus::Up;
};

struct Cluster {
  std::string id, name, data_center_id;
};

/// A storage domain as the engine's StorageDomainMapper sends it. The
/// strings hold the API's lowercase enum values (checked by the scenario
/// loader). Status belongs to the data center attachment: the engine shows
/// it only under /datacenters/ID/storagedomains (or "unattached" at top
/// level, for a domain in no data center).
struct StorageDomain {
  std::string id, name;
  std::string type = "data";        // data | iso | export
  std::string storage = "nfs";      // nfs | iscsi | fcp | glusterfs | posixfs | localfs
  std::string status = "active";    // active | maintenance | inactive | locked | unknown | unattached
  std::string data_center_id;       // empty: unattached
  bool master = false;
  std::string address, path;        // nfs/glusterfs/posixfs: the server and export
  std::int64_t available_gib = 500, used_gib = 100;
};

/// A host's hosted-engine block; present only when the host is configured
/// for hosted engine (the engine adds <hosted_engine> only then). Global
/// maintenance is one flag for the whole world, not per host.
struct HostedEngine {
  bool active = true;
  int score = 3400;
  bool local_maintenance = false;
  int host_id = 0;  // the hosted-engine host id (hosted-engine.conf host_id)
};

struct Host {
  std::string id, name, address, hardware_id, cluster_id;
  HostStatus status = HostStatus::Up;
  std::string status_detail;  // the maintenance reason or non-operational reason
  SpmStatus spm = SpmStatus::None;
  int spm_priority = 5;
  std::optional<HostedEngine> hosted_engine;
  int vm_count = 0;  // derived: VMs whose host is this one; filled in every copy
};

struct Vm {
  std::string id, name;
  VmStatus status = VmStatus::Down;
  std::string host_id;  // set while the VM runs (or is unknown on a dead host)
  std::string cluster_id;
  std::string origin = "ovirt";  // managed_hosted_engine for the engine VM

  bool is_hosted_engine() const { return origin == "managed_hosted_engine"; }
};

struct Event {
  std::int64_t id = 0;
  int code = 0;
  std::string severity = "normal";  // normal | warning | error | alert
  std::string description;
  std::string host_id, vm_id, correlation_id;
  std::string host_name;  // kept: a removed host's events still name it (search event_host=)
  std::chrono::system_clock::time_point time;
};

struct Job {
  std::string id, description;
  std::string status = "started";  // started | finished | failed
  std::string correlation_id;
  std::chrono::system_clock::time_point start_time;
  std::optional<std::chrono::system_clock::time_point> end_time;
};

/// Seconds each transition takes before the time scale applies.
struct Durations {
  double maintenance = 10;  // preparing_for_maintenance -> maintenance (VM migrations)
  double activate = 5;      // unassigned -> up
  double install = 30;      // installing -> up | maintenance
  double start_vm = 5;      // powering_up -> up; also powering_down -> down, saving_state -> suspended,
                            // reboot_in_progress -> up
};

struct Faults {
  int http_503_count = 0;                     // the next N matching requests get 503
  std::vector<std::string> http_503_methods;  // empty: every method
  int slow_ms = 0;                            // delay of every engine response
  int token_ttl_s = 0;                        // 0: SSO tokens do not expire
  // The hosted-engine role's restore keeps the deploying host's old record
  // (restore_backup.yml matching neither its name nor its hardware id: the
  // bug of ovirt-ansible-collection issue #693).
  bool restore_leaves_stale_host = false;
};

/// What a scenario says about the lab's simulated hosts (lab/host_fleet.h).
/// Not the engine's business: the World only carries it to she-lab serve.
struct LabHostsConfig {
  struct Extra {
    std::string name, role, hostname, hardware_id;
  };
  std::vector<Extra> extra;                   // machines the engine does not know (spares)
  std::map<std::string, std::string> faults;  // host name -> faults JSON (see lab/README.md)
  std::set<std::string> unreachable;          // hosts whose sshd is stopped at start
  // Every lab host's /etc/hosts (what `getent` answers there): name ->
  // address; an empty address removes a default entry.
  std::map<std::string, std::string> dns;
  // engine_machine: what the engine's own machine is (lab/host_fleet.h):
  // set up or only installed, where its real database is, whether it has
  // a PostgreSQL server installed (for provisioning or a local database).
  std::string engine_setup = "done";
  std::string engine_database;
  bool engine_postgresql = false;
  // DWH set up beside the engine: its database (ovirt_engine_history) on
  // the engine's database server, with rows of its own.
  bool engine_dwh = false;
};

/// `after_disaster:` of a scenario: staged by she-lab serve once its hosts
/// run (lab/staged_disaster.h), so that a restore can be rehearsed alone.
struct AfterDisaster {
  std::string failover;  // the failover host, in maintenance when the backup was taken
  std::string backup;    // the archive's name in backup storage
  // "legacy": the backup is a real pg_dump of the engine's database and the
  // engine VM is gone with the engine, its machine a fresh install until
  // `hosted-engine --deploy --noansible` creates it (staged_disaster.h).
  std::string deploy = "ansible";
};

/// The machines behind the engine's hosts, as the engine reaches them (the
/// lab's fleet implements it). Called with the world locked: an
/// implementation must not call back into the World.
class HostMachines {
 public:
  virtual ~HostMachines() = default;
  /// Whether the engine reaches the host (its vdsm would answer).
  virtual bool reachable(const std::string& host) const = 0;
  /// What installing the host does on the machine (the engine's host-deploy
  /// over SSH): "" when it worked, else why it failed (install_failed, event
  /// 505).
  virtual std::string deploy(const std::string& host, bool deploy_hosted_engine, int he_host_id) const = 0;
  /// The engine VM's machine powered on (true) or off, as the legacy deploy
  /// creates it, the guest shuts it down and the HA agent starts it again.
  virtual void power_engine_vm(bool /*on*/) const {}
};

/// Everything a scenario sets; the World's starting point.
struct WorldState {
  EngineInfo engine;
  bool global_maintenance = false;
  std::vector<DataCenter> data_centers;
  std::vector<Cluster> clusters;
  std::vector<StorageDomain> storage_domains;
  std::vector<Host> hosts;  // vm_count is ignored: it is derived
  std::vector<Vm> vms;
  Durations durations;
  double time_scale = 1.0;
  Faults faults;
  LabHostsConfig lab_hosts;
  std::optional<AfterDisaster> after_disaster;
};

/// A world read back from its JSON (World::to_json(), as an engine-backup
/// of the lab dumps it): the engine, data centers, clusters, storage
/// domains, hosts, VMs,
/// global maintenance, durations and time scale. Events, jobs, the password
/// and faults are not part of it. Throws std::runtime_error on a bad shape.
WorldState world_state_from_json(const nlohmann::json& j);

/// The machine that runs `hosted-engine --deploy --restore-from-file`.
struct DeployHost {
  std::string name, address, hardware_id;
};

/// Who asks and under which correlation id: stored on the events and jobs
/// an operation creates.
struct OpContext {
  std::string correlation_id;
  std::string user = "admin@internal";
};

/// The outcome of an engine operation. Refusals carry the engine's HTTP
/// code and text (without the [ ] the server adds); 404 means no such
/// entity (the server answers with an empty body).
struct OpResult {
  int http_status = 200;
  std::string message;
  std::string job_id;
  std::string entity_id;  // the host add created

  bool ok() const { return http_status >= 200 && http_status < 300; }
};

/// POST /hosts/{id}/install: every field comes from the request body.
struct InstallParams {
  bool activate = false;  // the engine's code defaults it to false (the model doc says true)
  bool reboot = true;
  bool deploy_hosted_engine = false;
  bool undeploy_hosted_engine = false;
  std::string auth_method;  // password | publickey
};

/// POST /hosts: name, address and cluster from the body; the flags are URL
/// parameters.
struct AddHostParams {
  std::string name, address;
  std::string cluster_id, cluster_name;  // neither: the "Default" cluster, else the first
  std::string hardware_id;               // empty: the machine's known id, else a new one
  bool deploy_hosted_engine = false;
  bool activate = true;
  bool reboot = true;
  std::string auth_method;
};

class World {
 public:
  explicit World(WorldState state = {});
  /// Replaces everything: the state, the events, the jobs, the clock offset.
  void reset(WorldState state);

  // --- time ---
  /// One engine request begins: applies the transitions that are due.
  void tick();
  /// Moves the lab's clock forward (tests of durations above zero).
  void advance_clock(std::chrono::milliseconds d);

  // --- reads (copies) ---
  EngineInfo engine() const;
  bool global_maintenance() const;
  std::vector<DataCenter> data_centers() const;
  std::optional<DataCenter> data_center(const std::string& id) const;
  std::vector<Cluster> clusters() const;
  std::optional<Cluster> cluster(const std::string& id) const;
  std::vector<StorageDomain> storage_domains() const;
  std::optional<StorageDomain> storage_domain(const std::string& id) const;
  std::vector<Host> hosts() const;
  std::optional<Host> host(const std::string& id) const;
  std::optional<Host> host_by_name(const std::string& name) const;
  std::vector<Vm> vms() const;
  std::optional<Vm> vm(const std::string& id) const;
  std::optional<Vm> vm_by_name(const std::string& name) const;
  /// Events with an id above `from`, newest first (the engine's default order).
  std::vector<Event> events_after(std::int64_t from) const;
  std::optional<Job> job(const std::string& id) const;
  Durations durations() const;
  double time_scale() const;
  Faults faults() const;
  /// The whole world, for GET /lab/world.
  nlohmann::json to_json() const;

  // --- the engine's operations ---
  OpResult remove_host(const std::string& id, bool force, const OpContext& ctx);
  OpResult fence_manual(const std::string& id, const OpContext& ctx);
  OpResult deactivate_host(const std::string& id, const std::string& reason, const OpContext& ctx);
  OpResult activate_host(const std::string& id, const OpContext& ctx);
  OpResult install_host(const std::string& id, const InstallParams& params, const OpContext& ctx);
  OpResult add_host(const AddHostParams& params, const OpContext& ctx);
  OpResult start_vm(const std::string& id, const OpContext& ctx);
  /// Power off: down at once (StopVmCommand).
  OpResult stop_vm(const std::string& id, const OpContext& ctx);
  /// Guest shutdown: powering_down, then down; a VM not up is powered off
  /// (ShutdownVmCommand falls back to stop).
  OpResult shutdown_vm(const std::string& id, const OpContext& ctx);
  /// Hibernate: saving_state, then suspended (it keeps no host).
  OpResult suspend_vm(const std::string& id, const OpContext& ctx);
  /// reboot_in_progress, then up on the same host.
  OpResult reboot_vm(const std::string& id, const OpContext& ctx);
  /// The first use of a session: USER_VDC_LOGIN (code 30).
  void log_login(const std::string& user, const std::string& source, const std::string& session,
                 const std::string& correlation_id);
  /// HE global maintenance, through the engine VM (POST /vms/{id}/maintenance).
  OpResult set_global_maintenance(const std::string& vm_id, bool enabled, const OpContext& ctx);

  // --- lab controls: what happens to the engine from outside ---
  /// A host crashes (non_responsive: its VMs become unknown, event 12) or
  /// comes back (up: its unknown VMs run again). False if unknown.
  bool set_host_status(const std::string& id_or_name, HostStatus status, const std::string& detail = {});
  void set_engine_health(bool up);
  void set_engine_running(bool running);
  /// The machines behind the hosts (the lab's fleet), or none: then every
  /// host is reachable and every install succeeds. Not owned; unset it
  /// before they go.
  void set_host_machines(const HostMachines* machines);
  void set_admin_password(const std::string& password);
  void set_time_scale(double scale);
  void set_durations(const Durations& d);
  void set_faults(const Faults& f);
  /// True (and counts one down) when the next request of `method` must get a 503.
  bool take_http_503(const std::string& method);

  // --- hosted engine, as the lab hosts' agent sees it (lab/agent/) ---
  /// `hosted-engine --vm-status --json`: an object keyed by hosted-engine
  /// host id as a string, plus "global_maintenance" (reference:
  /// ovirt-he-automation.md section 2). Every hosted-engine host of the
  /// engine, and the metadata slots left by removed ones until cleaned.
  nlohmann::ordered_json he_vm_status() const;
  /// `hosted-engine --set-maintenance --mode=MODE` run on host `host_name`
  /// (global | local | none). Refusals carry hosted-engine's text (409).
  OpResult he_set_maintenance(const std::string& host_name, const std::string& mode);
  /// `hosted-engine --clean-metadata --host-id=N [--force-cleanup]`: the
  /// agent's log line in `message`; `entity_id` is "cleaned" when it did.
  OpResult he_clean_metadata(int host_id, bool force);
  /// The world after `hosted-engine --deploy --restore-from-file` restored
  /// the backup's `db` (a World::to_json()) on `host`, before the host is
  /// added: the previous engine VM removed; the records matching the host's
  /// name or hardware id removed with their VMs down (restore_backup.yml),
  /// unless the faults keep them (restore_leaves_stale_host); the other
  /// hosted-engine hosts non_responsive with their VMs unknown; regular hosts
  /// up if their machines are reachable (else non_responsive); the SPM where
  /// the backup had it; the engine healthy. Lab settings
  /// (password, durations, time scale, faults) stay. `message` lists the
  /// removed records' names, comma-separated.
  OpResult he_restore(const nlohmann::json& db, const DeployHost& host);
  /// The deploy's "Add host": refused (409, the engine's text) while a
  /// record shares the host's name, address or hardware id; else the host
  /// is added up, hosted-engine configured (score 3400, the lowest free
  /// host id, in `entity_id`), running the new engine VM, and global
  /// maintenance is off.
  OpResult he_deploy_add_host(const DeployHost& host, const OpContext& ctx);
  /// engine-setup inside the engine VM of the legacy restore, on a database
  /// engine-backup restored: the world becomes the backup's `db` as the
  /// engine finds it after the disaster. Nothing is filtered (the failover
  /// host's record stays as backed up, in maintenance, and so does the old
  /// engine VM's); the other hosts as he_restore leaves them; the engine healthy.
  OpResult he_legacy_engine_setup(const nlohmann::json& db);
  /// The legacy deploy's add of the host (ovirt-hosted-engine-setup 2.2's
  /// add_host.py): refused as he_deploy_add_host; else the host is added,
  /// up, or non_operational while its data center's SPM does not respond
  /// (it cannot reach the storage pool). No engine VM moves.
  OpResult he_legacy_add_host(const DeployHost& host, const OpContext& ctx);
  /// The legacy engine VM's power: "created" (the deploy made and started
  /// it: its machine on, the engine not yet there), "off" (the guest shut
  /// down: nothing answers at the FQDN), or "on" on `host_name` (the HA agent
  /// started it: the engine VM up there, the engine healthy, the host
  /// hosted-engine configured; its hosted-engine id in `entity_id`).
  OpResult he_legacy_engine_vm(const std::string& power, const std::string& host_name);

 private:
  enum class TransitionKind { HostMaintenance, HostUp, HostInstalled, VmUp, VmDown, VmSuspended, VmRebooted };
  struct Transition {
    TransitionKind kind;
    std::string entity_id;
    std::chrono::steady_clock::time_point due;
    std::uint64_t created_tick = 0;
    std::string job_id;
    OpContext ctx;
    bool activate = false;              // HostInstalled: up (true) or maintenance
    bool deploy_hosted_engine = false;  // HostInstalled: configure hosted engine
  };

  using Lock = std::lock_guard<std::mutex>;
  /// he_restore and he_legacy_engine_setup: `deploy` null keeps every record
  /// (the legacy restore filters nothing) and the old engine VM's.
  OpResult restore_backup(const nlohmann::json& db, const DeployHost* deploy);

  std::chrono::steady_clock::time_point now_locked() const;
  std::chrono::steady_clock::time_point due_in_locked(double seconds) const;
  void apply_due_locked();
  void complete_locked(const Transition& t);
  void complete_maintenance_locked(const Transition& t);
  Transition& schedule_locked(TransitionKind kind, const std::string& entity_id, double seconds,
                              const std::string& job_id, const OpContext& ctx);
  /// Drops the host's pending transition; migrating VMs stay where they are.
  void cancel_host_transition_locked(const std::string& host_id);
  void cancel_vm_transition_locked(const std::string& vm_id);

  Host* find_host_locked(const std::string& id);
  Vm* find_vm_locked(const std::string& id);
  Cluster* find_cluster_locked(const std::string& id);
  /// The cluster a deploying host joins, or null with the engine's refusal
  /// (a host of that name, address or hardware id is there already).
  const Cluster* deploy_cluster_locked(const DeployHost& deploy, OpResult* refusal) const;
  /// The record a deploy's host gets in `cluster` (ids new, hardware id kept).
  Host deploy_host_record_locked(const DeployHost& deploy, const Cluster& cluster);
  /// The hosted-engine VM, created when there is none yet.
  Vm& engine_vm_locked();
  DataCenter* data_center_of_locked(const Host& h);
  int vm_count_locked(const std::string& host_id) const;
  Host copy_host_locked(const Host& h) const;
  /// Up hosts of the cluster that may receive a VM, least loaded first.
  std::vector<Host*> migration_targets_locked(const Host& from, bool engine_vm);
  /// Gives the data center an SPM if it has none: the up host with the
  /// highest priority. Without one, the data center is not operational.
  void elect_spm_locked(const std::string& data_center_id, const std::string& exclude_host_id);
  int next_he_host_id_locked() const;

  std::string new_id_locked(const std::string& kind, const std::string& name);
  std::string new_job_locked(const std::string& description, const OpContext& ctx, bool finished);
  void finish_job_locked(const std::string& job_id, bool ok);
  void event_locked(const audit::AuditEvent& kind, const std::string& description, const std::string& host_id,
                    const std::string& vm_id, const std::string& correlation_id);

  mutable std::mutex mutex_;
  WorldState s_;
  std::vector<Event> events_;
  std::vector<Job> jobs_;
  std::vector<Transition> transitions_;
  std::map<std::string, std::string> machine_ids_;  // address -> hardware id of machines the lab has seen
  // Hosted-engine metadata slots of hosts removed from the engine: they stay
  // in --vm-status until --clean-metadata or a host takes the id again.
  struct StaleSlot {
    std::string hostname;
    bool stopped = false;
  };
  std::map<int, StaleSlot> he_stale_;
  const HostMachines* machines_ = nullptr;
  std::set<int> he_cleaned_;  // slots cleaned while their host is not live
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::int64_t next_event_id_ = 1;
  std::uint64_t ticks_ = 0;
  std::uint64_t id_counter_ = 0;
  std::chrono::milliseconds clock_offset_{0};
};

}  // namespace she::lab
