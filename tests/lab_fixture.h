// A lab engine in-process on 127.0.0.1 (a port of its own, its own CA), for
// tests that talk to it over real HTTPS. Stopped when the fixture goes.
#pragma once

#include <memory>
#include <string>

#include "engine_api/client.h"
#include "lab/engine_server.h"
#include "lab/lab_pki.h"
#include "lab/scenario.h"
#include "lab/world.h"
#include "tests/test_support.h"

namespace she::test {

struct LabEngine {
  static constexpr const char* kPassword = "Lab-Password-7";

  TempDir dir;
  lab::World world;
  lab::LabPki pki;
  std::unique_ptr<lab::LabEngineServer> server;
  int port = 0;

  /// `use_pki`: the lab's CA and certificate made beforehand (else made
  /// here); `serve_files`: what the server presents and serves as its CA,
  /// instead of `pki.files` (an impostor's certificate, say).
  explicit LabEngine(const std::string& scenario = "examples/lab/three-hosts.yaml", double time_scale = 0,
                     const lab::LabPki* use_pki = nullptr, const lab::LabPkiFiles* serve_files = nullptr) {
    lab::WorldState st = lab::load_scenario(source_path(scenario));
    st.time_scale = time_scale;
    st.faults = {};
    world.reset(st);
    world.set_admin_password(kPassword);
    pki = use_pki ? *use_pki : lab::generate_lab_pki(dir.path(), st.engine.fqdn);
    server = std::make_unique<lab::LabEngineServer>(world, serve_files ? *serve_files : pki.files);
    port = server->start("127.0.0.1", 0);
  }

  std::string api_url() const { return "https://127.0.0.1:" + std::to_string(port) + "/ovirt-engine/api"; }

  engine_api::ClientConfig config() const {
    engine_api::ClientConfig c;
    c.api_url = api_url();
    c.password = kPassword;
    c.ca_file = pki.files.ca_file.string();
    c.poll_initial = std::chrono::milliseconds(5);
    c.poll_max = std::chrono::milliseconds(50);
    c.read_backoff = std::chrono::milliseconds(5);
    return c;
  }

  std::string host_id(const std::string& name) const { return world.host_by_name(name)->id; }

  /// Requests the lab saw with this method whose path starts with `prefix`.
  int count(const std::string& method, const std::string& prefix) {
    int n = 0;
    for (auto& r : server->request_log().all())
      if (r.method == method && r.path.rfind(prefix, 0) == 0) ++n;
    return n;
  }
};

}  // namespace she::test
