// The lab engine's world model against the engine's rules (reference:
// ovirt-engine-api.md sections 3 and 4): every refusal with its exact text,
// the transitions and their timing, fence effects, add and install.
#include <doctest/doctest.h>

#include <algorithm>

#include "lab/scenario.h"
#include "lab/world.h"
#include "test_support.h"

using namespace she::lab;

namespace {

// The failover-host environment at time scale 0: everything is due at once.
const char* kScenario = R"(scenario: test
engine: {fqdn: engine.example.com, version: 4.5.6}
data_centers: [{name: Default, status: up}]
clusters: [{name: Default, data_center: Default}]
hosts:
  - {name: hosted_engine_1, address: host1.example.com, hardware_id: 4c4c4544-0031-3510-8033-b3c04f4e3132,
     hosted_engine: {host_id: 1, score: 3400}}
  - {name: hosted_engine_2, address: host2.example.com, hosted_engine: {host_id: 2, score: 3400}}
  - {name: hosted_engine_3, address: host3.example.com, hosted_engine: {host_id: 3, score: 3400}}
  - {name: host_4, address: host4.example.com, spm: true}
vms:
  - {name: HostedEngine, host: hosted_engine_2, hosted_engine_vm: true}
  - {name: db01, host: hosted_engine_1}
  - {name: web01, host: hosted_engine_1}
  - {name: app01, host: hosted_engine_3}
  - {name: mail01, host: host_4}
  - {name: build01, status: down}
durations: {maintenance: 10, activate: 5, install: 30, start_vm: 5}
time_scale: 0
)";

WorldState scenario(const std::string& extra = "") { return parse_scenario(kScenario + extra, "test.yaml"); }

std::string id_of(const World& w, const std::string& name) {
  auto h = w.host_by_name(name);
  REQUIRE(h);
  return h->id;
}

HostStatus status_of(const World& w, const std::string& name) { return w.host_by_name(name)->status; }

std::string vm_host(const World& w, const std::string& vm) {
  auto v = w.vm_by_name(vm);
  REQUIRE(v);
  for (const auto& h : w.hosts())
    if (h.id == v->host_id) return h.name;
  return "";
}

OpContext ctx(const std::string& correlation_id = "") {
  OpContext c;
  c.correlation_id = correlation_id;
  return c;
}

// Two requests: the first shows the intermediate status, the second the end.
void settle(World& w) {
  w.tick();
  w.tick();
}

void crash(World& w, const std::string& name) { REQUIRE(w.set_host_status(name, HostStatus::NonResponsive)); }

// A host parked in `status` through the lab control, without VMs.
World world_with_status(HostStatus status) {
  WorldState s = scenario();
  for (auto& h : s.hosts)
    if (h.name == "host_4") {
      h.status = status;
      h.spm = SpmStatus::None;
    }
  s.vms.erase(std::remove_if(s.vms.begin(), s.vms.end(), [](const Vm& v) { return v.name == "mail01"; }), s.vms.end());
  return World(s);
}

}  // namespace

TEST_CASE("lab scenario: hosts - SPM - engine VM - derived VM counts and stable GUIDs") {
  World w(scenario());
  CHECK(w.hosts().size() == 4);
  CHECK(w.host_by_name("host_4")->spm == SpmStatus::Spm);
  CHECK(w.host_by_name("hosted_engine_1")->spm == SpmStatus::None);
  CHECK(w.host_by_name("hosted_engine_1")->vm_count == 2);
  CHECK(w.host_by_name("hosted_engine_2")->vm_count == 1);
  CHECK(w.host_by_name("hosted_engine_1")->hosted_engine->score == 3400);
  CHECK_FALSE(w.host_by_name("host_4")->hosted_engine);
  CHECK(w.vm_by_name("HostedEngine")->origin == "managed_hosted_engine");
  CHECK(w.vm_by_name("build01")->host_id.empty());
  CHECK(w.vm_by_name("db01")->status == VmStatus::Up);
  CHECK(w.host_by_name("hosted_engine_1")->hardware_id == "4c4c4544-0031-3510-8033-b3c04f4e3132");
  const std::string id = id_of(w, "hosted_engine_1");
  CHECK(id.size() == 36);
  CHECK(id[8] == '-');
  World again(scenario());
  CHECK(id_of(again, "hosted_engine_1") == id);  // the same scenario gives the same ids
}

TEST_CASE("lab scenario: the shipped three-hosts example loads") {
  WorldState s = load_scenario(she::test::source_path("examples/lab/three-hosts.yaml"));
  World w(s);
  CHECK(w.hosts().size() == 4);
  CHECK(w.host_by_name("host_4")->spm == SpmStatus::Spm);
  CHECK_FALSE(w.host_by_name("host_4")->hosted_engine);
  CHECK(vm_host(w, "HostedEngine") == "hosted_engine_2");
  for (const char* he : {"hosted_engine_1", "hosted_engine_2", "hosted_engine_3"})
    CHECK(w.host_by_name(he)->hosted_engine->score == 3400);
}

TEST_CASE("lab scenario: unknown keys and bad values are refused with file:line:column all at once") {
  const std::string text = R"(scenario: bad
hosts:
  - name: h1
    adress: h1.example.com
    status: upp
vms:
  - {name: v1, host: nohost}
durations: {maintenance: -1}
)";
  try {
    parse_scenario(text, "bad.yaml");
    FAIL("the scenario was accepted");
  } catch (const ScenarioError& e) {
    const std::string m = e.what();
    CHECK(m.find("bad.yaml:4:5: error[unknown-key]: unknown key 'adress' in a host") != std::string::npos);
    CHECK(m.find("did you mean 'address'?") != std::string::npos);
    CHECK(m.find("bad.yaml:3:5: error[missing-key]: a host needs 'address'") != std::string::npos);
    CHECK(m.find("bad.yaml:5:13: error[invalid-value]: 'upp' is not a host status") != std::string::npos);
    CHECK(m.find("bad.yaml:7:22: error[unknown-host]: no host named 'nohost'") != std::string::npos);
    CHECK(m.find("bad.yaml:8:26: error[invalid-value]: durations maintenance must be between 0 and 86400") !=
          std::string::npos);
    CHECK(m.find("5 errors") != std::string::npos);
  }
  CHECK_THROWS_AS(parse_scenario("scenario: x\nfaults: {http_503: {count: 1, methods: [GTE]}}\n", "f.yaml"),
                  ScenarioError);
  CHECK_THROWS_AS(parse_scenario("scenario: x\nhosts:\n  - {name: a, address: a, spm: true}\n"
                                 "  - {name: b, address: b, spm: true}\n",
                                 "spm.yaml"),
                  ScenarioError);
  CHECK_THROWS_AS(parse_scenario("scenario: [unclosed\n", "syntax.yaml"), ScenarioError);
  CHECK_THROWS_AS(load_scenario("/nonexistent/scenario.yaml"), ScenarioError);
}

TEST_CASE("lab remove: allowed statuses only - never with VMs - 409 texts") {
  World w(scenario());
  OpResult r = w.remove_host(id_of(w, "hosted_engine_1"), true, ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message == "Cannot remove Host. Host is operational. Please switch Host to Maintenance mode first.");

  crash(w, "hosted_engine_1");  // non_responsive with its VMs still counted
  r = w.remove_host(id_of(w, "hosted_engine_1"), true, ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message == "Cannot remove Host. One or more VMs are still running on this Host.");

  // Once the fence clears its VMs, a dead host goes without maintenance or force.
  const std::string id = id_of(w, "hosted_engine_1");
  REQUIRE(w.fence_manual(id, ctx()).ok());
  r = w.remove_host(id, false, ctx("corr-rm"));
  CHECK(r.http_status == 200);
  CHECK_FALSE(r.job_id.empty());
  CHECK_FALSE(w.host(id));
  CHECK(w.job(r.job_id)->status == "finished");
  auto events = w.events_after(0);
  REQUIRE_FALSE(events.empty());
  CHECK(events.front().code == 44);
  CHECK(events.front().correlation_id == "corr-rm");
  CHECK(events.front().host_name == "hosted_engine_1");
  CHECK(w.remove_host(id, false, ctx()).http_status == 404);

  for (HostStatus s : {HostStatus::NonResponsive, HostStatus::Maintenance, HostStatus::Down, HostStatus::Unassigned,
                       HostStatus::InstallFailed, HostStatus::PendingApproval, HostStatus::NonOperational,
                       HostStatus::InstallingOs}) {
    World x = world_with_status(s);
    CHECK_MESSAGE(x.remove_host(id_of(x, "host_4"), false, ctx()).ok(), to_string(s));
  }
  for (HostStatus s : {HostStatus::Up, HostStatus::PreparingForMaintenance, HostStatus::Installing,
                       HostStatus::Connecting, HostStatus::Reboot, HostStatus::Initializing, HostStatus::Error,
                       HostStatus::Kdumping}) {
    World x = world_with_status(s);
    OpResult refused = x.remove_host(id_of(x, "host_4"), true, ctx());
    CHECK_MESSAGE(refused.http_status == 409, to_string(s));
    CHECK(refused.message == "Cannot remove Host. Host is operational. Please switch Host to Maintenance mode first.");
  }
}

TEST_CASE("lab manual fence: nine statuses - refused for up - clears VMs to down - releases the SPM") {
  World w(scenario());
  OpResult r = w.fence_manual(id_of(w, "hosted_engine_1"), ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message ==
        "Cannot confirm 'Host has been rebooted' Host. Valid Host statuses are \"Non operational\", \"Maintenance\" "
        "or \"Connecting\".");

  crash(w, "hosted_engine_1");
  CHECK(w.vm_by_name("db01")->status == VmStatus::Unknown);
  r = w.fence_manual(id_of(w, "hosted_engine_1"), ctx("corr-fence"));
  REQUIRE(r.ok());
  CHECK(w.vm_by_name("db01")->status == VmStatus::Down);
  CHECK(w.vm_by_name("db01")->host_id.empty());
  CHECK(w.vm_by_name("web01")->status == VmStatus::Down);
  CHECK(w.host_by_name("hosted_engine_1")->vm_count == 0);
  CHECK(status_of(w, "hosted_engine_1") == HostStatus::NonResponsive);  // the host itself stays as it is
  auto events = w.events_after(0);
  CHECK(events.front().code == 494);
  CHECK(events.front().description == "Manual fence for host hosted_engine_1 was started.");
  CHECK(events.front().correlation_id == "corr-fence");

  for (HostStatus s : {HostStatus::Down, HostStatus::InstallFailed, HostStatus::Maintenance, HostStatus::NonOperational,
                       HostStatus::NonResponsive, HostStatus::Reboot, HostStatus::Installing, HostStatus::Connecting,
                       HostStatus::Kdumping}) {
    World x = world_with_status(s);
    CHECK_MESSAGE(x.fence_manual(id_of(x, "host_4"), ctx()).ok(), to_string(s));
  }
  for (HostStatus s : {HostStatus::Up, HostStatus::PreparingForMaintenance, HostStatus::Unassigned,
                       HostStatus::Initializing, HostStatus::Error, HostStatus::PendingApproval,
                       HostStatus::InstallingOs}) {
    World x = world_with_status(s);
    CHECK_MESSAGE(x.fence_manual(id_of(x, "host_4"), ctx()).http_status == 409, to_string(s));
  }
}

TEST_CASE("lab manual fence of the SPM: refused while the data center is up - then the SPM moves") {
  WorldState s = scenario();
  World w(s);
  // The SPM host crashes; the lab marks its data center problematic.
  crash(w, "host_4");
  CHECK(w.data_centers().front().status == DataCenterStatus::Problematic);
  const std::string spm = id_of(w, "host_4");
  OpResult r = w.fence_manual(spm, ctx());
  REQUIRE(r.ok());
  CHECK(w.host(spm)->spm == SpmStatus::None);
  CHECK(w.vm_by_name("mail01")->status == VmStatus::Down);
  // Another up host took the SPM role and the data center is up again.
  int spms = 0;
  for (const auto& h : w.hosts())
    if (h.spm == SpmStatus::Spm) {
      ++spms;
      CHECK(h.status == HostStatus::Up);
    }
  CHECK(spms == 1);
  CHECK(w.data_centers().front().status == DataCenterStatus::Up);

  // An SPM whose data center is still up: the engine refuses.
  for (auto& h : s.hosts)
    if (h.name == "host_4") h.status = HostStatus::NonResponsive;
  World up(s);
  r = up.fence_manual(id_of(up, "host_4"), ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message == "Cannot confirm 'Host has been rebooted' Host. Unknown Data Center status.");
  CHECK(up.host_by_name("host_4")->spm == SpmStatus::Spm);
}

TEST_CASE("lab maintenance refusals with the engine's texts") {
  World w(scenario());
  const std::string he2 = id_of(w, "hosted_engine_2");

  // The engine VM's host, when no other up hosted-engine host scores above 0.
  for (const char* other : {"hosted_engine_1", "hosted_engine_3"}) crash(w, other);
  OpResult r = w.deactivate_host(he2, "", ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message ==
        "Cannot switch the Host(s) to Maintenance mode.\n"
        "None of the hosts capable of running the engine VM has score more than 0 and is in Up state.");
  CHECK(status_of(w, "hosted_engine_2") == HostStatus::Up);

  // Non-responsive with VMs, then the SPM non-responsive.
  r = w.deactivate_host(id_of(w, "hosted_engine_1"), "", ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message ==
        "Cannot switch Host to Maintenance mode. Host still has running VMs on it and is in Non Responsive state.");
  // A dead SPM without VMs.
  WorldState s = scenario();
  for (auto& h : s.hosts)
    if (h.name == "host_4") h.status = HostStatus::NonResponsive;
  s.vms.erase(std::remove_if(s.vms.begin(), s.vms.end(), [](const Vm& v) { return v.name == "mail01"; }), s.vms.end());
  World dead_spm(s);
  r = dead_spm.deactivate_host(id_of(dead_spm, "host_4"), "", ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message == "Cannot switch Host to Maintenance mode. Host is Storage Pool Manager and is in Non Responsive state.");

  // Already in maintenance.
  World m = world_with_status(HostStatus::Maintenance);
  r = m.deactivate_host(id_of(m, "host_4"), "", ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message == "Cannot switch Host to Maintenance mode. Host is already in Maintenance mode.");

  // SPM contending.
  WorldState c = scenario();
  for (auto& h : c.hosts)
    if (h.name == "host_4") h.spm = SpmStatus::Contending;
  World contending(c);
  r = contending.deactivate_host(id_of(contending, "host_4"), "", ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message ==
        "Cannot switch Host to Maintenance mode. Host is contending for Storage Pool Manager,\n"
        "wait for operation to complete and retry.");

  // A status the engine cannot put in maintenance.
  World installing = world_with_status(HostStatus::Installing);
  r = installing.deactivate_host(id_of(installing, "host_4"), "", ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message == "Cannot switch Host to Maintenance mode, Host is not operational.");
}

TEST_CASE("lab maintenance: preparing first then maintenance - VMs migrate - the engine VM to a hosted-engine host") {
  World w(scenario());
  const std::string he2 = id_of(w, "hosted_engine_2");
  w.tick();  // the request that carries the action
  OpResult r = w.deactivate_host(he2, "DR", ctx("corr-mnt"));
  REQUIRE(r.ok());
  CHECK(w.job(r.job_id)->status == "started");
  CHECK(status_of(w, "hosted_engine_2") == HostStatus::PreparingForMaintenance);
  CHECK(w.host(he2)->status_detail == "DR");
  CHECK(w.vm_by_name("HostedEngine")->status == VmStatus::Migrating);
  CHECK(w.events_after(0).front().code == 600);
  CHECK(w.events_after(0).front().description ==
        "Host hosted_engine_2 was switched to Maintenance mode by admin@internal (Reason: DR).");

  // Time scale 0: due at once, yet the next request still sees it preparing.
  w.tick();
  CHECK(status_of(w, "hosted_engine_2") == HostStatus::PreparingForMaintenance);
  w.tick();
  CHECK(status_of(w, "hosted_engine_2") == HostStatus::Maintenance);
  CHECK(w.host(he2)->vm_count == 0);
  const std::string engine_host = vm_host(w, "HostedEngine");
  CHECK((engine_host == "hosted_engine_1" || engine_host == "hosted_engine_3"));
  CHECK(w.vm_by_name("HostedEngine")->status == VmStatus::Up);
  // Local maintenance on the HA agent: score 0.
  CHECK(w.host(he2)->hosted_engine->local_maintenance);
  CHECK(w.host(he2)->hosted_engine->score == 0);
  CHECK(w.job(r.job_id)->status == "finished");
  auto events = w.events_after(0);
  CHECK(events.front().code == 15);
  CHECK(events.front().correlation_id == "corr-mnt");

  // Without a reason: event 620. Regular VMs spread over the other up hosts.
  const std::string he1 = id_of(w, "hosted_engine_1");
  REQUIRE(w.deactivate_host(he1, "", ctx()).ok());
  CHECK(w.events_after(0).front().code == 620);
  settle(w);
  CHECK(status_of(w, "hosted_engine_1") == HostStatus::Maintenance);
  for (const char* vm : {"db01", "web01"}) {
    const std::string h = vm_host(w, vm);
    CHECK((h == "hosted_engine_3" || h == "host_4"));
  }
  // The engine VM's host cannot go too: no other hosted-engine host is up.
  r = w.deactivate_host(id_of(w, engine_host), "", ctx());
  CHECK(r.http_status == 409);
}

TEST_CASE("lab maintenance of the SPM host moves the SPM role to another up host") {
  World w(scenario());
  const std::string spm = id_of(w, "host_4");
  REQUIRE(w.deactivate_host(spm, "", ctx()).ok());
  CHECK(w.host(spm)->spm == SpmStatus::None);
  int spms = 0;
  for (const auto& h : w.hosts()) spms += h.spm == SpmStatus::Spm ? 1 : 0;
  CHECK(spms == 1);
  CHECK(w.data_centers().front().status == DataCenterStatus::Up);
  settle(w);
  CHECK(w.host(spm)->status == HostStatus::Maintenance);
  CHECK(vm_host(w, "mail01") != "host_4");
}

TEST_CASE("lab durations: the time scale multiplies them") {
  WorldState s = scenario();
  s.time_scale = 1;  // maintenance takes its 10 seconds
  World w(s);
  const std::string id = id_of(w, "hosted_engine_1");
  REQUIRE(w.deactivate_host(id, "", ctx()).ok());
  settle(w);
  settle(w);
  CHECK(w.host(id)->status == HostStatus::PreparingForMaintenance);
  w.advance_clock(std::chrono::seconds(9));
  w.tick();
  CHECK(w.host(id)->status == HostStatus::PreparingForMaintenance);
  w.advance_clock(std::chrono::seconds(1));
  w.tick();
  CHECK(w.host(id)->status == HostStatus::Maintenance);

  w.set_time_scale(0.5);  // activation: 5 s x 0.5
  REQUIRE(w.activate_host(id, ctx()).ok());
  settle(w);
  CHECK(w.host(id)->status == HostStatus::Unassigned);
  w.advance_clock(std::chrono::milliseconds(2500));
  w.tick();
  CHECK(w.host(id)->status == HostStatus::Up);
}

TEST_CASE("lab activate: maintenance then unassigned then up - refused when up or non-responsive") {
  World w = world_with_status(HostStatus::Maintenance);
  const std::string id = id_of(w, "host_4");
  OpResult r = w.activate_host(id, ctx());
  REQUIRE(r.ok());
  CHECK(w.host(id)->status == HostStatus::Unassigned);
  CHECK(w.events_after(0).front().code == 16);
  w.tick();
  CHECK(w.host(id)->status == HostStatus::Unassigned);
  w.tick();
  CHECK(w.host(id)->status == HostStatus::Up);
  CHECK(w.job(r.job_id)->status == "finished");

  r = w.activate_host(id, ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message == "Cannot activate Host. Host in Up status.");
  crash(w, "host_4");
  r = w.activate_host(id, ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message == "Cannot activate Host. Host is non responsive.");

  // A hosted-engine host leaves local maintenance and scores again.
  World he(scenario());
  const std::string he1 = id_of(he, "hosted_engine_1");
  REQUIRE(he.deactivate_host(he1, "", ctx()).ok());
  settle(he);
  CHECK(he.host(he1)->hosted_engine->score == 0);
  REQUIRE(he.activate_host(he1, ctx()).ok());
  settle(he);
  CHECK(he.host(he1)->status == HostStatus::Up);
  CHECK_FALSE(he.host(he1)->hosted_engine->local_maintenance);
  CHECK(he.host(he1)->hosted_engine->score == 3400);
}

TEST_CASE("lab install: only from maintenance and three other statuses - activate defaults to false") {
  World w(scenario());
  OpResult r = w.install_host(id_of(w, "host_4"), InstallParams{}, ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message == "Cannot install Host. Please move Host to Maintenance mode first.");

  for (HostStatus s : {HostStatus::Maintenance, HostStatus::NonOperational, HostStatus::InstallFailed,
                       HostStatus::InstallingOs}) {
    World x = world_with_status(s);
    CHECK_MESSAGE(x.install_host(id_of(x, "host_4"), InstallParams{}, ctx()).ok(), to_string(s));
  }
  for (HostStatus s : {HostStatus::NonResponsive, HostStatus::Down, HostStatus::PreparingForMaintenance}) {
    World x = world_with_status(s);
    CHECK_MESSAGE(x.install_host(id_of(x, "host_4"), InstallParams{}, ctx()).http_status == 409, to_string(s));
  }

  // The default: installed, then left in maintenance.
  World m = world_with_status(HostStatus::Maintenance);
  const std::string id = id_of(m, "host_4");
  r = m.install_host(id, InstallParams{}, ctx());
  REQUIRE(r.ok());
  CHECK(m.host(id)->status == HostStatus::Installing);
  m.tick();
  CHECK(m.host(id)->status == HostStatus::Installing);
  m.tick();
  CHECK(m.host(id)->status == HostStatus::Maintenance);
  CHECK(m.events_after(0).front().code == 504);
  CHECK_FALSE(m.host(id)->hosted_engine);

  // activate=true and deploy_hosted_engine: up, configured, score 3400.
  InstallParams p;
  p.activate = true;
  p.deploy_hosted_engine = true;
  REQUIRE(m.install_host(id, p, ctx()).ok());
  settle(m);
  CHECK(m.host(id)->status == HostStatus::Up);
  REQUIRE(m.host(id)->hosted_engine);
  CHECK(m.host(id)->hosted_engine->score == 3400);
  CHECK(m.host(id)->hosted_engine->host_id == 4);  // the next free hosted-engine host id

  // undeploy_hosted_engine removes the configuration.
  REQUIRE(m.deactivate_host(id, "", ctx()).ok());
  settle(m);
  InstallParams u;
  u.undeploy_hosted_engine = true;
  REQUIRE(m.install_host(id, u, ctx()).ok());
  settle(m);
  CHECK_FALSE(m.host(id)->hosted_engine);
}

TEST_CASE("lab add host: duplicates refused with the engine's texts - 201 installing then up") {
  World w(scenario());
  AddHostParams p;
  p.name = "hosted_engine_1";
  p.address = "new.example.com";
  OpResult r = w.add_host(p, ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message == "Cannot add Host. The Host name is already in use, please choose a unique name and try again.");
  p.name = "new_host";
  p.address = "HOST1.example.com";  // addresses compare without case
  r = w.add_host(p, ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message == "Cannot add Host. Host with the same address already exists.");
  p.address = "new.example.com";
  p.hardware_id = "4c4c4544-0031-3510-8033-b3c04f4e3132";
  r = w.add_host(p, ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message == "Cannot add Host. Host with the same UUID already exists.");
  p.cluster_name = "NoSuchCluster";
  p.hardware_id.clear();
  CHECK(w.add_host(p, ctx()).http_status == 400);

  p.cluster_name = "Default";
  p.deploy_hosted_engine = true;
  r = w.add_host(p, ctx("corr-add"));
  REQUIRE(r.http_status == 201);
  REQUIRE(w.host(r.entity_id));
  CHECK(w.host(r.entity_id)->status == HostStatus::Installing);
  // Newest first: the engine logs the add (42), then the install it starts (509).
  REQUIRE(w.events_after(0).size() >= 2);
  CHECK(w.events_after(0)[1].code == 42);
  CHECK(w.events_after(0)[1].correlation_id == "corr-add");
  CHECK(w.events_after(0)[0].code == 509);
  CHECK(w.events_after(0)[0].correlation_id == "corr-add");
  w.tick();
  CHECK(w.host(r.entity_id)->status == HostStatus::Installing);
  w.tick();
  CHECK(w.host(r.entity_id)->status == HostStatus::Up);  // activate defaults to true for add
  CHECK(w.host(r.entity_id)->hosted_engine->score == 3400);
  CHECK(w.host(r.entity_id)->hosted_engine->host_id == 4);

  AddHostParams q;
  q.name = "spare";
  q.address = "spare.example.com";
  q.activate = false;
  r = w.add_host(q, ctx());
  REQUIRE(r.ok());
  settle(w);
  CHECK(w.host(r.entity_id)->status == HostStatus::Maintenance);
  CHECK_FALSE(w.host(r.entity_id)->hosted_engine);
}

TEST_CASE("lab add host: a removed machine keeps its hardware id when it comes back") {
  World w(scenario());
  const std::string id = id_of(w, "hosted_engine_1");
  crash(w, "hosted_engine_1");
  REQUIRE(w.fence_manual(id, ctx()).ok());
  REQUIRE(w.remove_host(id, true, ctx()).ok());
  AddHostParams p;
  p.name = "hosted_engine_1";
  p.address = "host1.example.com";
  OpResult r = w.add_host(p, ctx());
  REQUIRE(r.ok());
  CHECK(w.host(r.entity_id)->hardware_id == "4c4c4544-0031-3510-8033-b3c04f4e3132");
  CHECK(r.entity_id != id);
}

TEST_CASE("lab start VM: not while running or unknown - after the fence it powers up on an up host") {
  World w(scenario());
  const std::string db01 = w.vm_by_name("db01")->id;
  OpResult r = w.start_vm(db01, ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message == "Cannot run VM. VM is running.");
  crash(w, "hosted_engine_1");
  CHECK(w.start_vm(db01, ctx()).http_status == 409);  // unknown on a dead host
  REQUIRE(w.fence_manual(id_of(w, "hosted_engine_1"), ctx()).ok());
  r = w.start_vm(db01, ctx("corr-start"));
  REQUIRE(r.ok());
  CHECK(w.vm(db01)->status == VmStatus::PoweringUp);
  const std::string host = vm_host(w, "db01");
  CHECK(host != "hosted_engine_1");
  CHECK(status_of(w, host) == HostStatus::Up);
  CHECK(w.events_after(0).front().code == 153);
  settle(w);
  CHECK(w.vm(db01)->status == VmStatus::Up);
  CHECK(w.start_vm("00000000-0000-4000-8000-000000000000", ctx()).http_status == 404);

  // With no up host in the cluster, nowhere to run.
  World none(scenario());
  for (const char* h : {"hosted_engine_1", "hosted_engine_2", "hosted_engine_3", "host_4"}) crash(none, h);
  r = none.start_vm(none.vm_by_name("build01")->id, ctx());
  CHECK(r.http_status == 409);
  CHECK(r.message == "Cannot run VM. There are no available running Hosts in the Host Cluster.");
}

TEST_CASE("lab hosted-engine global maintenance goes through the engine VM") {
  World w(scenario());
  CHECK_FALSE(w.global_maintenance());
  REQUIRE(w.set_global_maintenance(w.vm_by_name("HostedEngine")->id, true, ctx()).ok());
  CHECK(w.global_maintenance());
  CHECK(w.to_json()["hosts"][0]["hosted_engine"]["global_maintenance"] == true);
  CHECK(w.set_global_maintenance(w.vm_by_name("db01")->id, true, ctx()).http_status == 409);
  REQUIRE(w.set_global_maintenance(w.vm_by_name("HostedEngine")->id, false, ctx()).ok());
  CHECK_FALSE(w.global_maintenance());
}

TEST_CASE("lab events: ids increase - newest first - only above from") {
  World w(scenario());
  crash(w, "hosted_engine_1");
  REQUIRE(w.fence_manual(id_of(w, "hosted_engine_1"), ctx()).ok());
  auto all = w.events_after(0);
  REQUIRE(all.size() == 2);
  CHECK(all[0].id > all[1].id);
  CHECK(all[1].code == 12);
  CHECK(all[0].code == 494);
  auto newer = w.events_after(all[1].id);
  REQUIRE(newer.size() == 1);
  CHECK(newer[0].id == all[0].id);
  CHECK(w.events_after(all[0].id).empty());
}

TEST_CASE("lab faults: an http 503 burst counts down per matching method") {
  WorldState s = scenario();
  s.faults.http_503_count = 2;
  s.faults.http_503_methods = {"GET"};
  World w(s);
  CHECK_FALSE(w.take_http_503("POST"));
  CHECK(w.take_http_503("GET"));
  CHECK(w.take_http_503("GET"));
  CHECK_FALSE(w.take_http_503("GET"));
  Faults f;
  f.http_503_count = 1;
  w.set_faults(f);
  CHECK(w.take_http_503("DELETE"));  // no methods: every method
  CHECK_FALSE(w.take_http_503("DELETE"));
}

TEST_CASE("lab world json: the whole state without the password") {
  WorldState s = scenario();
  s.engine.admin_password = "secret-value";
  World w(s);
  const std::string j = w.to_json().dump();
  CHECK(j.find("secret-value") == std::string::npos);
  auto json = w.to_json();
  CHECK(json["engine"]["fqdn"] == "engine.example.com");
  CHECK(json["hosts"].size() == 4);
  CHECK(json["vms"].size() == 6);
  CHECK(json["data_centers"][0]["status"] == "up");
}
