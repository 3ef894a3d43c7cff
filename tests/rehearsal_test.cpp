// The rehearsal is the run (design brief section 3): a dry run is the
// steps' own code with a runner that records writes, so the writes it shows
// are the writes the run makes. Checked against independent evidence: the
// lab engine's request log and the lab hosts' command logs of a real run
// on a fresh copy of the same scenario.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <cstring>
#include <map>
#include <regex>
#include <sstream>

#include "lab/postgres_server.h"
#include "lab/staged_disaster.h"
#include "tests/procedure_lab.h"
#include "tests/test_support.h"

namespace she::test {

namespace {

/// Ids, run ids and placeholders made alike: what differs between a dry
/// run and a run by nature, not by what is done.
std::string normalised(std::string s) {
  static const std::regex uuid(R"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})");
  static const std::regex placeholder(R"(<[^<>]*>)");
  static const std::regex run_id(R"(\d{4}-\d{8}T\d{6}Z?(-[0-9a-z]+)?)");
  // A placeholder stands where the run's id, a host's id, goes: all are X.
  s = std::regex_replace(s, uuid, "X");
  s = std::regex_replace(s, placeholder, "X");
  s = std::regex_replace(s, run_id, "X");
  // A placeholder needs quoting for the shell where the value does not,
  // also inside a quoted `sh -c` script, where a quote is written '\''.
  s = std::regex_replace(s, std::regex(R"('\\'')"), "'");
  s.erase(std::remove(s.begin(), s.end(), '\''), s.end());
  return s;
}

using Writes = std::multiset<std::string>;

/// The writes a dry run printed: "write  METHOD PATH" and "write  ssh HOST:
/// COMMAND" lines; a transfer is counted by its parts.
Writes shown_writes(const std::string& output) {
  Writes w;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    size_t at = line.find_first_not_of(' ');
    if (at == std::string::npos || line.compare(at, 7, "write  ") != 0) continue;
    std::string what = line.substr(at + 7);
    if (what.rfind("copy ", 0) == 0) continue;  // its parts follow
    // The orchestrator's own files (the freshness file) never reach the
    // lab; retention_test.cpp checks what the run writes there.
    if (what.rfind("local: ", 0) == 0) continue;
    if (what.rfind("ssh ", 0) == 0) what = what.substr(4);
    w.insert(normalised(what));
  }
  return w;
}

/// A command the lab hosts ran that changes something: anything but the
/// reads below (conservative, like the runner: unknown is a write).
bool command_writes(const std::string& command) {
  std::string first = command.substr(0, command.find(' '));
  if (first == "dd") return command.find(" of=") != std::string::npos;
  if (first == "hostname") return command != "hostname";
  if (first == "hosted-engine") return command.rfind("hosted-engine --vm-status", 0) != 0;
  if (first == "systemctl")
    return command.rfind("systemctl is-active", 0) != 0 && command.rfind("systemctl show", 0) != 0;
  if (first == "screen") return command.rfind("screen -ls", 0) != 0;
  // The postgres.* steps' probes: one select as the superuser.
  if (first == "runuser")
    return command.find(" -c select ") == std::string::npos && command.find(" -c 'select ") == std::string::npos;
  if (first == "find") return command.find(" -delete") != std::string::npos || command.find(" -exec") != std::string::npos;
  static const std::set<std::string> reads = {"getent", "cat", "test", "stat", "sha256sum", "true", "find", "tail"};
  return reads.count(first) == 0;
}

/// What the lab saw written from `since` on: engine requests other than
/// reads and the SSO exchange, and hosts' writing commands.
struct LabMark {
  size_t requests = 0;
  std::map<std::string, size_t> agent_log_sizes;
};

LabMark mark(ProcedureLab& lab) {
  LabMark m;
  m.requests = lab.engine.server->request_log().all().size();
  for (const auto& h : lab.fleet.hosts()) m.agent_log_sizes[h.name] = read_file(h.agent_log).size();
  return m;
}

Writes lab_writes(ProcedureLab& lab, const LabMark& since) {
  Writes w;
  auto log = lab.engine.server->request_log().all();
  for (size_t i = since.requests; i < log.size(); ++i) {
    const auto& r = log[i];
    if (r.method == "GET" || r.path.rfind("/ovirt-engine/sso/", 0) == 0 ||
        r.path.rfind("/ovirt-engine/services/sso-logout", 0) == 0)
      continue;
    w.insert(normalised(r.method + " " + r.path));
  }
  for (const auto& h : lab.fleet.hosts()) {
    std::string text = read_file(h.agent_log);
    auto from = since.agent_log_sizes.count(h.name) ? since.agent_log_sizes.at(h.name) : 0;
    std::istringstream lines(text.substr(std::min(from, text.size())));
    for (std::string line; std::getline(lines, line);) {
      auto entry = nlohmann::json::parse(line, nullptr, false);
      if (!entry.is_object() || !entry.contains("command")) continue;
      std::string command = entry["command"];
      if (command_writes(command)) w.insert(normalised(h.name + ": " + command));
    }
  }
  return w;
}

/// Whether a shown write stands for a write of the run: the same, or the
/// same but where the dry run could only name a value (X: any one word).
bool stands_for(const std::string& shown, const std::string& made) {
  if (shown == made) return true;
  if (shown.find('X') == std::string::npos) return false;
  std::string pattern;
  for (char ch : shown)
    pattern += ch == 'X' ? std::string("\\S+")
                         : std::string(std::strchr(".^$|()[]{}*+?\\", ch) ? "\\" : "") + std::string(1, ch);
  return std::regex_match(made, std::regex(pattern));
}

std::string listing(const Writes& w) {
  std::string out;
  for (auto& x : w) out += "  " + x + "\n";
  return out;
}

/// Both ways: what the dry run showed and the run did not make, and what
/// the run made and the dry run did not show ("" when they are the same
/// multiset). Each write of the run accounts for one shown write: the same
/// first, then one the dry run could only name in part.
std::string difference(const Writes& shown, Writes made) {
  Writes partly;
  for (const auto& w : shown) {
    auto it = made.find(w);
    if (it == made.end()) partly.insert(w);
    else made.erase(it);
  }
  Writes only_shown;
  for (const auto& w : partly) {
    auto it = std::find_if(made.begin(), made.end(), [&](const std::string& m) { return stands_for(w, m); });
    if (it == made.end()) only_shown.insert(w);
    else made.erase(it);
  }
  if (only_shown.empty() && made.empty()) return "";
  return "shown by the dry run, not made by the run:\n" + listing(only_shown) +
         "made by the run, not shown by the dry run:\n" + listing(made);
}

/// Dry run on one copy of the scenario, real run on a fresh copy; the
/// difference of their writes ("" when they agree).
struct Comparison {
  std::string dry_output, run_output;
  int run_exit = -1;
  Writes shown, made, made_by_dry_run;
};

/// `with` is given the prepared lab (a restore names the archive the
/// backup stored there).
template <class Prepare, class With>
Comparison compare(const std::string& procedure, With with, Prepare prepare,
                   const std::string& scenario = "examples/lab/three-hosts.yaml") {
  Comparison c;
  {
    ProcedureLab lab(scenario);
    prepare(lab);
    LabMark before = mark(lab);
    auto dry = lab.dry_run(procedure, with(lab));
    c.dry_output = dry.output;
    c.shown = shown_writes(dry.output);
    c.made_by_dry_run = lab_writes(lab, before);
  }
  ProcedureLab lab(scenario);
  prepare(lab);
  LabMark before = mark(lab);
  auto run = lab.run(procedure, with(lab));
  c.run_output = run.output;
  c.run_exit = run.exit_code;
  c.made = lab_writes(lab, before);
  return c;
}

}  // namespace

TEST_CASE("rehearsal: she-backup - the dry run shows exactly the writes the run makes") {
  auto c = compare("she-backup", [](ProcedureLab&) { return std::string(); }, [](ProcedureLab&) {});
  REQUIRE_MESSAGE(c.run_exit == 0, c.run_output);
  CHECK_MESSAGE(c.made_by_dry_run.empty(), "the dry run wrote:\n" << listing(c.made_by_dry_run));
  CHECK_MESSAGE(!c.shown.empty(), c.dry_output);
  CHECK_MESSAGE(difference(c.shown, c.made).empty(), difference(c.shown, c.made) << c.dry_output);
}

TEST_CASE("rehearsal: she-remove-nonoperational - the dry run shows exactly the writes the run makes") {
  auto dead = [](ProcedureLab& lab) {
    lab.engine.world.set_host_status("hosted_engine_3", lab::HostStatus::NonResponsive);
  };
  auto c = compare("she-remove-nonoperational", [](ProcedureLab&) { return std::string("  keep: [hosted_engine_1]\n"); },
                   dead);
  REQUIRE_MESSAGE(c.run_exit == 0, c.run_output);
  CHECK_MESSAGE(c.made_by_dry_run.empty(), "the dry run wrote:\n" << listing(c.made_by_dry_run));
  CHECK_MESSAGE(!c.shown.empty(), c.dry_output);
  CHECK_MESSAGE(difference(c.shown, c.made).empty(), difference(c.shown, c.made) << c.dry_output);
}

TEST_CASE("rehearsal: the restores - the dry run shows exactly the writes the run makes") {
  // After the disaster no engine answers: what the run does once the deploy
  // has brought the restored engine up (which records to fence, remove,
  // reinstall) follows reads of an engine that does not exist yet. The dry
  // run answers them from the backup's manifest and what a restore does to
  // it (engine_api/restored_engine.h), and says so at each such read.
  struct Restore {
    const char* procedure;
    std::function<std::string(ProcedureLab&)> with;
  };
  const std::vector<Restore> restores = {
      {"she-restore-failover", [](ProcedureLab& lab) { return lab.restore_params(); }},
      {"she-restore-new-host", [](ProcedureLab& lab) {
         return "  backup: " + lab.stored_backup() +
                "\n  deploy_host: spare_1\n  storage_connection: nfs.example.com:/exports/he\n"
                "  target_version: 4.5.6\n  high_priority_vms: [db01]\n";
       }}};
  auto disaster = [](ProcedureLab& lab) {
    REQUIRE(lab.run("she-backup").exit_code == 0);
    lab.disaster();
  };
  for (const auto& r : restores) {
    CAPTURE(r.procedure);
    auto c = compare(r.procedure, r.with, disaster);
    REQUIRE_MESSAGE(c.run_exit == 0, c.run_output);
    CHECK_MESSAGE(c.made_by_dry_run.empty(), "the dry run wrote:\n" << listing(c.made_by_dry_run));
    CHECK_MESSAGE(difference(c.shown, c.made).empty(), difference(c.shown, c.made) << c.dry_output);
    // The fence, remove and reinstall of each dead host are among them,
    // shown as resting on a prediction, not on a read.
    CHECK(std::count_if(c.shown.begin(), c.shown.end(),
                        [](const std::string& w) { return w.find("/fence") != std::string::npos; }) >= 2);
    CHECK(c.dry_output.find("(predicted from the backup's manifest") != std::string::npos);
    CHECK(c.dry_output.find("Predicted reads: ") != std::string::npos);
  }
}

TEST_CASE("rehearsal: the legacy restores - the dry run shows exactly the writes the run makes") {
  // The 4.2 lab after the disaster: the deploy's dialog, the restore inside
  // the new VM, the stale record's removal, the menu answered and the VM
  // shut down are writes the dry run shows before any of them happens.
  if (lab::postgres_bin_dir().empty()) return;
  const std::string scenario = "examples/lab/three-hosts-legacy.yaml";
  auto stage = [&](ProcedureLab& lab) {
    lab::WorldState st = lab::load_scenario(source_path(scenario));
    lab::stage_disaster(lab.engine.world, lab.fleet, *st.after_disaster, lab::kLabBackupPath);
  };
  for (const char* procedure : {"she-restore-legacy", "she-restore-manual"}) {
    CAPTURE(procedure);
    auto with = [&](ProcedureLab& lab) {
      std::string params =
          "  backup: engine-before-the-disaster.backup\n  storage_connection: storage.example.com:/exports/hosted_engine\n"
          "  bridge_nic: eth1\n  gateway: 192.0.2.1\n  cpu_type: model_SandyBridge\n  permissions: restore\n"
          "  target_version: 4.2.8\n  high_priority_vms: [db01, web01]\n";
      if (std::string(procedure) == "she-restore-manual") {
        const fs::path pw = lab.dir.path() / "db-pass";
        write_file(pw, "Rehearsal-Db-Pass-2\n");
        fs::permissions(pw, fs::perms::owner_read | fs::perms::owner_write);
        params += "  db_locale: C.UTF-8\n  db_password: file:" + pw.string() + "\n";
      }
      return params;
    };
    auto c = compare(procedure, with, stage, scenario);
    REQUIRE_MESSAGE(c.run_exit == 0, c.run_output);
    CHECK_MESSAGE(c.made_by_dry_run.empty(), "the dry run wrote:\n" << listing(c.made_by_dry_run));
    // she-restore-manual prepares PostgreSQL in a VM the deploy has not
    // created at dry-run time: those steps' reads cannot be made then, so
    // the writes that follow them are not all shown. Reads only, still.
    if (std::string(procedure) == "she-restore-manual") continue;
    CHECK_MESSAGE(difference(c.shown, c.made).empty(), difference(c.shown, c.made) << c.dry_output);
    CHECK(std::count_if(c.shown.begin(), c.shown.end(), [](const std::string& w) {
            return w.find("-X stuff") != std::string::npos;
          }) == 1);
  }
}

TEST_CASE("rehearsal: a step type that writes behind the runner's back is caught by the comparison") {
  // The proof that the comparison above can fail: a procedure whose one
  // step touches a file on a host calling the command a read.
  auto sneaky = [](ProcedureLab& lab) {
    write_file(lab.dir.path() / "sneaky.yaml",
               "procedure: sneaky\nsteps:\n"
               "  - id: maintenance\n    name: an honest write\n    uses: engine.host.maintenance\n"
               "    with:\n      host: hosted_engine_2\n"
               "  - id: sneak\n    name: a write called a read\n    uses: test.sneaky\n"
               "    with:\n      host: hosted_engine_2\n      path: /root/sneaked\n");
  };
  Comparison c;
  {
    ProcedureLab lab;
    sneaky(lab);
    LabMark before = mark(lab);
    auto dry = testbed("--dry-run '" + lab.write_plan("sneaky-plan", "", (lab.dir.path() / "sneaky.yaml").string()).string() + "'");
    c.shown = shown_writes(dry.output);
    c.made_by_dry_run = lab_writes(lab, before);
    CHECK_MESSAGE(c.shown.count("POST /ovirt-engine/api/hosts/X/deactivate") == 1, dry.output);
  }
  ProcedureLab lab;
  sneaky(lab);
  LabMark before = mark(lab);
  auto run = testbed("'" + lab.write_plan("sneaky-plan", "", (lab.dir.path() / "sneaky.yaml").string()).string() + "' --yes --state-dir '" +
                     (lab.dir.path() / "state").string() + "'");
  REQUIRE_MESSAGE(run.exit_code == 0, run.output);
  c.made = lab_writes(lab, before);
  // Both checks of the comparison fire: the dry run made the write, and the
  // run's write is not among those it showed.
  CHECK(c.made_by_dry_run.count("hosted_engine_2: touch -- /root/sneaked") == 1);
  std::string diff = difference(c.shown, c.made);
  CHECK_MESSAGE(diff.find("hosted_engine_2: touch -- /root/sneaked") != std::string::npos, diff);
  CHECK(diff.find("deactivate") == std::string::npos);  // the honest write agrees
}

TEST_CASE("rehearsal: a user's command runs in a dry run only when the plan declares it read-only") {
  ProcedureLab lab;
  write_file(lab.dir.path() / "commands.yaml",
             "procedure: commands\nsteps:\n"
             "  - id: undeclared-run\n    name: a command\n    uses: ssh.run\n"
             "    with:\n      host: hosted_engine_2\n      command: [touch, /root/run-undeclared]\n"
             "  - id: undeclared-probe\n    name: a probe\n    uses: ssh.probe\n"
             "    with:\n      host: hosted_engine_2\n      command: [rm, -f, /root/probe-undeclared]\n"
             "  - id: declared\n    name: a declared read\n    uses: ssh.probe\n"
             "    with:\n      host: hosted_engine_2\n      command: [cat, /etc/hostname]\n      read_only: true\n");
  LabMark before = mark(lab);
  auto plan = lab.write_plan("commands-plan", "", (lab.dir.path() / "commands.yaml").string());
  auto out = she_restore("--dry-run '" + plan.string() + "'");
  REQUIRE_MESSAGE(out.exit_code == 0, out.output);
  CHECK(out.output.find("write  ssh hosted_engine_2: touch /root/run-undeclared") != std::string::npos);
  CHECK(out.output.find("write  ssh hosted_engine_2: rm -f /root/probe-undeclared") != std::string::npos);
  CHECK_MESSAGE(out.output.find("read   ssh hosted_engine_2: cat /etc/hostname") != std::string::npos, out.output);
  std::string log = read_file(lab.fleet.host("hosted_engine_2").agent_log).substr(before.agent_log_sizes["hosted_engine_2"]);
  CHECK(log.find("touch") == std::string::npos);
  CHECK(log.find("rm -f /root/probe-undeclared") == std::string::npos);
  CHECK(log.find("cat /etc/hostname") != std::string::npos);
}

}  // namespace she::test
