// A manual fence interrupted at the worst instants, on the host where only
// the engine's record can tell whether it happened: a non-responsive
// hosted-engine host with no VMs and no SPM role looks the same fenced or
// not. The lab engine's test hooks kill she-restore (SIGKILL) exactly when
// the fence request has been handled but before the reply leaves, and, as
// the counter-case, when it arrives but before the engine handles it. The
// resumed run must neither skip the fence (it was not made) nor repeat it
// (it was): its probe, the engine's event 494 with this run's
// Correlation-Id, decides.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

#include "orchestrator/journal.h"
#include "orchestrator/run_state.h"
#include "tests/procedure_lab.h"

using namespace she;
using test::ProcedureLab;
namespace fs = std::filesystem;

namespace {

constexpr const char* kProcedure = "she-remove-nonoperational";
constexpr const char* kWith = "  keep: [hosted_engine_1]\n";
constexpr const char* kBareHost = "hosted_engine_3";

/// examples/lab/three-hosts.yaml with hosted_engine_3's VMs (app01, app02)
/// on host_4 instead: the host to fence then runs nothing and holds no SPM
/// role (host_4 does), so a fence leaves no trace on its VMs or the DC.
fs::path bare_host_scenario(const fs::path& dir) {
  std::string yaml = test::read_file(test::source_path("examples/lab/three-hosts.yaml"));
  const std::string from = std::string("host: ") + kBareHost + ",";
  int moved = 0;
  for (size_t at; (at = yaml.find(from)) != std::string::npos; ++moved) yaml.replace(at, from.size(), "host: host_4,");
  REQUIRE(moved == 2);
  fs::path out = dir / "three-hosts-bare-he3.yaml";
  test::write_file(out, yaml);
  return out;
}

struct FenceCrash {
  test::TempDir scenario_dir;
  ProcedureLab lab{bare_host_scenario(scenario_dir.path()).string()};
  std::string host_id = lab.engine.host_id(kBareHost);
  std::string fence_path = "/ovirt-engine/api/hosts/" + host_id + "/fence";
  std::atomic<int> child{0};
  std::atomic<bool> killed{false};
  std::atomic<int> fence_arrivals{0};

  FenceCrash() {
    auto h = lab.engine.world.host_by_name(kBareHost);
    REQUIRE(h);
    REQUIRE(h->spm == lab::SpmStatus::None);
    for (const auto& vm : lab.engine.world.vms()) REQUIRE_MESSAGE(vm.host_id != host_id, vm.name << " runs on it");
    REQUIRE(lab.engine.world.set_host_status(kBareHost, lab::HostStatus::NonResponsive));
    lab.write_plan(kProcedure, kWith);
  }
  ~FenceCrash() {
    lab.engine.server->set_before_handle({});
    lab.engine.server->set_after_handle({});
  }

  fs::path state() const { return lab.dir.path() / "state"; }

  /// Kills the child the first time the fence request for the bare host
  /// reaches this point (the resumed run is let through).
  void kill_at_fence(const std::string& method, const std::string& path) {
    if (method != "POST" || path != fence_path) return;
    ++fence_arrivals;
    if (killed.exchange(true)) return;
    while (child.load() <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    test::kill_and_wait_dead(child.load());
  }

  /// The first run, killed by the hook; returns how it ended (-SIGKILL).
  int run_killed() {
    test::ChildGuard guard;
    guard.pid = test::spawn_she_restore(
        {(lab.dir.path() / (std::string(kProcedure) + ".yaml")).string(), "--yes", "--state-dir", state().string()},
        {std::string("ENGINE_VM_ROOT_PASSWORD=") + ProcedureLab::kAppliancePassword},
        (lab.dir.path() / "killed.log").string());
    child = guard.pid;
    int rc = test::wait_child(guard.pid);
    guard.pid = -1;
    MESSAGE("killed run's output:\n" << test::read_file(lab.dir.path() / "killed.log"));
    return rc;
  }

  /// The same command again: the dead run's lock is taken over (its
  /// holder is provably gone on this machine), never --break-lock.
  test::ProcessResult resume() {
    auto r = lab.run(kProcedure, kWith);
    CHECK_MESSAGE(r.exit_code != 6, r.output);
    return r;
  }

  std::vector<Value> journal() {
    std::vector<Value> records;
    std::string warning, err;
    for (auto& e : fs::directory_iterator(state() / kProcedure))
      if (e.is_directory()) REQUIRE_MESSAGE(Journal::read((e.path() / "journal").string(), &records, &warning, &err), err);
    return records;
  }

  /// The fence step's records for the bare host, in journal order.
  std::vector<Value> fence_records() {
    std::vector<Value> out;
    for (auto& r : journal())
      if (r.is_object() && r.value("step", "") == "fence") out.push_back(r);
    return out;
  }

  /// The engine's manual-fence events (494) for the bare host.
  std::vector<lab::Event> fence_events() {
    std::vector<lab::Event> out;
    for (auto& e : lab.engine.world.events_after(0))
      if (e.code == 494 && e.host_name == kBareHost) out.push_back(e);
    return out;
  }

  /// What every trial ends with: one fence, one removal, the host back as a
  /// hosted-engine host, every VM up where it was.
  void check_end() {
    CHECK(lab.engine.count("POST", fence_path) == 1);
    CHECK(lab.engine.count("DELETE", "/ovirt-engine/api/hosts/" + host_id) == 1);
    auto events = fence_events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].correlation_id.rfind("she-", 0) == 0);
    CHECK(events[0].correlation_id.find("-fence") != std::string::npos);
    lab.check_restored_world({"web02", "app01", "app02"});
    auto back = lab.engine.world.host_by_name(kBareHost);
    REQUIRE(back);
    CHECK(back->id != host_id);  // removed and added again
  }
};

}  // namespace

TEST_CASE("fence crash: killed after the engine fenced a host with no VMs and no SPM role before the reply - the resumed run neither skips nor repeats the fence") {
  FenceCrash t;
  t.lab.engine.server->set_after_handle(
      [&t](const std::string& method, const std::string& path) { t.kill_at_fence(method, path); });
  REQUIRE(t.run_killed() == -SIGKILL);
  REQUIRE(t.killed);
  // The engine acted: fenced once, its event carries the run's id.
  REQUIRE(t.fence_events().size() == 1);
  REQUIRE(t.lab.engine.count("POST", t.fence_path) == 1);
  // The journal saw the fence start and never end.
  auto before = t.fence_records();
  REQUIRE(!before.empty());
  CHECK(before.back().value("t", "") == std::string(rec::kStepStarted));

  auto r = t.resume();
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(t.fence_arrivals == 1);  // the resumed run did not send it again
  t.check_end();
  // Not skipped: settled by its probe, which found our event.
  CHECK(r.output.find("already in place (checked by its probe)") != std::string::npos);
  bool settled = false;
  for (auto& record : t.fence_records())
    if (record.value("t", "") == std::string(rec::kStepSucceeded))
      settled = record.value("note", "") == "already in place (checked by its probe)";
  CHECK_MESSAGE(settled, r.output);
  t.lab.check_no_secret_leaked(r.output);
}

TEST_CASE("fence crash: killed as the fence request arrives before the engine handles it - the resumed run's probe finds no event of ours and fences once") {
  FenceCrash t;
  t.lab.engine.server->set_before_handle([&t](const std::string& method, const std::string& path) {
    t.kill_at_fence(method, path);
    // The killed run's request is dropped: it never reaches the engine.
    return !(method == "POST" && path == t.fence_path && t.fence_arrivals == 1);
  });
  REQUIRE(t.run_killed() == -SIGKILL);
  REQUIRE(t.killed);
  REQUIRE(t.fence_events().empty());
  REQUIRE(t.lab.engine.count("POST", t.fence_path) == 0);
  auto before = t.fence_records();
  REQUIRE(!before.empty());
  CHECK(before.back().value("t", "") == std::string(rec::kStepStarted));

  auto r = t.resume();
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(t.fence_arrivals == 2);  // the killed run's (dropped) and the resumed run's
  t.check_end();
  // Not settled by the probe: it found nothing of ours, so the fence ran.
  CHECK(r.output.find("already in place (checked by its probe)") == std::string::npos);
  int started = 0;
  bool ran = false;
  for (auto& record : t.fence_records()) {
    if (record.value("t", "") == std::string(rec::kStepStarted)) ++started;
    if (record.value("t", "") == std::string(rec::kStepSucceeded)) ran = !record.contains("note");
  }
  CHECK(started == 2);
  CHECK_MESSAGE(ran, r.output);
}
