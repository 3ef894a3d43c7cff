// The engine reached through an SSH tunnel from a lab host (a real sshd),
// as engine steps with `via` do during a deploy: the requests arrive, and
// TLS still checks the certificate against the URL's name, not the tunnel's.
#include <doctest/doctest.h>

#include "engine_api/client.h"
#include "hosts/ssh_tunnel.h"

#include <mutex>
#include <vector>
#include "tests/lab_hosts_fixture.h"

using namespace she;
using she::test::LabHosts;

TEST_CASE("ssh tunnel: the engine API answers through a host's sshd - TLS verified for the URL's name") {
  LabHosts lab;
  SshTunnel tunnel(lab.target("hosted_engine_1"), "127.0.0.1", lab.engine.port);
  engine_api::ClientConfig c = lab.engine.config();
  c.connect_to = "127.0.0.1:" + std::to_string(tunnel.port());
  {
    engine_api::EngineClient client(c);
    CHECK(!client.api_root({}).product.empty());
    CHECK(client.list_hosts({}).size() == 4);
    CHECK(client.health({}).find("DB Up!") != std::string::npos);
  }
  CHECK(tunnel.connections() >= 1);
  CHECK(lab.engine.count("GET", "/ovirt-engine/api/hosts") >= 1);
}

TEST_CASE("ssh tunnel: a certificate that does not name the URL's host is refused through the tunnel too") {
  LabHosts lab;
  SshTunnel tunnel(lab.target("hosted_engine_1"), "127.0.0.1", lab.engine.port);
  engine_api::ClientConfig c = lab.engine.config();
  // The lab certificate names engine.example.com, localhost and 127.0.0.1.
  c.api_url = "https://impostor.example.net:" + std::to_string(lab.engine.port) + "/ovirt-engine/api";
  c.connect_to = "127.0.0.1:" + std::to_string(tunnel.port());
  engine_api::EngineClient client(c);
  try {
    client.api_root({});
    FAIL("a certificate for another name was accepted");
  } catch (const engine_api::EngineError& e) {
    CHECK(e.kind() == engine_api::EngineError::Kind::Tls);
  }
}

TEST_CASE("ssh tunnel: a host that cannot be reached gives a transport error naming it") {
  LabHosts lab;
  SshTarget gone = lab.target("hosted_engine_1");
  gone.port = 1;  // nothing listens there
  std::vector<std::string> errors;
  std::mutex m;
  {
    SshTunnel tunnel(gone, "127.0.0.1", lab.engine.port, [&](const std::string& e) {
      std::lock_guard<std::mutex> l(m);
      errors.push_back(e);
    });
    engine_api::ClientConfig c = lab.engine.config();
    c.connect_to = "127.0.0.1:" + std::to_string(tunnel.port());
    c.read_attempts = 1;
    engine_api::EngineClient client(c);
    try {
      client.api_root({});
      FAIL("no error through a dead tunnel");
    } catch (const engine_api::EngineError& e) {
      CHECK(e.kind() == engine_api::EngineError::Kind::Transport);
    }
  }
  REQUIRE(!errors.empty());
  CHECK(errors.front().find("hosted_engine_1") != std::string::npos);
}

TEST_CASE("ssh tunnel: a host whose key does not match known_hosts carries nothing - the error shows both fingerprints") {
  LabHosts lab;
  // known_hosts that gives hosted_engine_1's address the key of another host.
  test::TempDir dir;
  const auto& he1 = lab.fleet.host("hosted_engine_1");
  const auto& other = lab.fleet.host("engine");
  test::write_file(dir.path() / "known_hosts",
                   "[" + he1.address + "]:" + std::to_string(he1.port) + " " + other.host_key_line + "\n");
  SshTarget via = lab.target("hosted_engine_1");
  via.known_hosts = (dir.path() / "known_hosts").string();
  std::vector<std::string> errors;
  std::mutex m;
  {
    SshTunnel tunnel(via, "127.0.0.1", lab.engine.port, [&](const std::string& e) {
      std::lock_guard<std::mutex> l(m);
      errors.push_back(e);
    });
    engine_api::ClientConfig c = lab.engine.config();
    c.connect_to = "127.0.0.1:" + std::to_string(tunnel.port());
    c.read_attempts = 1;
    engine_api::EngineClient client(c);
    CHECK_THROWS_AS(client.api_root({}), engine_api::EngineError);
  }
  CHECK(lab.engine.count("GET", "/ovirt-engine/api") == 0);  // nothing reached the engine
  REQUIRE(!errors.empty());
  CHECK(errors.front().find("does not match known_hosts") != std::string::npos);
  CHECK(errors.front().find(other.host_key_fingerprint) != std::string::npos);
}
