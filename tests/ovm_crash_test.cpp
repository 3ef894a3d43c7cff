// The crash campaign on ovm-recreate-vms: killed with SIGKILL after every
// journal record, then resumed until done. Every VM ends defined once, with
// its MACs and its disks in their slots, and no create reaches the
// manager more often than in an uninterrupted run.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <thread>

#include <map>
#include <sstream>

#include "orchestrator/journal.h"
#include "tests/ovm_lab.h"

namespace she::test {

namespace {

constexpr const char* kWith = "  definitions: /srv/backups/ovm/vms.json\n  repositories: [slotreposan01]\n";

/// VMs, vNICs and mappings as the manager's database has them, names only.
std::string world_summary(lab::ovm::OvmWorld w) {
  std::vector<std::string> lines;
  for (auto* vm : w.all("Vm")) {
    std::string line = "vm " + (*vm)["name"].get<std::string>();
    for (auto& id : (*vm)["vnics"]) line += " mac=" + (*w.by_id(id.get<std::string>()))["name"].get<std::string>();
    for (auto& id : (*vm)["mappings"]) {
      auto* m = w.by_id(id.get<std::string>());
      line += " slot" + std::to_string((*m)["slot"].get<int>()) + "=" + (*w.by_id((*m)["disk"].get<std::string>()))["file"].get<std::string>();
    }
    lines.push_back(line);
  }
  lines.push_back("vnics " + std::to_string(w.all("Vnic").size()) + " mappings " + std::to_string(w.all("VmDiskMapping").size()));
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (auto& l : lines) out += l + "\n";
  return out;
}

/// The creating commands the lab's CLI saw, one entry per command line.
std::map<std::string, int> creates(OvmLab& lab) {
  std::map<std::string, int> n;
  std::istringstream lines(read_file(lab.fleet.host("ovm_cli").agent_log));
  for (std::string line; std::getline(lines, line);) {
    auto e = nlohmann::json::parse(line, nullptr, false);
    if (!e.is_object() || !e.contains("command")) continue;
    std::string c = e["command"];
    if (c.rfind("create ", 0) == 0 || c.rfind("add ", 0) == 0) ++n[c];
  }
  return n;
}

/// Runs the plan again until it ends: the last run's result (only an
/// interruption, exit 5, is resumed once more).
ProcessResult resume_to_end(OvmLab& lab) {
  ProcessResult r;
  for (int round = 0; round < 6; ++round) {
    r = lab.run("ovm-recreate-vms", kWith);
    if (r.exit_code != 5) break;
  }
  return r;
}

fs::path journal_of(OvmLab& lab) {
  for (auto& e : fs::directory_iterator(lab.dir.path() / "state" / "ovm-recreate-vms"))
    if (e.is_directory()) return e.path() / "journal";
  return {};
}

}  // namespace

TEST_CASE("ovm crash campaign: ovm-recreate-vms killed after every journal record - resumed to the same VMs and no VM created twice") {
  std::string expected;
  std::vector<int> boundaries;
  {
    OvmLab lab("examples/ovm/lab/lost-vms.yaml", 140);
    auto r = lab.run("ovm-recreate-vms", kWith);
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    expected = world_summary(lab.world());
    for (auto& [cmd, n] : creates(lab)) CHECK_MESSAGE(n == 1, cmd);
    std::vector<Value> records;
    std::string warning, err;
    REQUIRE(Journal::read(journal_of(lab).string(), &records, &warning, &err));
    for (size_t i = 1; i < records.size(); ++i) boundaries.push_back(static_cast<int>(i));
  }
  CHECK(expected.find("vm slot021 mac=00:21:f6:01:00:15 mac=00:21:f6:01:00:16 slot0=slot021_xvda.img slot2=slot021_xvdc.img") !=
        std::string::npos);
  REQUIRE(boundaries.size() >= 4);
  for (int k : boundaries) {
    CAPTURE(k);
    OvmLab lab("examples/ovm/lab/lost-vms.yaml", 144);
    auto killed = lab.run("ovm-recreate-vms", kWith, "", "SHE_RESTORE_TEST_KILL_AFTER_RECORDS=" + std::to_string(k));
    REQUIRE_MESSAGE(killed.exit_code != 0, "not killed after record " << k);
    const ProcessResult resumed = resume_to_end(lab);
    REQUIRE_MESSAGE(resumed.exit_code == 0, resumed.output);
    CHECK(world_summary(lab.world()) == expected);
    for (auto& [cmd, n] : creates(lab)) CHECK_MESSAGE(n == 1, cmd << " sent " << n << " times");
  }
}

TEST_CASE("ovm crash campaign: ovm-recreate-vms killed right after each of its CLI writes - resumed with no VM vNIC or mapping created twice") {
  std::string expected;
  int writes = 0;
  {
    OvmLab lab("examples/ovm/lab/lost-vms.yaml", 148);
    auto r = lab.run("ovm-recreate-vms", kWith);
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    expected = world_summary(lab.world());
    writes = lab.cli_writes();
  }
  REQUIRE(writes >= 8);
  for (int n = 1; n <= writes; ++n) {
    CAPTURE(n);
    OvmLab lab("examples/ovm/lab/lost-vms.yaml", 152);
    const fs::path plan = lab.write_plan("ovm-recreate-vms", kWith);
    int pid = spawn_she_restore({plan.string(), "--yes", "--state-dir", (lab.dir.path() / "state").string()}, {},
                                (lab.dir.path() / "killed.log").string());
    // Killed once the lab's manager has answered its n-th write: inside the
    // step, between one CLI command and the next.
    for (int i = 0; i < 600 && lab.cli_writes() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ::kill(pid, SIGKILL);
    wait_child(pid);
    const ProcessResult resumed = resume_to_end(lab);
    REQUIRE_MESSAGE(resumed.exit_code == 0, resumed.output);
    CHECK(world_summary(lab.world()) == expected);
    for (auto& [cmd, count] : creates(lab)) CHECK_MESSAGE(count == 1, cmd << " sent " << count << " times");
  }
}

}  // namespace she::test
