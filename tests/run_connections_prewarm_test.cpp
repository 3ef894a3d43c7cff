// The run's SSH sessions: opened ahead in the background for the hosts a
// run's steps name, handed to the first step on each host; and a kept
// session that died meanwhile carries the next command on a new connection.
#include <doctest/doctest.h>

#include <filesystem>
#include <set>
#include <stdexcept>

#include "orchestrator/run_connections.h"
#include "orchestrator/step_runner.h"
#include "tests/lab_hosts_fixture.h"
#include "tests/test_support.h"
#include "workflows/secret_store.h"

using namespace she;
using she::test::LabHosts;
namespace fs = std::filesystem;

namespace {

SshEndpoint endpoint_of(const SshTarget& t) {
  SshEndpoint ep;
  ep.name = t.name;
  ep.user = t.user;
  ep.address = t.address;
  ep.port = t.port;
  ep.key = t.key_file;
  ep.known_hosts = t.known_hosts;
  return ep;
}

int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("run connections: the hosts ahead are connected in the background - the first step on each takes its open session") {
  LabHosts lab;
  Environment env;
  env.file = "env.yaml";
  const SecretStore store(SecretStore::Mode::Resolve, [](const std::string&) {});
  const std::string known_before = test::read_file(lab.fleet.known_hosts());
  SshEndpoint ep = endpoint_of(lab.target("hosted_engine_1"));

  SUBCASE("a host whose key is known: open before any step asks") {
    RunConnections conns(env, store, [](const std::string&) {});
    conns.prewarm({ep});
    SshSession& s = conns.ssh(ep, 0);
    CHECK(s.connected());
    CHECK(s.exec("hostname").stdout_tail == "host1.example.com\n");
    CHECK(&conns.ssh(ep, 0) == &s);  // kept for the thread, as ever
  }
  SUBCASE("a host not in known_hosts: left to the step, nothing written") {
    test::TempDir tmp;
    fs::path empty = tmp.path() / "empty_known_hosts";
    test::write_file(empty, "");
    ep.known_hosts = empty.string();
    ep.accept_new_host_key = true;
    RunConnections conns(env, store, [](const std::string&) {});
    conns.prewarm({ep});
    CHECK_FALSE(conns.ssh(ep, 0).connected());
    CHECK(test::read_file(empty).empty());
  }
  SUBCASE("a key with a passphrase: no secret is read off the step's thread") {
    ::setenv("SHE_TEST_PREWARM_PASSPHRASE", "unused", 1);
    ep.key_passphrase = "env:SHE_TEST_PREWARM_PASSPHRASE";
    RunConnections conns(env, store, [](const std::string&) {});
    conns.prewarm({ep});
    CHECK_FALSE(conns.ssh(ep, 0).connected());
    ::unsetenv("SHE_TEST_PREWARM_PASSPHRASE");
  }
  SUBCASE("a host that does not answer: the step connects on its own and meets what it meets") {
    lab.fleet.set_unreachable("hosted_engine_1", true);
    RunConnections conns(env, store, [](const std::string&) {});
    conns.prewarm({ep});
    SshSession& s = conns.ssh(ep, 0);
    CHECK_FALSE(s.connected());
    lab.fleet.set_unreachable("hosted_engine_1", false);
    CHECK(s.exec("hostname").exit_status == 0);
  }
  SUBCASE("a run that ends while a host is still being reached does not wait for it") {
    lab.fleet.set_unreachable("hosted_engine_1", true);
    RunConnections conns(env, store, [](const std::string&) {});
    conns.prewarm({ep});
  }  // the destructor stops the attempt and joins its thread
  CHECK(test::read_file(lab.fleet.known_hosts()) == known_before);
}

TEST_CASE("ssh: a kept session whose host dropped it carries the next command on a new connection - once") {
  LabHosts lab;
  SshSession s(lab.target("hosted_engine_1"));
  REQUIRE(s.exec("echo first").exit_status == 0);
  // The host's sshd restarts (a reboot): every open session is cut.
  lab.fleet.set_unreachable("hosted_engine_1", true);
  lab.fleet.set_unreachable("hosted_engine_1", false);
  CHECK(s.connected());  // not known yet
  ExecResult r = s.exec("echo after-the-restart");
  CHECK(r.exit_status == 0);
  CHECK(r.stdout_tail == "after-the-restart\n");
  CHECK(count_of(lab.agent_log("hosted_engine_1"), "echo after-the-restart") == 1);
}

TEST_CASE("run connections: a loop's item names its host once the loop fixes its items - its steps' SSH hosts are known then") {
  Diagnostics d;
  auto plan = load_plan(test::source_path("examples/three-hosts/restore-failover.yaml"), {}, d);
  REQUIRE_MESSAGE(plan, d.str());
  auto step = [&](const std::string& id) -> const Step& {
    for (const Step& s : plan->steps)
      if (s.id == id) return s;
    FAIL("no step " << id);
    throw std::logic_error(id);
  };
  // The item as engine.hosts.select gives it: the engine's name and address.
  Value roots = Value::object();
  roots["host"] = Value{{"name", "hosted_engine_2"}, {"address", "192.0.2.12"}, {"id", "h2"}};
  std::set<std::string> seen;
  std::vector<SshEndpoint> hosts;
  RunConnections::hosts_named(*plan, step("wipe-he-config"), roots, &seen, &hosts);
  REQUIRE(hosts.size() == 1);
  CHECK(hosts[0].name == "hosted_engine_2");
  CHECK(hosts[0].address == "host2.example.com");  // the environment's entry, as the step reaches it
  // Named again (another step of the block): once.
  RunConnections::hosts_named(*plan, step("wipe-he-config"), roots, &seen, &hosts);
  CHECK(hosts.size() == 1);
  // A step that reaches the engine only names no SSH host.
  RunConnections::hosts_named(*plan, step("remove-dead"), roots, &seen, &hosts);
  CHECK(hosts.size() == 1);
  // Without the item (the run's start): not known yet, left out.
  std::set<std::string> fresh;
  std::vector<SshEndpoint> none;
  RunConnections::hosts_named(*plan, step("wipe-he-config"), Value::object(), &fresh, &none);
  CHECK(none.empty());
}

TEST_CASE("run connections: a loop over a step's output is warmed once that step ran - not when the loop starts") {
  Diagnostics d;
  auto plan = load_plan(test::source_path("examples/three-hosts/restore-failover.yaml"), {}, d);
  REQUIRE_MESSAGE(plan, d.str());
  const size_t after_select = static_cast<size_t>(plan->step_index("select-dead")) + 1;
  Value roots = plan->roots(false);
  // Before engine.hosts.select ran: its hosts are not known, nothing to warm.
  auto none = [](const Step&) { return false; };
  CHECK(loops_fixed_ahead(*plan, roots, after_select, none).empty());
  // Once it ran: the fence loop and each step of the replace-dead block,
  // some steps ahead, have their items.
  roots["steps"]["select-dead"]["hosts"] = Value::array({Value{{"name", "hosted_engine_2"}, {"address", "192.0.2.12"}}});
  auto loops = loops_fixed_ahead(*plan, roots, after_select, none);
  std::vector<std::string> ids;
  for (const auto& [step, items] : loops) {
    ids.push_back(step->id);
    CHECK(items.size() == 1);
  }
  CHECK(ids == std::vector<std::string>{"fence", "remove-dead", "wipe-he-config", "reinstall"});
  // A loop warmed once is not again (its hosts may be taken by then).
  std::set<const Step*> warmed;
  for (const auto& l : loops) warmed.insert(l.first);
  CHECK(loops_fixed_ahead(*plan, roots, after_select, [&](const Step& s) { return warmed.count(&s) > 0; }).empty());
  // The look ahead is bounded: from the plan's first step the loops are too far.
  REQUIRE(static_cast<size_t>(plan->step_index("fence")) >= kLoopLookAhead);
  CHECK(loops_fixed_ahead(*plan, roots, 0, none).empty());
}
