// The engine REST client against the lab engine over real HTTPS: every
// operation, each refusal rule with the engine's own words (expected texts
// from ovirt-engine-api.md section 4), auth, retries and TLS trust.
#include <doctest/doctest.h>

#include <regex>

#include "tests/lab_fixture.h"

using namespace she;
using namespace she::engine_api;
using she::test::LabEngine;

namespace {
CallOptions call(const std::string& cid = "test") { return {cid, nullptr, nullptr}; }

/// The engine's refusal text; a call that succeeds fails the test.
template <class F>
std::string refusal(F f, EngineError::Kind expected = EngineError::Kind::Conflict) {
  try {
    f();
  } catch (const EngineError& e) {
    CHECK_MESSAGE(e.kind() == expected, e.what());
    return e.detail();
  }
  FAIL_CHECK("the call was not refused");
  return "<not refused>";
}
}  // namespace

TEST_CASE("engine client: API root - health - hosts with their hosted-engine block and SPM") {
  LabEngine lab;
  EngineClient c(lab.config());
  ApiInfo api = c.api_root(call());
  CHECK(api.product == "oVirt Engine");
  CHECK(api.full_version == "4.5.6");
  CHECK(c.health(call()) == "DB Up!Welcome to Health Status!");
  auto hosts = c.list_hosts(call());
  REQUIRE(hosts.size() == 4);
  int he = 0, spm = 0;
  for (auto& h : hosts) {
    he += h.hosted_engine && h.hosted_engine->configured && h.hosted_engine->score == 3400;
    spm += h.spm_status == "spm";
  }
  CHECK(he == 3);
  CHECK(spm == 1);
  auto h1 = c.find_host(call(), "hosted_engine_1");
  REQUIRE(h1);
  CHECK(h1->address == "host1.example.com");
  CHECK(h1->hardware_uuid == "4c4c4544-0031-3510-8033-b3c04f4e3132");
  CHECK(h1->vm_count == 2);
  CHECK(c.get_host(call(), h1->id).name == "hosted_engine_1");
  CHECK_FALSE(c.find_host(call(), "nosuch"));
  // An unknown id: 404 with an empty body (section 2).
  CHECK(refusal([&] { c.get_host(call(), "00000000-0000-0000-0000-000000000000"); }, EngineError::Kind::NotFound) == "");
}

TEST_CASE("engine client: maintenance waits through preparing_for_maintenance - VMs migrate - activate brings it up") {
  LabEngine lab;
  EngineClient c(lab.config());
  std::vector<std::string> seen;
  CallOptions o = call("she-test:maintenance");
  o.progress = [&](const std::string& line) { seen.push_back(line); };
  std::string id = lab.host_id("hosted_engine_1");
  c.deactivate(o, id, "she-restore test");
  Host h = c.wait_for_status(o, id, {"maintenance"}, {"error", "non_responsive"}, std::chrono::seconds(30));
  CHECK(h.status == "maintenance");
  CHECK(h.vm_count == 0);
  REQUIRE(!seen.empty());
  CHECK(seen.front().find("is preparing_for_maintenance, waiting for maintenance") != std::string::npos);
  c.activate(o, id);
  CHECK(c.wait_for_status(o, id, {"up"}, {"error"}, std::chrono::seconds(30)).status == "up");
  // The correlation id reached the engine's events.
  bool tagged = false;
  for (auto& e : c.events_since(call(), 0))
    tagged |= e.correlation_id == "she-test:maintenance";
  CHECK(tagged);
}

TEST_CASE("engine client: each refusal rule answers 409 with the engine's text") {
  LabEngine lab;
  EngineClient c(lab.config());
  std::string h1 = lab.host_id("hosted_engine_1"), h2 = lab.host_id("hosted_engine_2");
  std::string h3 = lab.host_id("hosted_engine_3"), h4 = lab.host_id("host_4");
  CHECK(refusal([&] { c.remove(call(), h1, true); }) ==
        "Cannot remove Host. Host is operational. Please switch Host to Maintenance mode first.");
  CHECK(refusal([&] { c.fence_manual(call(), h1); }) ==
        "Cannot confirm 'Host has been rebooted' Host. Valid Host statuses are \"Non operational\", \"Maintenance\" "
        "or \"Connecting\".");
  CHECK(refusal([&] { c.install(call(), h1, {}); }) == "Cannot install Host. Please move Host to Maintenance mode first.");
  AddHostOptions dup;
  dup.name = "hosted_engine_1";
  dup.address = "elsewhere.example.com";
  dup.cluster = "Default";
  CHECK(refusal([&] { c.add(call(), dup); }).rfind("Cannot add Host. The Host name is already in use", 0) == 0);
  dup.name = "new_host";
  dup.address = "host1.example.com";
  CHECK(refusal([&] { c.add(call(), dup); }) == "Cannot add Host. Host with the same address already exists.");

  // A dead host that still has VMs, and the dead SPM.
  lab.world.set_host_status("hosted_engine_3", lab::HostStatus::NonResponsive);
  CHECK(refusal([&] { c.deactivate(call(), h3, ""); }) ==
        "Cannot switch Host to Maintenance mode. Host still has running VMs on it and is in Non Responsive state.");
  CHECK(refusal([&] { c.remove(call(), h3, true); }) == "Cannot remove Host. One or more VMs are still running on this Host.");
  lab.world.set_host_status("host_4", lab::HostStatus::NonResponsive);
  // host_4 is the SPM and still runs a VM: either refusal names its state.
  CHECK(refusal([&] { c.deactivate(call(), h4, ""); }).find("and is in Non Responsive state.") != std::string::npos);

  // Already in maintenance.
  c.deactivate(call(), h1, "");
  c.wait_for_status(call(), h1, {"maintenance"}, {}, std::chrono::seconds(30));
  CHECK(refusal([&] { c.deactivate(call(), h1, ""); }) ==
        "Cannot switch Host to Maintenance mode. Host is already in Maintenance mode.");
}

TEST_CASE("engine client: the engine VM's host is the last HE-capable host - its maintenance is refused") {
  LabEngine lab;
  EngineClient c(lab.config());
  lab.world.set_host_status("hosted_engine_1", lab::HostStatus::NonResponsive);
  lab.world.set_host_status("hosted_engine_3", lab::HostStatus::NonResponsive);
  std::string why = refusal([&] { c.deactivate(call(), lab.host_id("hosted_engine_2"), ""); });
  CHECK(why.find("None of the hosts capable of running the engine VM has score more than 0 and is in Up state.") !=
        std::string::npos);
}

TEST_CASE("engine client: manual fence clears a dead host's VMs and SPM - then a forced remove answers 200") {
  LabEngine lab;
  EngineClient c(lab.config());
  std::string h3 = lab.host_id("hosted_engine_3");
  lab.world.set_host_status("hosted_engine_3", lab::HostStatus::NonResponsive);
  c.fence_manual(call(), h3);
  Host h = c.get_host(call(), h3);
  CHECK(h.vm_count == 0);
  int fenced_vms = 0;
  for (auto& vm : c.list_vms(call()))
    if (vm.name == "app01" || vm.name == "app02") {
      CHECK(vm.status == "down");
      ++fenced_vms;
    }
  CHECK(fenced_vms == 2);
  c.remove(call(), h3, true);
  CHECK(lab.count("DELETE", "/ovirt-engine/api/hosts/" + h3 + "?force=true") == 1);
  c.wait_for_removal(call(), h3, std::chrono::seconds(10));
  CHECK_FALSE(c.find_host(call(), "hosted_engine_3"));
}

TEST_CASE("engine client: reinstall with deploy_hosted_engine - add a host - install's activate defaults to false") {
  LabEngine lab;
  EngineClient c(lab.config());
  std::string h1 = lab.host_id("hosted_engine_1");
  c.deactivate(call(), h1, "");
  c.wait_for_status(call(), h1, {"maintenance"}, {}, std::chrono::seconds(30));
  InstallOptions o;
  o.deploy_hosted_engine = true;
  c.install(call(), h1, o);
  Host h = c.wait_for_status(call(), h1, {"up"}, {"install_failed", "non_operational"}, std::chrono::seconds(30));
  REQUIRE(h.hosted_engine);
  CHECK(h.hosted_engine->score == 3400);

  // Without <activate>, the engine's code leaves the host in maintenance.
  c.deactivate(call(), h1, "");
  c.wait_for_status(call(), h1, {"maintenance"}, {}, std::chrono::seconds(30));
  Request raw = install_host(h1, o);
  raw.body = "<action><ssh><authentication_method>publickey</authentication_method></ssh></action>";
  c.send(call(), raw);
  CHECK(c.wait_for_status(call(), h1, {"maintenance", "up"}, {}, std::chrono::seconds(30)).status == "maintenance");

  AddHostOptions add;
  add.name = "hosted_engine_4";
  add.address = "host5.example.com";
  add.cluster = "Default";
  add.deploy_hosted_engine = true;
  Host added = c.add(call(), add);
  CHECK(added.status == "installing");
  Host up = c.wait_for_status(call(), added.id, {"up"}, {"install_failed"}, std::chrono::seconds(30));
  CHECK((up.hosted_engine && up.hosted_engine->configured));
  CHECK(lab.count("POST", "/ovirt-engine/api/hosts?deploy_hosted_engine=true&activate=true&reboot=false") == 1);
}

TEST_CASE("engine client: VMs - the hosted-engine VM by origin - start - global maintenance - data centers - jobs") {
  LabEngine lab;
  EngineClient c(lab.config());
  auto he = c.hosted_engine_vm(call());
  REQUIRE(he);
  CHECK(he->name == "HostedEngine");
  CHECK(he->host_id == lab.host_id("hosted_engine_2"));
  auto vms = c.list_vms(call(), host_name_search("build01"));
  REQUIRE(vms.size() == 1);
  CHECK(vms[0].status == "down");
  c.start_vm(call(), vms[0].id);
  c.set_global_maintenance(call(), true);
  CHECK(lab.world.global_maintenance());
  auto dcs = c.list_datacenters(call());
  REQUIRE(dcs.size() == 1);
  CHECK(dcs[0].status == "up");
  // An action answers with its job, which can be read back.
  Response r = c.send(call(), deactivate_host(lab.host_id("hosted_engine_1"), "test"));
  std::smatch m;
  REQUIRE(std::regex_search(r.body, m, std::regex("<job href=\"[^\"]*\" id=\"([^\"]+)\"")));
  std::string status = c.job_status(call(), m[1].str());
  CHECK((status == "started" || status == "finished"));
}

TEST_CASE("engine client: an expired token is replaced once - logout at the end - bad credentials reported without the password") {
  LabEngine lab;
  {
    EngineClient c(lab.config());
    c.list_hosts(call());
    CHECK(lab.count("POST", "/ovirt-engine/sso/oauth/token") == 1);
    lab.server->tokens().expire_all();
    CHECK(c.list_hosts(call()).size() == 4);
    CHECK(lab.count("POST", "/ovirt-engine/sso/oauth/token") == 2);
  }
  CHECK(lab.count("POST", "/ovirt-engine/services/sso-logout") == 1);

  ClientConfig bad = lab.config();
  bad.password = "Wrong-Secret-42";
  EngineClient b(bad);
  try {
    b.list_hosts(call());
    FAIL("logged in with a wrong password");
  } catch (const EngineError& e) {
    CHECK(e.kind() == EngineError::Kind::Auth);
    CHECK(std::string(e.what()).find("Cannot authenticate user 'admin@internal'") != std::string::npos);
    CHECK(std::string(e.what()).find("Wrong-Secret-42") == std::string::npos);
  }
  for (auto& r : lab.server->request_log().all()) CHECK(r.path.find("Wrong-Secret-42") == std::string::npos);
}

TEST_CASE("engine client: Basic auth works as a fallback - no credentials get the HTML 401") {
  LabEngine lab;
  ClientConfig cfg = lab.config();
  cfg.basic_auth = true;
  EngineClient c(cfg);
  CHECK(c.list_hosts(call()).size() == 4);
  CHECK(lab.count("POST", "/ovirt-engine/sso/oauth/token") == 0);
  cfg.password = "nope";
  EngineClient bad(cfg);
  CHECK_THROWS_AS(bad.list_hosts(call()), EngineError);
}

TEST_CASE("engine client: 503 bursts - reads are retried - actions are not") {
  LabEngine lab;
  EngineClient c(lab.config());
  c.list_hosts(call());  // logged in
  lab::Faults f;
  f.http_503_count = 2;
  f.http_503_methods = {"GET"};
  lab.world.set_faults(f);
  CHECK(c.list_hosts(call()).size() == 4);
  CHECK(lab.count("GET", "/ovirt-engine/api/hosts") == 4);  // 1 before, 2 refused, 1 answered

  f.http_503_count = 1;
  f.http_503_methods = {"POST"};
  lab.world.set_faults(f);
  std::string id = lab.host_id("hosted_engine_1");
  try {
    c.deactivate(call(), id, "");
    FAIL("a 503 on an action was hidden");
  } catch (const EngineError& e) {
    CHECK(e.kind() == EngineError::Kind::Server);
    CHECK(e.http_status() == 503);
  }
  CHECK(lab.count("POST", "/ovirt-engine/api/hosts/" + id + "/deactivate") == 1);
  CHECK(lab.world.host_by_name("hosted_engine_1")->status == lab::HostStatus::Up);
}

TEST_CASE("engine client: TLS - a pinned CA fingerprint is checked - a mismatch or a wrong CA is refused") {
  LabEngine lab;
  ClientConfig pinned = lab.config();
  pinned.ca_file.clear();
  pinned.ca_fingerprint = lab.pki.ca_fingerprint;
  EngineClient ok(pinned);
  CHECK(ok.list_hosts(call()).size() == 4);
  CHECK(same_fingerprint(ok.fetched_ca_fingerprint(), lab.pki.ca_fingerprint));

  pinned.ca_fingerprint = "SHA256:" + std::string(64, 'A');
  EngineClient mismatch(pinned);
  lab.server->request_log().clear();
  try {
    mismatch.list_hosts(call());
    FAIL("a CA with another fingerprint was accepted");
  } catch (const EngineError& e) {
    CHECK(e.kind() == EngineError::Kind::Tls);
    CHECK(std::string(e.what()).find("not the pinned") != std::string::npos);
  }
  CHECK(lab.count("POST", "/ovirt-engine/sso") == 0);  // no credentials sent to an untrusted engine

  test::TempDir other;
  auto stranger = lab::generate_lab_pki(other.path(), "engine.example.com");
  ClientConfig wrong = lab.config();
  wrong.ca_file = stranger.files.ca_file.string();
  EngineClient w(wrong);
  CHECK_THROWS_WITH_AS(w.list_hosts(call()), doctest::Contains("did not verify against the engine CA"), EngineError);

  ClientConfig tofu = lab.config();
  tofu.ca_file.clear();
  tofu.trust_on_first_use = true;
  EngineClient t(tofu);
  std::string said;
  CallOptions o = call();
  o.progress = [&](const std::string& s) { said += s; };
  CHECK(t.list_hosts(o).size() == 4);
  CHECK(said.find("trusting the engine CA on first use: " + lab.pki.ca_fingerprint) != std::string::npos);
}

TEST_CASE("engine client: a wait fails at once on a failure status and quotes the host's events") {
  LabEngine lab;
  EngineClient c(lab.config());
  std::string id = lab.host_id("hosted_engine_3");
  lab.world.set_host_status("hosted_engine_3", lab::HostStatus::NonOperational, "network_unreachable");
  try {
    c.wait_for_status(call(), id, {"up"}, {"non_operational"}, std::chrono::seconds(30));
    FAIL("the wait did not fail");
  } catch (const EngineError& e) {
    CHECK(std::string(e.what()).find("host hosted_engine_3 went non_operational (network_unreachable)") != std::string::npos);
  }
}
