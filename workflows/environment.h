// The environment a plan runs against (Terraform's provider settings, kept
// apart from the procedure): the engine, its hosts, backup storage, and how
// to reach each over SSH. Secrets are references only.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/diagnostics.h"
#include "base/duration.h"
#include "workflows/expression.h"

namespace she {

/// Where each key of a mapping was written (the position of its value), so
/// a later check of what a setting names can point at the setting.
using WrittenAt = std::map<std::string, SourcePos>;

struct SshSettings {
  std::string address;  // per host: where to connect when it differs from the host's address
  std::string user;
  int port = 0;
  std::string key;             // private key file
  std::string key_passphrase;  // secret reference
  std::string known_hosts;     // file checked for host keys
  std::string password;        // secret reference; a last resort after keys and ssh-agent
  bool accept_new_host_key = false;
  WrittenAt written_at;  // a host's own settings override the defaults' positions
};

struct HostSpec {
  std::string name;
  std::string address;
  std::string hardware_id;  // vds_unique_id, when known: the third identity of a stale record
  std::vector<std::string> roles;
  SshSettings ssh;           // merged with the environment's ssh defaults
  SourcePos pos;
  WrittenAt written_at;

  bool has_role(const std::string& role) const;
};

struct EngineSpec {
  std::string fqdn;
  std::string api_url;        // default https://FQDN/ovirt-engine/api
  std::string user;           // default admin@internal
  std::string password;       // secret reference
  std::string ca_file;
  std::string ca_fingerprint; // "SHA256:..." pinned for fetching the CA
  bool trust_on_first_use = false;
  std::string datacenter;
  std::string cluster;
  Duration poll_interval = std::chrono::seconds(1);  // first wait between polls; it grows to 10s
  bool has_vm = false;        // the engine VM, reachable over SSH as target "engine"
  HostSpec vm;
  WrittenAt written_at;
};

struct BackupStorageSpec {
  bool configured = false;
  HostSpec host;              // SSH target "backup_storage"
  std::string path;
};

struct Environment {
  std::string name;
  std::string file;
  std::string base_dir;        // relative paths in the environment are taken from here
  std::string mode = "real";  // rehearsal (a lab) or real
  EngineSpec engine;
  SshSettings ssh_defaults;
  std::vector<HostSpec> hosts;
  BackupStorageSpec backup_storage;

  /// A path as written in the environment, made usable: ~/ is $HOME, a
  /// relative path is taken from the environment file's directory.
  std::string path(const std::string& written) const;
  const HostSpec* find_host(const std::string& name) const;
  /// An SSH target by name: a host, "engine" or "backup_storage".
  const HostSpec* find_target(const std::string& name) const;
  std::vector<std::string> target_names() const;
  /// What `${env...}` sees.
  Value to_value() const;
};

/// Roles a host may carry in an environment.
const std::vector<std::string>& known_host_roles();

}  // namespace she
