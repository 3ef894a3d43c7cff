// Waits on hosts share one watcher per engine connection
// (engine_api/engine_watcher.h): the event log read while anything waits, one
// listing of every host when something concerns a watched host; waits on
// VMs and data centers look again when the log has news. Checked by
// counting the requests the lab engine logged, never by timing.
#include <doctest/doctest.h>

#include <thread>

#include "tests/lab_fixture.h"

using namespace she;
using namespace she::engine_api;
using she::test::LabEngine;

namespace {

struct Reads {
  int listings = 0, one_host = 0, events = 0, other = 0;
};

Reads reads_in(const std::vector<lab::LoggedRequest>& log, size_t from) {
  Reads r;
  for (size_t i = from; i < log.size(); ++i) {
    const auto& q = log[i];
    if (q.method != "GET") continue;
    std::string path = q.path.substr(0, q.path.find('?'));
    if (path == "/ovirt-engine/api/hosts") ++r.listings;
    else if (path.rfind("/ovirt-engine/api/hosts/", 0) == 0) ++r.one_host;
    else if (path == "/ovirt-engine/api/events") ++r.events;
    else ++r.other;
  }
  return r;
}

}  // namespace

TEST_CASE("engine watcher: one watcher serves many waits - the lab's request log counts the reads") {
  // Transitions that take a while (maintenance 10 s scaled to 0.3 s), so
  // the waits overlap for several rounds.
  LabEngine lab("examples/lab/three-hosts.yaml", 0.03);
  EngineClient c(lab.config());
  const std::vector<std::string> names = {"hosted_engine_1", "hosted_engine_3", "host_4"};
  std::vector<std::string> ids;
  for (auto& n : names) ids.push_back(lab.host_id(n));
  for (auto& id : ids) c.deactivate({"she-test:watch", nullptr, nullptr}, id, "watcher test");
  const size_t before = lab.server->request_log().all().size();
  std::vector<std::string> reached(ids.size());
  std::vector<std::thread> waits;
  for (size_t i = 0; i < ids.size(); ++i)
    waits.emplace_back([&, i] {
      reached[i] = c.wait_for_status({"she-test:watch", nullptr, nullptr}, ids[i], {"maintenance"}, {"error"},
                                     std::chrono::seconds(60)).status;
    });
  for (auto& t : waits) t.join();
  for (auto& s : reached) CHECK(s == "maintenance");
  Reads r = reads_in(lab.server->request_log().all(), before);
  EngineWatcher::Counts counts = c.watcher().counts();
  // No wait read its own host; every read was the watcher's, made once for
  // all three waits: one event-log read and at most one listing a round.
  CHECK(r.one_host == 0);
  CHECK(r.other == 0);
  CHECK(r.listings == counts.listings);
  CHECK(r.events == counts.events);
  CHECK(r.listings >= 1);
  CHECK(r.listings <= r.events + 1);
}

TEST_CASE("engine watcher: a host's event makes the next round list the hosts - its status is seen then") {
  LabEngine lab("examples/lab/three-hosts.yaml", 0.03);
  EngineClient c(lab.config());
  std::string id = lab.host_id("hosted_engine_1");
  CallOptions o{"she-test:watch-event", nullptr, nullptr};
  c.deactivate(o, id, "watcher test");
  CHECK(c.wait_for_status(o, id, {"maintenance"}, {"error"}, std::chrono::seconds(60)).status == "maintenance");
  // The maintenance event (code 15, this host) was what the watcher
  // listed on: the listing after it is in the log, after the event read.
  auto log = lab.server->request_log().all();
  bool event_then_listing = false;
  for (size_t i = 1; i < log.size(); ++i)
    event_then_listing |= log[i - 1].path.rfind("/ovirt-engine/api/events?from=", 0) == 0 &&
                          log[i].path.rfind("/ovirt-engine/api/hosts?", 0) == 0;
  CHECK(event_then_listing);
  // A removal is a host gone from the listing.
  c.remove(o, id, true);
  c.wait_for_removal(o, id, std::chrono::seconds(60));
  CHECK_FALSE(c.find_host(o, "hosted_engine_1"));
}

TEST_CASE("engine watcher: a wait whose host is not in the engine fails at once naming it") {
  LabEngine lab;
  EngineClient c(lab.config());
  CallOptions o{"she-test:watch-missing", nullptr, nullptr};
  CHECK_THROWS_WITH_AS(c.wait_for_status(o, "00000000-0000-0000-0000-0000000000aa", {"up"}, {}, std::chrono::seconds(60)),
                       doctest::Contains("is not in the engine"), EngineError);
}

TEST_CASE("engine watcher: a wait on VMs looks again when the event log has news - not on a schedule of its own") {
  // build01 takes 5 s scaled to 2 s to come up: the watcher reads the event
  // log about every 0.1 s meanwhile; the wait's own look (a VM read) is
  // made at once, once the log's end is known, and when the engine logs
  // that the VM started on its host (USER_RUN_VM, 32).
  LabEngine lab("examples/lab/three-hosts.yaml", 0.4);
  EngineClient c(lab.config());
  CallOptions o{"she-test:watch-vm", nullptr, nullptr};
  std::string id;
  for (auto& vm : c.list_vms(o))
    if (vm.name == "build01") id = vm.id;
  REQUIRE(!id.empty());
  c.start_vm(o, id);
  const size_t before = lab.server->request_log().all().size();
  int looks = 0;
  auto outcome = c.await_events(o, "VM build01 is up", std::chrono::seconds(60), [&] {
    ++looks;
    for (auto& vm : c.list_vms(o))
      if (vm.id == id) return vm.status == "up";
    return false;
  });
  CHECK(outcome == Poller::Outcome::Reached);
  Reads r = reads_in(lab.server->request_log().all(), before);
  CHECK(looks <= 3);
  CHECK(r.events >= 4);  // rounds went on between the looks
  CHECK(r.listings == 0);  // no host waits: the hosts are not listed
  bool logged = false;
  for (auto& e : lab.world.events_after(0))
    logged |= e.code == 32 && e.vm_id == id;
  CHECK(logged);
}

TEST_CASE("engine watcher: a wait that begins gets a round soon after the last - not at the next interval") {
  LabEngine lab("examples/lab/three-hosts.yaml", 0.03);
  CallOptions o{"she-test:watch-prompt", nullptr, nullptr};
  std::vector<std::string> ids = {lab.host_id("hosted_engine_3"), lab.host_id("host_4")};
  {
    EngineClient setup(lab.config());
    for (auto& id : ids) setup.deactivate(o, id, "watcher test");
    for (auto& id : ids) setup.wait_for_status(o, id, {"maintenance"}, {"error"}, std::chrono::seconds(60));
  }
  // Rounds an hour apart: only a wait that has just begun makes one soon.
  ClientConfig config = lab.config();
  config.watch.events = config.watch.safety = std::chrono::hours(1);
  EngineClient c(config);
  for (auto& id : ids) {
    c.remove(o, id, false);
    CHECK_NOTHROW(c.wait_for_removal(o, id, std::chrono::seconds(60)));
  }
  // One round each (its event-log read and listing): no more.
  EngineWatcher::Counts counts = c.watcher().counts();
  CHECK(counts.listings == 2);
  CHECK(counts.events == 2);
}
