// The lab engine plus lab hosts (real sshd on 127.0.0.x, the lab agent as
// their ForceCommand), in-process, for tests that go over real SSH.
#pragma once

#include "hosts/ssh_session.h"
#include "lab/host_fleet.h"
#include "tests/lab_fixture.h"

namespace she::test {

/// How a test logs in to a lab host over real SSH: the fleet's client key,
/// its known_hosts (the host key checked), its user.
inline SshTarget fleet_target(const lab::HostFleet& fleet, const std::string& name) {
  const lab::FleetHost& h = fleet.host(name);
  SshTarget t;
  t.name = name;
  t.address = h.address;
  t.port = h.port;
  t.user = fleet.user();
  t.key_file = fleet.client_key().string();
  t.known_hosts = fleet.known_hosts().string();
  t.connect_timeout = std::chrono::milliseconds(5000);
  return t;
}

struct LabHosts {
  LabEngine engine;
  lab::HostFleet fleet;

  LabHosts() {
    std::vector<lab::FleetHostSpec> specs = {
        {"hosted_engine_1", "127.0.0.11", "hosted_engine", "host1.example.com", "4c4c4544-0031-3510-8033-b3c04f4e3132",
         1, "engine.example.com", ""},
        {"engine", "127.0.0.12", "engine", "engine.example.com", "", 0, "", ""},
        {"backup_storage", "127.0.0.13", "backup_storage", "backup.example.com", "", 0, "", ""}};
    fleet.start(engine.dir.path() / "fleet", specs, lab::HostFleet::default_agent_binary(),
                engine.server->agent_socket());
  }

  SshTarget target(const std::string& name) const { return fleet_target(fleet, name); }

  std::string agent_log(const std::string& name) const { return read_file(fleet.host(name).agent_log); }
};

}  // namespace she::test

namespace she::test {

/// An environment file for the lab engine and hosts: SSH settings of the
/// fleet, the engine password in a 0600 file.
inline std::filesystem::path lab_hosts_environment(LabHosts& lab) {
  auto& dir = lab.engine.dir.path();
  std::filesystem::path pw = dir / "engine-password";
  write_file(pw, std::string(LabEngine::kPassword) + "\n");
  std::filesystem::permissions(pw, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto host = [&](const std::string& name, const std::string& extra) {
    const lab::FleetHost& h = lab.fleet.host(name);
    return "  - {name: " + name + ", address: " + h.address + ", ssh: {port: " + std::to_string(h.port) + "}" + extra + "}\n";
  };
  auto entry = [&](const std::string& name) {
    const lab::FleetHost& h = lab.fleet.host(name);
    return "{address: " + h.address + ", ssh: {port: " + std::to_string(h.port) + "}";
  };
  std::filesystem::path env = dir / "lab-hosts-environment.yaml";
  write_file(env, "environment: lab\nmode: rehearsal\nengine:\n  fqdn: engine.example.com\n  api_url: " + lab.engine.api_url() +
                      "\n  password: file:" + pw.string() + "\n  ca_file: " + lab.engine.pki.files.ca_file.string() +
                      "\n  poll_interval: 10ms\n  vm: " + entry("engine") + "}\n" +
                      "ssh: {user: " + lab.fleet.user() + ", key: " + lab.fleet.client_key().string() +
                      ", known_hosts: " + lab.fleet.known_hosts().string() + "}\nhosts:\n" +
                      host("hosted_engine_1", ", roles: [hosted_engine, failover]") +
                      "backup_storage: " + entry("backup_storage") + ", path: /srv/backups}\n");
  return env;
}

}  // namespace she::test
