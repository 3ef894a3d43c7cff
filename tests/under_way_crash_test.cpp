// A run killed (SIGKILL) while an effect it started is still under way on
// the far side: a reinstalled host the engine shows `installing`, a deploy
// unit still in engine-setup before its pause. The resumed run, the same
// command, must wait for that effect with the step's own verify: no
// question to the operator, no second add or deploy, no --break-lock.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <sstream>
#include <thread>

#include "tests/procedure_lab.h"

using namespace she;
using test::ProcedureLab;
namespace fs = std::filesystem;

namespace {

constexpr const char* kAnyVmRootPassword = "ENGINE_VM_ROOT_PASSWORD=";

/// Spawns the plan's run as ProcedureLab::run would, for a test to kill.
int spawn_run(ProcedureLab& lab, const std::string& procedure) {
  return test::spawn_she_restore(
      {(lab.dir.path() / (procedure + ".yaml")).string(), "--yes", "--state-dir", (lab.dir.path() / "state").string()},
      {std::string(kAnyVmRootPassword) + ProcedureLab::kAppliancePassword}, (lab.dir.path() / "killed.log").string());
}

/// What a resume that waited for an effect under way says, and what one
/// that gave up on it would.
void check_waited_without_asking(const test::ProcessResult& r) {
  CHECK_MESSAGE(r.exit_code == 0, r.output);
  CHECK_MESSAGE(r.output.find("under way when the run stopped") != std::string::npos, r.output);
  CHECK(r.output.find("waiting for the operator") == std::string::npos);
  CHECK(r.output.find("resolve:") == std::string::npos);
  CHECK(r.output.find("--break-lock") == std::string::npos);
}

/// Deploy units started on `host` (its agent's log: one "unit" line each).
int deploys(ProcedureLab& lab, const std::string& host) {
  std::istringstream lines(test::read_file(lab.fleet.host(host).agent_log));
  int n = 0;
  for (std::string line; std::getline(lines, line);)
    n += line.find("\"unit\"") != std::string::npos && line.find("--restore-from-file") != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("under way crash: killed while a reinstalled host is installing - the resumed run waits for it and adds it once") {
  ProcedureLab lab;
  const char* host = "hosted_engine_3";
  REQUIRE(lab.engine.world.set_host_status(host, lab::HostStatus::NonResponsive));
  // Installing lasts three real seconds, the rest is immediate: the kill
  // lands while the engine still shows the host installing, and the resume
  // finds it so.
  lab::Durations d;
  d.maintenance = d.activate = d.start_vm = 0;
  d.install = 3;
  lab.engine.world.set_durations(d);
  lab.engine.world.set_time_scale(1);
  const std::string with = "  keep: [hosted_engine_1]\n";
  lab.write_plan("she-remove-nonoperational", with);

  std::atomic<int> child{0};
  std::atomic<bool> killed{false};
  lab.engine.server->set_after_handle([&](const std::string& method, const std::string&) {
    auto h = lab.engine.world.host_by_name(host);
    if (method != "GET" || !h || h->status != lab::HostStatus::Installing || killed.exchange(true)) return;
    while (child.load() <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    test::kill_and_wait_dead(child.load());
  });
  test::ChildGuard guard;
  guard.pid = spawn_run(lab, "she-remove-nonoperational");
  child = guard.pid;
  CHECK(test::wait_child(guard.pid) == -SIGKILL);
  guard.pid = -1;
  lab.engine.server->set_after_handle({});
  REQUIRE(killed);
  REQUIRE(lab.engine.world.host_by_name(host)->status == lab::HostStatus::Installing);

  auto r = lab.run("she-remove-nonoperational", with);
  check_waited_without_asking(r);
  int adds = 0;
  for (auto& req : lab.engine.server->request_log().all())
    adds += req.method == "POST" && (req.path == "/ovirt-engine/api/hosts" || req.path.rfind("/ovirt-engine/api/hosts?", 0) == 0);
  CHECK(adds == 1);
  lab.check_restored_world({"web02"});
}

TEST_CASE("under way crash: killed while the deploy runs before its pause - the resumed run follows it and deploys once") {
  ProcedureLab lab;
  REQUIRE(lab.run("she-backup").exit_code == 0);
  lab.disaster();
  const char* failover = "hosted_engine_1";
  // engine-setup takes four seconds on the failover host, as a real one
  // takes minutes: the kill lands while the deploy unit runs.
  lab.fleet.set_faults(failover, R"({"deploy_hold_ms": 4000})");
  const std::string with = lab.restore_params();
  lab.write_plan("she-restore-failover", with);

  test::ChildGuard guard;
  guard.pid = spawn_run(lab, "she-restore-failover");
  bool started = false;
  for (int i = 0; i < 6000 && !started; ++i) {  // at most a minute
    started = deploys(lab, failover) > 0;
    if (!started) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE_MESSAGE(started, test::read_file(lab.dir.path() / "killed.log"));
  test::kill_and_wait_dead(guard.pid);
  CHECK(test::wait_child(guard.pid) == -SIGKILL);
  guard.pid = -1;

  auto r = lab.run("she-restore-failover", with);
  check_waited_without_asking(r);
  CHECK(deploys(lab, failover) == 1);
  lab.check_restored_world({"db01", "web01"});
}
