// The lab's simulated hosts: one real OpenSSH sshd per host, each on its own
// loopback address (127.0.0.N, N >= 2) and port, with its own ed25519 host
// key, whose ForceCommand is the lab agent (lab/agent/, she-lab-agent). The
// agent implements the commands the plans run inside the host's sandbox
// directory (the host's "/") and against the lab engine's world.
//
// Layout of the fleet directory:
//
//   DIR/client_key, client_key.pub   the one client key of the fleet (ed25519)
//   DIR/authorized_keys              its public key, for every host
//   DIR/known_hosts                  [ADDR]:PORT ssh-ed25519 KEY, one line a host
//   DIR/hosts/NAME/host_key          the host's key
//   DIR/hosts/NAME/sshd_config       absolute paths only
//   DIR/hosts/NAME/sshd.log          sshd -E
//   DIR/hosts/NAME/agent.log         one JSON line per command (the raw command line)
//   DIR/hosts/NAME/faults.json       the host's faults, re-read at each command
//   DIR/hosts/NAME/root/             the sandbox
//
// Works as root (then /run/sshd is made for privilege separation and the
// hosts accept root) and as an ordinary user (sshd then lets only that user
// in: log in as user()).
//
// Each sshd gets SIGTERM when the thread that started it ends (Linux's
// parent-death signal), so that a test killed before stop() leaves no sshd
// behind: start the fleet, and set_unreachable(false), from a thread that
// outlives it (the main thread).
//
// What each role installs in the sandbox:
//   engine          /usr/bin/engine-backup, /usr/bin/engine-setup,
//                   /var/lib/ovirt-engine/engine.up (the engine service runs),
//                   /var/lib/ovirt-engine-backup, /var/log/ovirt-engine-backup
//   engine_machine  the same tools, not set up (no engine.up), and PostgreSQL
//   database        PostgreSQL (lab/postgres_server.h), its cluster not initialised
//   hosted_engine, spare
//                   /usr/sbin/hosted-engine (ovirt-hosted-engine-setup),
//                   /etc/ovirt-hosted-engine, /var/log/ovirt-hosted-engine-setup
//   ovm_cli         no sandbox tools: its ForceCommand is she-lab-ovm-cli, the
//                   Oracle VM Manager CLI answering from the database of the
//                   fleet's ovm_manager host (listed before it; lab/ovm/)
//   anything else   only the file tools
// (every host has /root, /tmp and /var/log/she-restore)
// and every host gets /etc/hostname (FleetHostSpec::hostname), /etc/vdsm/vdsm.id
// when a hardware id is given, and /etc/ovirt-hosted-engine/hosted-engine.conf
// when a hosted-engine host id is given.
#pragma once

#include <filesystem>
#include <string>
#include <sys/types.h>
#include <vector>

#include "lab/world.h"

namespace she::lab {

/// In a host's sandbox: the machine is powered off (the legacy engine VM
/// before the deploy creates it and after the guest shuts it down). Its
/// agent answers every command as ssh answers for an unreachable machine.
inline constexpr const char* kPoweredOffMarker = "/run/she-lab/powered-off";

struct FleetHostSpec {
  std::string name;         // the host's name in the lab (and in the engine, for world hosts)
  std::string address;      // 127.0.0.N with N >= 2
  std::string role;         // engine | hosted_engine | spare | regular | backup_storage | ...
  std::string hostname;     // what `hostname` prints and the address the engine knows; default: name
  std::string hardware_id;  // written to /etc/vdsm/vdsm.id when given
  int he_host_id = 0;       // > 0: a hosted-engine.conf with this host_id and engine_fqdn
  std::string engine_fqdn;  // for hosted-engine.conf
  std::string etc_hosts;    // /etc/hosts: what `getent` answers on this host
  // A real PostgreSQL server installed on this host (lab/postgres_server.h),
  // its cluster not initialised unless an engine's database is seeded there.
  bool postgresql = false;
  // role engine: "done" (set up: the service runs) or "installed" (the
  // packages only: no engine.up, no database settings, nothing to back up).
  std::string engine_setup = "done";
  // role engine, set up: where its real database is ("local" or a lab
  // host's name with postgresql); empty: the lab world's JSON stands for it.
  std::string engine_database = {};
  std::string engine_db_rows_sql = {};  // the rows the seeded database holds
  std::string dwh_db_rows_sql = {};     // non-empty: DWH is set up, its database beside the engine's
};

struct FleetHost {
  FleetHostSpec spec;
  std::string name, address;
  int port = 0;
  std::filesystem::path dir;      // DIR/hosts/NAME
  std::filesystem::path sandbox;  // the host's "/"
  std::filesystem::path agent_log;
  std::filesystem::path faults_file;
  std::filesystem::path sshd_config, sshd_log, host_key;
  std::string host_key_line;         // "ssh-ed25519 AAAA..."
  std::string host_key_fingerprint;  // SHA256:base64 (as ssh-keygen -l prints it)
  pid_t sshd_pid = -1;               // -1 while stopped (unreachable)

  /// `path` (absolute, as on the host) inside the sandbox.
  std::filesystem::path in_sandbox(const std::string& path) const;
};

class HostFleet : public HostMachines {
 public:
  HostFleet() = default;
  ~HostFleet();  // stop()
  HostFleet(const HostFleet&) = delete;
  HostFleet& operator=(const HostFleet&) = delete;

  /// Makes the keys, sandboxes and configurations under `dir` (created if
  /// missing), starts one sshd per host and waits (5 s at most) until every
  /// port accepts connections. `lab_socket` (LabEngineServer::agent_socket)
  /// tells the agents where the lab engine is; empty when no engine runs
  /// (then the commands that need it fail).
  /// Throws std::runtime_error (after stopping what it started) on failure.
  void start(const std::filesystem::path& dir, const std::vector<FleetHostSpec>& hosts,
             const std::filesystem::path& agent_binary, const std::filesystem::path& lab_socket);
  /// Kills every sshd it started (SIGTERM, SIGKILL after 2 s), their session
  /// processes, and the background units (systemd-run) and screen sessions
  /// the agents started.
  /// Removes no file. Safe to call twice.
  void stop();

  const std::vector<FleetHost>& hosts() const { return hosts_; }
  /// Throws std::out_of_range for an unknown name.
  const FleetHost& host(const std::string& name) const;
  const std::filesystem::path& dir() const { return dir_; }
  const std::filesystem::path& client_key() const { return client_key_; }  // private key, no passphrase
  const std::filesystem::path& known_hosts() const { return known_hosts_; }
  /// The user the hosts let in: root when the fleet runs as root, else the
  /// user running it.
  const std::string& user() const { return user_; }

  /// Writes the host's faults file (JSON, see lab/README.md): the agent
  /// re-reads it at every command. "{}" clears every fault.
  void set_faults(const std::string& host, const std::string& json);
  /// Stops (true) or starts again on the same port (false) the host's sshd.
  /// Stopping also kills the host's open sessions.
  void set_unreachable(const std::string& host, bool unreachable);
  bool unreachable(const std::string& host) const;

  /// Reachable unless its sshd is stopped; hosts the fleet does not run are.
  bool reachable(const std::string& host) const override;
  /// The engine installing `host`: fails when its sshd is stopped, when its faults have a fail rule matching
  /// "host-deploy", or, deploying hosted engine, while the host still has
  /// the hosted-engine.conf of an earlier deployment (seed procedure: remove
  /// it before the reinstall). Then writes the new hosted-engine.conf with
  /// `he_host_id`. Hosts the fleet does not run are not checked.
  std::string deploy(const std::string& host, bool deploy_hosted_engine, int he_host_id) const override;
  /// The `engine` host's machine off (its agent answers every command as an
  /// unreachable machine, its PostgreSQL stopped) or on (PostgreSQL started
  /// when its cluster exists). Hosts without an `engine` host: nothing.
  void power_engine_vm(bool on) const override;

  /// she-lab-agent installed beside the running executable
  /// (../libexec/she-restore), else next to it, else the one this build made.
  static std::filesystem::path default_agent_binary();

 private:
  FleetHost& find(const std::string& name);
  void start_sshd(FleetHost& h);
  void stop_sshd(FleetHost& h);
  void write_known_hosts() const;
  void write_sshd_config(FleetHost& h) const;

  std::vector<FleetHost> hosts_;
  std::filesystem::path dir_, client_key_, known_hosts_, agent_;
  std::string user_;
  std::filesystem::path lab_socket_;

  void start_databases();
};

/// The hosts a scenario stands for: every host of the world (role
/// hosted_engine when it has a hosted-engine block, else regular; hostname
/// its engine address; its hardware id and hosted-engine host id), then
/// `engine` (the engine VM, hostname the engine FQDN) and `backup_storage`,
/// on 127.0.0.2, 127.0.0.3, ... in that order, then the scenario's extra
/// lab hosts (spares). `first_octet` is N of the first address.
std::vector<FleetHostSpec> scenario_fleet(const WorldState& world, int first_octet = 2);

}  // namespace she::lab
