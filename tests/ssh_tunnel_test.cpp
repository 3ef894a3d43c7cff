// The engine reached through an SSH tunnel from a lab host (a real sshd),
// as engine steps with `via` do during a deploy: the requests arrive, and
// TLS still checks the certificate against the URL's name, not the tunnel's.
#include <doctest/doctest.h>

#include "engine_api/client.h"
#include "hosts/ssh_tunnel.h"

#include <mutex>
#include <thread>
#include <vector>
#include "tests/lab_hosts_fixture.h"

using namespace she;
using she::test::LabHosts;

TEST_CASE("ssh tunnel: the engine API answers through a host's sshd - TLS verified for the URL's name") {
  LabHosts lab;
  SshTunnel tunnel(lab.target("hosted_engine_1"), "127.0.0.1", lab.engine.port);
  engine_api::ClientConfig c = lab.engine.config();
  c.open_socket = [&tunnel](sockaddr_in* to) { return tunnel.open(to); };
  {
    engine_api::EngineClient client(c);
    CHECK(!client.api_root({}).product.empty());
    CHECK(client.list_hosts({}).size() == 4);
    CHECK(client.health({}).find("DB Up!") != std::string::npos);
  }
  CHECK(tunnel.connections() >= 1);
  CHECK(lab.engine.count("GET", "/ovirt-engine/api/hosts") >= 1);
}

namespace {
int logins(const std::filesystem::path& sshd_log) {
  std::string text = test::read_file(sshd_log);
  int n = 0;
  for (size_t at = 0; (at = text.find("Accepted publickey", at)) != std::string::npos; ++at) ++n;
  return n;
}
}  // namespace

TEST_CASE("ssh tunnel: connections one after another reuse one SSH session - sshd logs one login") {
  LabHosts lab;
  const auto& he1 = lab.fleet.host("hosted_engine_1");
  const int before = logins(he1.sshd_log);
  SshTunnel tunnel(lab.target("hosted_engine_1"), "127.0.0.1", lab.engine.port);
  engine_api::ClientConfig c = lab.engine.config();
  c.open_socket = [&tunnel](sockaddr_in* to) { return tunnel.open(to); };
  // A client of its own each time: a new TCP connection, carried by the
  // session the tunnel checked the host with.
  for (int i = 0; i < 3; ++i) {
    {
      engine_api::EngineClient client(c);
      CHECK(client.health({}).find("DB Up!") != std::string::npos);
    }
    // The connection's end reaches the tunnel's thread a moment later.
    for (int waited = 0; waited < 1000 && tunnel.idle_sessions() == 0; ++waited)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(tunnel.connections() >= 3);
  CHECK(logins(he1.sshd_log) - before == 1);
}

TEST_CASE("ssh tunnel: a session opened ahead carries the first connection - the tunnel logs in no more") {
  LabHosts lab;
  const auto& he1 = lab.fleet.host("hosted_engine_1");
  auto ahead = std::make_unique<SshSession>(lab.target("hosted_engine_1"));
  ahead->open();
  const int before = logins(he1.sshd_log);
  SshTunnel tunnel(lab.target("hosted_engine_1"), "127.0.0.1", lab.engine.port, {}, std::move(ahead));
  engine_api::ClientConfig c = lab.engine.config();
  c.open_socket = [&tunnel](sockaddr_in* to) { return tunnel.open(to); };
  {
    engine_api::EngineClient client(c);
    CHECK(client.health({}).find("DB Up!") != std::string::npos);
  }
  CHECK(tunnel.connections() == 1);
  CHECK(logins(he1.sshd_log) == before);
}

TEST_CASE("ssh tunnel: a certificate that does not name the URL's host is refused through the tunnel too") {
  LabHosts lab;
  SshTunnel tunnel(lab.target("hosted_engine_1"), "127.0.0.1", lab.engine.port);
  engine_api::ClientConfig c = lab.engine.config();
  // The lab certificate names engine.example.com, localhost and 127.0.0.1.
  c.api_url = "https://impostor.example.net:" + std::to_string(lab.engine.port) + "/ovirt-engine/api";
  c.open_socket = [&tunnel](sockaddr_in* to) { return tunnel.open(to); };
  engine_api::EngineClient client(c);
  try {
    client.api_root({});
    FAIL("a certificate for another name was accepted");
  } catch (const engine_api::EngineError& e) {
    CHECK(e.kind() == engine_api::EngineError::Kind::Tls);
  }
}

TEST_CASE("ssh tunnel: a host that cannot be reached is a transport error naming it - before anything listens") {
  LabHosts lab;
  SshTarget gone = lab.target("hosted_engine_1");
  gone.port = 1;  // nothing listens there
  try {
    SshTunnel tunnel(gone, "127.0.0.1", lab.engine.port);
    FAIL("a tunnel through a dead host was opened");
  } catch (const SshError& e) {
    CHECK(e.error_class() == "transport");
    CHECK(std::string(e.what()).find("hosted_engine_1") != std::string::npos);
  }
}

TEST_CASE("ssh tunnel: a host whose key does not match known_hosts is refused - the error shows both fingerprints") {
  LabHosts lab;
  // known_hosts that gives hosted_engine_1's address the key of another host.
  test::TempDir dir;
  const auto& he1 = lab.fleet.host("hosted_engine_1");
  const auto& other = lab.fleet.host("engine");
  test::write_file(dir.path() / "known_hosts",
                   "[" + he1.address + "]:" + std::to_string(he1.port) + " " + other.host_key_line + "\n");
  SshTarget via = lab.target("hosted_engine_1");
  via.known_hosts = (dir.path() / "known_hosts").string();
  try {
    SshTunnel tunnel(via, "127.0.0.1", lab.engine.port);
    FAIL("a tunnel through a host with the wrong key was opened");
  } catch (const SshError& e) {
    CHECK(e.kind() == SshError::Kind::HostKey);
    CHECK(std::string(e.what()).find("does not match known_hosts") != std::string::npos);
    CHECK(std::string(e.what()).find(other.host_key_fingerprint) != std::string::npos);
    CHECK(std::string(e.what()).find(he1.host_key_fingerprint) != std::string::npos);
  }
  CHECK(lab.engine.count("GET", "/ovirt-engine/api") == 0);  // nothing reached the engine
}
