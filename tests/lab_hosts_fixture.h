// The lab engine plus lab hosts (real sshd on 127.0.0.x, the lab agent as
// their ForceCommand), in-process, for tests that go over real SSH.
#pragma once

#include "hosts/ssh_session.h"
#include "lab/host_fleet.h"
#include "tests/lab_fixture.h"

namespace she::test {

struct LabHosts {
  LabEngine engine;
  lab::HostFleet fleet;

  LabHosts() {
    std::vector<lab::FleetHostSpec> specs = {
        {"hosted_engine_1", "127.0.0.11", "hosted_engine", "host1.example.com", "4c4c4544-0031-3510-8033-b3c04f4e3132",
         1, "engine.example.com"},
        {"engine", "127.0.0.12", "engine", "engine.example.com", "", 0, ""},
        {"backup_storage", "127.0.0.13", "backup_storage", "backup.example.com", "", 0, ""}};
    fleet.start(engine.dir.path() / "fleet", specs, lab::HostFleet::default_agent_binary(),
                "https://127.0.0.1:" + std::to_string(engine.port), engine.pki.files.ca_file);
  }

  SshTarget target(const std::string& name) const {
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

  std::string agent_log(const std::string& name) const { return read_file(fleet.host(name).agent_log); }
};

}  // namespace she::test
