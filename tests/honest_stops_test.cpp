// Signals and timeouts obeyed in the middle of a call: a run stopped by
// SIGTERM or SIGINT while a request waits on a slow engine, or while a long
// command runs on a host, exits 5 at once and sends nothing after the
// signal; a step's timeout holds against an engine that does not answer;
// a burst of 503s does not fail a wait that has time left. Real parts: the
// lab engine over HTTPS, lab hosts as real sshd, she-restore as a process.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "engine_api/client.h"
#include "lab/iso_time.h"
#include "tests/lab_hosts_fixture.h"

using namespace she;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

/// A plan of engine reads and a host command in the lab, its state directory beside it.
struct StopPlan {
  test::LabHosts& lab;
  fs::path plan, state;

  StopPlan(test::LabHosts& l, const std::string& steps) : lab(l) {
    fs::path env = test::lab_hosts_environment(lab);
    plan = lab.engine.dir.path() / "plan.yaml";
    state = lab.engine.dir.path() / "state";
    test::write_file(plan, "plan: stops\nenvironment: " + env.string() + "\nsteps:\n" + steps);
  }

  int spawn(const std::string& log) const {
    test::write_file(log, "");
    return test::spawn_she_restore({plan.string(), "--state-dir", state.string()}, {}, log);
  }
  test::ProcessResult run() const {
    return test::she_restore("'" + plan.string() + "' --state-dir '" + state.string() + "'");
  }
  /// Signals the spawned run and checks it stops as an interruption: exit
  /// 5 within 2 s, no step reporting it as its failure, `interrupted`
  /// journaled. Returns its output.
  std::string interrupt(test::ChildGuard& child, int sig, const std::string& log) const {
    const auto sent = std::chrono::steady_clock::now();
    ::kill(child.pid, sig);
    const int code = test::wait_child(child.pid);
    const auto took = std::chrono::steady_clock::now() - sent;
    child.pid = -1;
    const std::string out = test::read_file(log);
    CHECK_MESSAGE(code == 5, out);
    CHECK_MESSAGE(took < std::chrono::seconds(2),
                  std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    CHECK_MESSAGE(out.find("failed (") == std::string::npos, out);
    CHECK(journal().find("\"t\":\"interrupted\"") != std::string::npos);
    return out;
  }

  std::string journal() const {
    std::string all;
    for (auto& e : fs::recursive_directory_iterator(state))
      if (e.path().filename() == "journal") all += test::read_file(e.path());
    return all;
  }
};

bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  for (auto until = Clock::now() + limit; Clock::now() < until; std::this_thread::sleep_for(10ms))
    if (done()) return true;
  return done();
}

// Logs in and reads, then reads again: the second read is the one held.
const char* kEngineSteps =
    "  - id: up\n    uses: engine.hosts.select\n    with: {status: [up]}\n"
    "  - id: maintenance\n    uses: engine.hosts.select\n    with: {status: [maintenance]}\n";

}  // namespace

TEST_CASE("signals: SIGTERM or SIGINT while an engine request waits on a slow engine - exit 5 within 2 s - nothing sent after it - resume finishes") {
  for (int sig : {SIGTERM, SIGINT}) {
    CAPTURE(sig);
    test::LabHosts lab;
    StopPlan p(lab, kEngineSteps);
    // Logged in and past its first read, the engine turns slow (20 s a
    // request) as the second read arrives: that one is in flight, holding
    // a token the run would otherwise log out with.
    std::mutex mutex;
    std::vector<std::string> arrivals;
    int reads = 0;
    lab.engine.server->set_before_handle([&](const std::string& method, const std::string& path) {
      std::lock_guard<std::mutex> lock(mutex);
      arrivals.push_back(lab::iso_time(std::chrono::system_clock::now()) + " " + method + " " + path);
      if (method == "GET" && path == "/ovirt-engine/api/hosts" && ++reads == 2) {
        lab::Faults slow = lab.engine.world.faults();
        slow.slow_ms = 20000;
        lab.engine.world.set_faults(slow);
      }
      return true;
    });
    auto held = [&] {
      std::lock_guard<std::mutex> lock(mutex);
      return reads == 2;
    };
    const std::string log = (lab.engine.dir.path() / "run.log").string();
    test::ChildGuard child{p.spawn(log)};
    REQUIRE_MESSAGE(wait_for(held, 20s), test::read_file(log));
    std::this_thread::sleep_for(300ms);  // well inside the request
    const std::string signalled = lab::iso_time(std::chrono::system_clock::now());
    const std::string out = p.interrupt(child, sig, log);
    {
      std::lock_guard<std::mutex> lock(mutex);
      for (auto& a : arrivals) CHECK_MESSAGE(a < signalled, a << " (signal at " << signalled << ")");
    }
    // Stopping the server ends the held request, which the log then shows
    // as it arrived: before the signal, and nothing after it (no logout).
    lab.engine.server->stop();
    for (auto& r : lab.engine.server->request_log().all())
      CHECK_MESSAGE(r.time < signalled, r.method << " " << r.path << " at " << r.time);
    CHECK(lab.engine.count("POST", "/ovirt-engine/services/sso-logout") == 0);

    lab.engine.server->set_before_handle({});
    lab.engine.world.set_faults({});
    REQUIRE(lab.engine.server->start("127.0.0.1", lab.engine.port) == lab.engine.port);
    auto resumed = p.run();
    CHECK_MESSAGE(resumed.exit_code == 0, resumed.output);
    CHECK(p.journal().find("\"t\":\"run_finished\"") != std::string::npos);
  }
}

TEST_CASE("timeouts: a step of 3s against an engine that does not answer ends by 5 s and says timeout") {
  test::LabHosts lab;
  StopPlan p(lab, "  - id: up\n    uses: engine.hosts.select\n    timeout: 3s\n    with: {status: [up]}\n");
  lab::Faults slow = lab.engine.world.faults();
  slow.slow_ms = 20000;
  lab.engine.world.set_faults(slow);
  const auto start = Clock::now();
  auto r = p.run();
  const auto took = Clock::now() - start;
  CHECK_MESSAGE(r.exit_code == 1, r.output);
  CHECK_MESSAGE(took >= 3s, std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK_MESSAGE(took < 5s, std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK_MESSAGE(r.output.find("timed out after 3s") != std::string::npos, r.output);
  CHECK(p.journal().find("\"class\":\"timeout\"") != std::string::npos);
}

TEST_CASE("waits: a burst of 503s answered to a wait's reads is retried inside its timeout - a plain read still gives up") {
  test::LabEngine lab;
  engine_api::EngineClient client(lab.config());
  engine_api::CallOptions call;
  const std::string id = lab.host_id("hosted_engine_1");
  client.deactivate(call, id, "test");
  lab::Faults burst = lab.world.faults();
  burst.http_503_count = 8;  // twice the read attempts a plain read makes
  burst.http_503_methods = {"GET"};
  lab.world.set_faults(burst);
  engine_api::Host h = client.wait_for_status(call, id, {"maintenance"}, {"error"}, 30s);
  CHECK(h.status == "maintenance");
  int refused = 0;
  for (auto& r : lab.server->request_log().all()) refused += r.status == 503;
  CHECK(refused == 8);
  // Outside a wait a read keeps its few attempts: the step's retry decides.
  lab.world.set_faults(burst);
  CHECK_THROWS_AS(client.get_host(call, id), engine_api::EngineError);
}

TEST_CASE("signals: SIGINT during a long command on a host - exit 5 within 2 s - no false failure - resume finishes") {
  test::LabHosts lab;
  StopPlan p(lab, "  - id: nap\n    uses: ssh.run\n    with: {host: engine, command: [sleep, '30']}\n"
                  "  - id: after\n    uses: ssh.run\n    with: {host: engine, command: [true]}\n");
  const std::string log = (lab.engine.dir.path() / "run.log").string();
  test::ChildGuard child{p.spawn(log)};
  REQUIRE_MESSAGE(wait_for([&] { return lab.agent_log("engine").find("sleep 30") != std::string::npos; }, 20s),
                  test::read_file(log));
  std::this_thread::sleep_for(300ms);
  const std::string out = p.interrupt(child, SIGINT, log);
  // ssh.run is a `once` step: cut short in flight, it may have acted, so
  // resume asks about that attempt (never a failure, never repeated blindly).
  fs::path answers = lab.engine.dir.path() / "answers.yaml";
  test::write_file(answers, "'resolve:nap@1': done\n");
  auto resumed = test::she_restore("'" + p.plan.string() + "' --answers '" + answers.string() + "' --state-dir '" +
                                   p.state.string() + "'");
  CHECK_MESSAGE(resumed.exit_code == 0, resumed.output);
  CHECK(resumed.output.find("confirmed done by the operator") != std::string::npos);
}

TEST_CASE("typed values: one made of an earlier step's output is checked when the step runs - refused before any command") {
  test::LabHosts lab;
  fs::path env = test::lab_hosts_environment(lab);
  fs::path plan = lab.engine.dir.path() / "plan.yaml";
  // What a host answered becomes a path: validation could not see it.
  test::write_file(plan, "plan: typed\nenvironment: " + env.string() +
                             "\nsteps:\n  - id: answer\n    uses: test.value\n    with: {value: ../../etc/shadow}\n"
                             "  - id: wipe\n    uses: file.absent\n    with: {host: engine, path: '/srv/${steps.answer.value}'}\n");
  auto r = test::testbed("'" + plan.string() + "' --state-dir '" + (lab.engine.dir.path() / "state").string() + "'");
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.output.find("the step's parameters break a rule: path is not a remote path") != std::string::npos,
                r.output);
  CHECK(lab.agent_log("engine").find("shadow") == std::string::npos);  // nothing reached the host
}
