// Rehearsing the Oracle VM procedures. An example plan naming its lab
// scenario (`lab:`) runs the way an operator rehearses: `she-restore
// examples/ovm/rehearse-*.yaml --yes` starts `she-lab serve` on the OVM
// scenario, runs the procedure against the lab's manager and servers for
// real, and stops the lab with the command. And the dry run is the run
// (design brief section 3): the writes a dry run shows are, as a multiset,
// the writes the lab's logs show for a real run on a fresh copy of the
// same scenario (the CLI's writing verbs, the hosts' writing commands).
#include <doctest/doctest.h>

#include <cstring>
#include <regex>
#include <set>
#include <sstream>

#include "hosts/ovm_cli_command.h"
#include "tests/ovm_lab.h"
#include "tests/test_support.h"

namespace she::test {

namespace fs = std::filesystem;

namespace {

/// Ids and placeholders made alike: a dry run cannot know the id a create
/// will get, and names it <...>.
std::string normalised(std::string s) {
  static const std::regex id(R"(0004fb[0-9a-f]{26})");
  static const std::regex placeholder(R"(<[^<>]*>)");
  static const std::regex stamp(R"(\d{8}T\d{6}Z)");
  s = std::regex_replace(s, id, "X");
  s = std::regex_replace(s, placeholder, "X");
  s = std::regex_replace(s, stamp, "X");
  s.erase(std::remove(s.begin(), s.end(), '\''), s.end());
  return s;
}

using Writes = std::multiset<std::string>;

/// The writes a dry run printed ("write  ssh HOST: COMMAND"); a transfer
/// by its parts, which follow it.
Writes shown_writes(const std::string& output) {
  Writes w;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    const size_t at = line.find_first_not_of(' ');
    if (at == std::string::npos || line.compare(at, 7, "write  ") != 0) continue;
    std::string what = line.substr(at + 7);
    if (what.rfind("copy ", 0) == 0 || what.rfind("local: ", 0) == 0) continue;
    if (what.rfind("ssh ", 0) == 0) what = what.substr(4);
    w.insert(normalised(what));
  }
  return w;
}

/// A command a lab host ran that changes something (unknown is a write).
bool command_writes(const std::string& host, const std::string& command) {
  if (host == "ovm_cli") return !she::ovm::cli_verb_reads(command.substr(0, command.find(' ')));
  const std::string first = command.substr(0, command.find(' '));
  if (first == "dd") return command.find(" of=") != std::string::npos;
  if (first == "multipath") return command != "multipath -ll";
  if (first == "tunefs.ocfs2") return command.rfind("tunefs.ocfs2 -Q", 0) != 0;
  if (first == "service") return command.find(" status") == std::string::npos;
  static const std::set<std::string> reads = {"cat", "test", "stat", "sha256sum", "true", "getent"};
  return reads.count(first) == 0;
}

/// What the lab's hosts logged as written.
Writes lab_writes(OvmLab& lab) {
  Writes w;
  for (const auto& h : lab.fleet.hosts()) {
    std::istringstream lines(read_file(h.agent_log));
    for (std::string line; std::getline(lines, line);) {
      auto entry = nlohmann::json::parse(line, nullptr, false);
      if (!entry.is_object() || !entry.contains("command") || !entry["command"].is_string()) continue;
      const std::string command = entry["command"];
      if (command_writes(h.name, command)) w.insert(normalised(h.name + ": " + command));
    }
  }
  return w;
}

std::string listing(const Writes& w) {
  std::string out;
  for (auto& x : w) out += "  " + x + "\n";
  return out;
}

/// Both ways: shown and not made, made and not shown ("" when equal).
std::string difference(const Writes& shown, Writes made) {
  Writes only_shown;
  for (const auto& s : shown) {
    auto it = made.find(s);
    if (it == made.end()) only_shown.insert(s);
    else made.erase(it);
  }
  if (only_shown.empty() && made.empty()) return "";
  return "shown by the dry run, not made by the run:\n" + listing(only_shown) +
         "made by the run, not shown by the dry run:\n" + listing(made);
}

struct OvmCase {
  const char* procedure;
  const char* scenario;
  const char* with;
};

}  // namespace

TEST_CASE("ovm rehearsal: each OVM procedure's dry run shows exactly the writes its run makes") {
  const OvmCase cases[] = {
      {"ovm-recreate-vms", "examples/ovm/lab/lost-vms.yaml",
       "  definitions: /srv/backups/ovm/vms.json\n  repositories: [slotreposan01]\n"},
      {"ovm-restore-vm-disk", "examples/ovm/lab/two-servers.yaml",
       "  vm: slot021\n  disk: slot021_xvdc.img\n  snapshot: slot021_xvdc.20130313\n  server: ovms01\n"},
      {"ovm-restore-repository", "examples/ovm/lab/lost-repository.yaml",
       "  backup: /srv/backups/ovm/slotreposan01\n  server: ovms01\n"},
      {"ovm-restore-manager", "examples/ovm/lab/lost-database.yaml",
       "  backup: AutoFullBackup-20161105_235900\n  repositories: [slotreposan01]\n"},
  };
  int octet = 210;  // each case: a lab of five hosts for the dry run, five for the run
  for (const OvmCase& c : cases) {
    CAPTURE(c.procedure);
    std::string dry_output;
    Writes shown, made_by_dry_run;
    {
      OvmLab lab(c.scenario, octet);
      ProcessResult dry = lab.dry_run(c.procedure, c.with);
      dry_output = dry.output;
      shown = shown_writes(dry.output);
      made_by_dry_run = lab_writes(lab);
    }
    OvmLab lab(c.scenario, octet + 5);
    octet += 10;
    ProcessResult run = lab.run(c.procedure, c.with);
    REQUIRE_MESSAGE(run.exit_code == 0, run.output);
    const Writes made = lab_writes(lab);
    CHECK_MESSAGE(made_by_dry_run.empty(), "the dry run wrote:\n" << listing(made_by_dry_run));
    CHECK_MESSAGE(!shown.empty(), dry_output);
    CHECK_MESSAGE(difference(shown, made).empty(), difference(shown, made) << dry_output);
  }
}

TEST_CASE("ovm rehearsal: a plan naming an OVM lab scenario - she-restore starts the lab and runs on it and stops it") {
  TempDir state;
  ProcessResult r = she_restore("examples/ovm/rehearse-recreate-vms.yaml --yes --state-dir '" + state.path().string() + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("lab: examples/ovm/lab/lost-vms.yaml is up") != std::string::npos);
  // The VMs the scenario lost were created through the lab manager's CLI.
  CHECK(r.output.find("create Vm name=slot021") != std::string::npos);
  CHECK(r.output.find("left for the operator: nothing") != std::string::npos);
  // The lab is gone with the command: its CLI port no longer listens.
  const size_t at = r.output.find("lab: listening ssh://");
  REQUIRE(at != std::string::npos);
  const size_t colon = r.output.find(':', at + std::strlen("lab: listening ssh://"));
  const size_t space = r.output.find(' ', colon);
  const size_t from = at + std::strlen("lab: listening ssh://");
  const std::string address = r.output.substr(from, colon - from);
  const int port = std::stoi(r.output.substr(colon + 1, space - colon - 1));
  REQUIRE(port > 0);
  CHECK(run("bash -c 'exec 3<>/dev/tcp/" + address + "/" + std::to_string(port) + "' 2>/dev/null").exit_code != 0);
}

TEST_CASE("ovm rehearsal: she-lab serve refuses an OVM scenario without its hosts or with an engine address") {
  // she-lab is built beside the test binaries: build/lab/she-lab.
  const fs::path she_lab = fs::path(SHE_TESTBED_BINARY).parent_path().parent_path() / "lab" / "she-lab";
  ProcessResult r = run("'" + she_lab.string() + "' serve examples/ovm/lab/two-servers.yaml --no-hosts");
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("an Oracle VM scenario is its hosts (no engine); drop --no-hosts") != std::string::npos);
  // An engine's listening address is refused too, not silently ignored.
  ProcessResult port = run("'" + she_lab.string() + "' serve examples/ovm/lab/two-servers.yaml --port 18443");
  CHECK(port.exit_code == 2);
  CHECK(port.output.find("has no engine to listen with --address or --port") != std::string::npos);
}

}  // namespace she::test
