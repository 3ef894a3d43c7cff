// The crash campaign on the real procedure: the shipped failover restore on
// the six-host lab, killed with SIGKILL after every step and at 30 random
// instants, then resumed until done. The world must end as an uninterrupted
// run leaves it, and no destructive call (fence, remove, add, install, the
// deploy) may be made more often than in that run.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "orchestrator/journal.h"
#include "tests/procedure_lab.h"

using namespace she;
using test::ProcedureLab;
namespace fs = std::filesystem;

namespace {

constexpr const char* kScenario = "examples/lab/six-hosts.yaml";
constexpr const char* kEnv = "ENGINE_VM_ROOT_PASSWORD=Appliance-Root-9";

/// The world as the acceptance compares it: hosts, their status, HA score
/// and SPM role, VMs and their status, where the engine VM runs, the
/// engine's health. Left out: generated ids, events and times, and what two
/// uninterrupted runs may already differ in: which reinstalled host gets
/// which free hosted-engine id, and where the scheduler starts a VM.
std::string world_summary(lab::World& w) {
  std::map<std::string, std::string> host_names;
  for (const auto& h : w.hosts()) host_names[h.id] = h.name;
  std::vector<std::string> lines;
  for (const auto& h : w.hosts())
    lines.push_back(fmt::format("host {} {} spm={} hosted_engine={} score={}", h.name, lab::to_string(h.status),
                                lab::to_string(h.spm), h.hosted_engine.has_value(),
                                h.hosted_engine ? h.hosted_engine->score : 0));
  for (const auto& v : w.vms())
    lines.push_back(fmt::format("vm {} {}{}", v.name, lab::to_string(v.status),
                                v.is_hosted_engine() ? " on " + host_names[v.host_id] : ""));
  for (const auto& dc : w.data_centers()) lines.push_back(fmt::format("dc {} {}", dc.name, lab::to_string(dc.status)));
  lines.push_back(fmt::format("engine health={} running={}", w.engine().health_up, w.engine().running));
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (auto& l : lines) out += l + "\n";
  return out;
}

/// Destructive calls since `from` in the engine's request log, by kind, and
/// the deploys started on the hosts (their agents' logs).
std::map<std::string, int> destructive_calls(ProcedureLab& lab, size_t from) {
  std::map<std::string, int> n;
  auto log = lab.engine.server->request_log().all();
  for (size_t i = from; i < log.size(); ++i) {
    const auto& r = log[i];
    if (r.status == 0) continue;  // the engine was off: nothing happened
    if (r.method == "DELETE") ++n["remove " + std::to_string(r.status)];
    if (r.method != "POST") continue;
    for (const char* action : {"/fence", "/install", "/deactivate", "/activate", "/start"})
      if (r.path.find(action) != std::string::npos) ++n[std::string(action + 1) + " " + std::to_string(r.status)];
    if (r.path.rfind("/ovirt-engine/api/hosts?", 0) == 0 || r.path == "/ovirt-engine/api/hosts")
      ++n["add " + std::to_string(r.status)];
  }
  for (const auto& h : lab.fleet.hosts()) {
    std::istringstream lines(test::read_file(h.agent_log));
    for (std::string line; std::getline(lines, line);) {
      auto entry = nlohmann::json::parse(line, nullptr, false);
      if (entry.is_object() && entry.contains("unit") && entry.dump().find("--restore-from-file") != std::string::npos)
        ++n["deploy on " + h.name];
    }
  }
  return n;
}

std::string text_of(const std::map<std::string, int>& m) {
  std::string out;
  for (auto& [k, v] : m) out += k + "=" + std::to_string(v) + " ";
  return out;
}

/// A fresh six-host lab after the disaster, with the campaign's backup in
/// its backup storage; `requests_before` marks where the restore begins.
struct Trial {
  ProcedureLab lab{kScenario};
  size_t requests_before = 0;
  std::string with;

  Trial(const fs::path& archive, const fs::path& manifest) {
    fs::path stored = lab.fleet.host("backup_storage").sandbox / "srv/backups/engine";
    fs::create_directories(stored);
    fs::copy_file(archive, stored / archive.filename());
    fs::copy_file(manifest, stored / manifest.filename());
    lab.disaster();
    requests_before = lab.engine.server->request_log().all().size();
    with = "  backup: " + archive.filename().string() +
           "\n  storage_connection: nfs.example.com:/exports/he\n  target_version: 4.5.6\n"
           "  high_priority_vms: [db01, app02]\n";
    lab.write_plan("she-restore-failover", with);
  }

  fs::path plan() const { return lab.dir.path() / "she-restore-failover.yaml"; }
  fs::path state() const { return lab.dir.path() / "state"; }

  test::ProcessResult run(const std::string& extra_env = "", const std::string& flags = "") {
    return test::she_restore("'" + plan().string() + "' --yes --state-dir '" + state().string() + "' " + flags,
                             std::string(kEnv) + " " + extra_env);
  }

  /// Resumes the killed run until it succeeds (at most 8 times), with the
  /// same command: no question, no --break-lock (the dead run's lock is
  /// taken over).
  bool resume_until_done(std::string* why) {
    for (int round = 0; round < 8; ++round) {
      auto r = run();
      if (r.exit_code == 0) return true;
      *why = "resume exited " + std::to_string(r.exit_code) + ":\n" + r.output;
      if (r.exit_code != 5) return false;  // only an interruption may be resumed again
    }
    *why = "not done after 8 resumes";
    return false;
  }

  fs::path journal() const {
    for (auto& e : fs::directory_iterator(state() / "she-restore-failover"))
      if (e.is_directory()) return e.path() / "journal";
    return {};
  }
};

/// The campaign's backup (taken once), its uninterrupted restore, and the
/// check every killed trial must pass once resumed.
struct Campaign {
  test::TempDir keep;
  fs::path archive, manifest;
  std::string expected_world;
  std::map<std::string, int> expected_calls;
  std::vector<int> boundaries;  // journal records written when a step has just ended
  long long baseline_ms = 0;

  Campaign() {
    {
      ProcedureLab source{kScenario};
      auto b = source.run("she-backup");
      REQUIRE_MESSAGE(b.exit_code == 0, b.output);
      for (auto& e : fs::directory_iterator(source.fleet.host("backup_storage").sandbox / "srv/backups/engine")) {
        fs::copy_file(e.path(), keep.path() / e.path().filename());
        (e.path().extension() == ".backup" ? archive : manifest) = keep.path() / e.path().filename();
      }
    }
    REQUIRE(!archive.empty());
    Trial t(archive, manifest);
    auto t0 = std::chrono::steady_clock::now();
    auto r = t.run();
    baseline_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    expected_world = world_summary(t.lab.engine.world);
    expected_calls = destructive_calls(t.lab, t.requests_before);
    boundaries = test::step_boundaries(t.journal());
    CHECK(expected_world.find("HostedEngine up on hosted_engine_1") != std::string::npos);
    CHECK(expected_calls["deploy on hosted_engine_1"] == 1);
    MESSAGE("uninterrupted: " << baseline_ms << " ms, " << boundaries.size() << " step boundaries; calls: "
                              << text_of(expected_calls));
  }

  void check(Trial& t, const std::string& where) {
    CAPTURE(where);
    std::string why;
    REQUIRE_MESSAGE(t.resume_until_done(&why), why);
    CHECK(world_summary(t.lab.engine.world) == expected_world);
    auto calls = destructive_calls(t.lab, t.requests_before);
    for (auto& [kind, n] : calls) {
      CAPTURE(kind);
      CHECK_MESSAGE(n <= expected_calls[kind], "calls: " << text_of(calls) << " expected: " << text_of(expected_calls));
    }
  }
};

}  // namespace

TEST_CASE("procedures crash campaign: the failover restore on six hosts killed after every step - resumed to the same end with no extra destructive call") {
  Campaign c;
  REQUIRE(c.boundaries.size() >= 20);
  for (int k : c.boundaries) {
    Trial t(c.archive, c.manifest);
    auto r = t.run("SHE_RESTORE_TEST_KILL_AFTER_RECORDS=" + std::to_string(k));
    REQUIRE_MESSAGE(r.exit_code != 0, "not killed after record " << k);
    c.check(t, "killed after journal record " + std::to_string(k));
  }
}

TEST_CASE("procedures crash campaign: the failover restore on six hosts killed at 30 random instants - resumed to the same end with no extra destructive call") {
  Campaign c;
  const unsigned seed = std::random_device{}();
  MESSAGE("random kills: seed " << seed << " (a failure names it)");
  std::mt19937 rng(seed);
  std::uniform_int_distribution<long long> when(0, c.baseline_ms);
  for (int i = 0; i < 30; ++i) {
    Trial t(c.archive, c.manifest);
    long long delay = when(rng);
    int pid = test::spawn_she_restore({t.plan().string(), "--yes", "--state-dir", t.state().string()}, {kEnv},
                                      (t.lab.dir.path() / "killed.log").string());
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    ::kill(pid, SIGKILL);
    test::wait_child(pid);
    c.check(t, "killed " + std::to_string(delay) + " ms in (seed " + std::to_string(seed) + ")");
  }
}
