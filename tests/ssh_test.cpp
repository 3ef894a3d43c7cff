// The SSH layer against lab hosts behind real OpenSSH sshd: commands, exit
// codes, timeouts, reconnecting, host keys, quoting, secrets off command
// lines, and transfers in all three directions.
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <tuple>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <csignal>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/digest.h"
#include "base/interrupted.h"
#include "hosts/backup_archive.h"
#include "hosts/file_transfer.h"
#include "hosts/shell_quote.h"
#include "tests/lab_hosts_fixture.h"
#include "tests/test_support.h"

using namespace she;
using she::test::LabHosts;
namespace fs = std::filesystem;

namespace {
/// A file of `bytes` pseudo-random bytes (a 1 MiB block repeated).

std::string local_sha256(const fs::path& p) {
  return test::run("sha256sum '" + p.string() + "'").output.substr(0, 64);
}
}  // namespace

TEST_CASE("ssh: commands run with their exit codes and output - a missing command is 127") {
  LabHosts lab;
  SshSession s(lab.target("hosted_engine_1"));
  ExecResult r = s.exec("echo hello world");
  CHECK(r.exit_status == 0);
  CHECK(r.stdout_tail == "hello world\n");
  CHECK(s.exec("test -e /nonexistent").exit_status == 1);
  r = s.exec("no-such-tool --x");
  CHECK(r.exit_status == 127);
  CHECK(r.stderr_tail.find("command not found") != std::string::npos);
  CHECK(s.exec("hostname").stdout_tail == "host1.example.com\n");
}

TEST_CASE("ssh: hostile strings arrive as one argument - exactly") {
  LabHosts lab;
  SshSession s(lab.target("hosted_engine_1"));
  for (std::string arg : {"a;rm -rf /", "it's \"quoted\"", "$(id)", "`id`", "two  spaces", "a&&b|c>d", "*", "~root", "$HOME"}) {
    CAPTURE(arg);
    ExecResult r = s.exec(shell_join({"echo", arg}));
    CHECK(r.exit_status == 0);
    CHECK(r.stdout_tail == arg + "\n");
  }
  // The agent's log saw each as a single, quoted word.
  CHECK(lab.agent_log("hosted_engine_1").find("echo 'a;rm -rf /'") != std::string::npos);
}

TEST_CASE("ssh: a command that outlives its timeout is stopped - the next one reconnects") {
  LabHosts lab;
  SshSession s(lab.target("hosted_engine_1"));
  ExecOptions o;
  o.timeout = std::chrono::milliseconds(300);
  try {
    s.exec("sleep 20", o);
    FAIL("the command outlived its timeout");
  } catch (const SshError& e) {
    CHECK(e.kind() == SshError::Kind::Timeout);
    CHECK(e.error_class() == "timeout");
  }
  CHECK(s.exec("echo again").stdout_tail == "again\n");
}

namespace {

/// The exit record the lab agent logged for the command that ran `command`
/// (each record names the agent's pid), or "" while it has not ended.
std::string agent_exit_of(const LabHosts& lab, const std::string& host, const std::string& command) {
  std::string pid, exit;
  std::istringstream log(lab.agent_log(host));
  for (std::string line; std::getline(log, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    if (j.value("command", "") == command) pid = std::to_string(j.value("pid", 0));
    else if (!pid.empty() && j.contains("exit") && std::to_string(j.value("pid", 0)) == pid) exit = line;
  }
  return exit;
}

}  // namespace

TEST_CASE("ssh: a followed log read to its marker closes the channel at once - the follower ends - the session goes on") {
  // The deploy's log is followed with `tail --pid -f` and read only to its
  // pause (backup_steps.cpp): the unit goes on writing later, so the read
  // cannot wait for the command to end.
  LabHosts lab;
  const fs::path log = lab.fleet.host("hosted_engine_1").sandbox / "var/log/she-restore/unit.log";
  fs::create_directories(log.parent_path());
  test::write_file(log, "one\nMARK two\nthree\n");
  const pid_t writer = ::fork();  // lives for a minute: tail would follow it that long
  if (writer == 0) {
    ::sleep(60);
    ::_exit(0);
  }
  REQUIRE(writer > 0);
  SshSession s(lab.target("hosted_engine_1"));
  std::string got;
  ExecOptions o;
  o.on_stdout = [&](const char* d, size_t n) { got.append(d, n); };
  o.enough = [&] { return got.find("MARK") != std::string::npos; };
  const std::string follow =
      shell_join({"tail", "-c", "+5", "--pid=" + std::to_string(writer), "-f", "--", "/var/log/she-restore/unit.log"});
  ExecResult r = s.exec(follow, o);
  CHECK(r.cut_short);
  CHECK(got.rfind("MARK two\n", 0) == 0);  // from byte 5, as GNU tail counts
  CHECK(s.exec("echo again").stdout_tail == "again\n");  // the same session
  // The follower saw its output closed and ended, its writer still alive.
  std::string exit;
  for (int i = 0; i < 200 && (exit = agent_exit_of(lab, "hosted_engine_1", follow)).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_MESSAGE(!exit.empty(), lab.agent_log("hosted_engine_1"));
  CHECK(::kill(writer, 0) == 0);
  ::kill(writer, SIGKILL);
  ::waitpid(writer, nullptr, 0);

  // Followed to its writer's end: its last write is out, then tail ends.
  const pid_t late = ::fork();
  if (late == 0) {
    ::usleep(300000);
    const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND);
    (void)!::write(fd, "late\n", 5);
    ::_exit(0);
  }
  REQUIRE(late > 0);
  ExecOptions all;
  got.clear();
  all.on_stdout = [&](const char* d, size_t n) { got.append(d, n); };
  r = s.exec(shell_join({"tail", "-c", "+1", "--pid=" + std::to_string(late), "-f", "--", "/var/log/she-restore/unit.log"}), all);
  ::waitpid(late, nullptr, 0);
  CHECK(r.exit_status == 0);
  CHECK_FALSE(r.cut_short);
  CHECK(got == "one\nMARK two\nthree\nlate\n");
  // The lab's tail counts bytes as coreutils' does, to the end and past it.
  for (int from : {1, 2, 9, 23, 24, 40}) {
    CAPTURE(from);
    got.clear();
    r = s.exec(shell_join({"tail", "-c", "+" + std::to_string(from), "--", "/var/log/she-restore/unit.log"}), all);
    CHECK(r.exit_status == 0);
    CHECK(got == test::run("tail -c +" + std::to_string(from) + " -- '" + log.string() + "'").output);
  }
}

TEST_CASE("ssh: systemctl show names a unit's main process while it runs - 0 once it ended (the lab as systemd)") {
  LabHosts lab;
  SshSession s(lab.target("hosted_engine_1"));
  REQUIRE(s.exec(shell_join({"systemd-run", "--unit=she-test", "--collect", "--", "sleep", "1"})).exit_status == 0);
  const std::string show = shell_join({"systemctl", "show", "--property=MainPID", "--value", "she-test"});
  ExecResult r = s.exec(show);
  CHECK(r.exit_status == 0);
  const long pid = std::atol(r.stdout_tail.c_str());
  CHECK(pid > 0);
  CHECK(::kill(static_cast<pid_t>(pid), 0) == 0);
  for (int i = 0; i < 100 && s.exec(show).stdout_tail != "0\n"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(s.exec(show).stdout_tail == "0\n");
  CHECK(s.exec(shell_join({"systemctl", "show", "--property=MainPID", "she-never-started"})).stdout_tail == "MainPID=0\n");
}

TEST_CASE("ssh: a connection dropped mid-command is reported as a transport error and the session reconnects") {
  LabHosts lab;
  SshSession s(lab.target("hosted_engine_1"));
  CHECK(s.exec("true").exit_status == 0);
  lab.fleet.set_faults("hosted_engine_1", R"({"drop_mid_command": "sleep", "drop_times": 1})");
  try {
    s.exec("sleep 1");
    FAIL("the drop went unnoticed");
  } catch (const SshError& e) {
    CHECK(e.kind() == SshError::Kind::Dropped);
    CHECK(e.error_class() == "transport");
  }
  CHECK(s.exec("echo back").stdout_tail == "back\n");
  lab.fleet.set_unreachable("hosted_engine_1", true);
  SshSession down(lab.target("hosted_engine_1"));
  CHECK_THROWS_WITH_AS(down.exec("true"), doctest::Contains("cannot connect"), SshError);
}

TEST_CASE("ssh: host keys - a mismatch is refused showing both fingerprints - an unknown key only with the option") {
  LabHosts lab;
  SshTarget t = lab.target("engine");
  const lab::FleetHost& engine = lab.fleet.host("engine");
  const lab::FleetHost& other = lab.fleet.host("backup_storage");
  // known_hosts claims the engine has the backup host's key.
  fs::path wrong = lab.engine.dir.path() / "wrong_known_hosts";
  test::write_file(wrong, "[" + engine.address + "]:" + std::to_string(engine.port) + " " + other.host_key_line + "\n");
  t.known_hosts = wrong.string();
  try {
    SshSession(t).exec("true");
    FAIL("a mismatching host key was accepted");
  } catch (const SshError& e) {
    CHECK(e.kind() == SshError::Kind::HostKey);
    CHECK(std::string(e.what()).find("offers " + engine.host_key_fingerprint) != std::string::npos);
    CHECK(std::string(e.what()).find("known_hosts has " + other.host_key_fingerprint) != std::string::npos);
  }
  fs::path empty = lab.engine.dir.path() / "empty_known_hosts";
  test::write_file(empty, "");
  t.known_hosts = empty.string();
  CHECK_THROWS_WITH_AS(SshSession(t).exec("true"), doctest::Contains("is not in known_hosts"), SshError);
  t.accept_new_host_key = true;
  CHECK(SshSession(t).exec("true").exit_status == 0);
  CHECK(test::read_file(empty).find(engine.host_key_line.substr(0, 40)) != std::string::npos);
  t.accept_new_host_key = false;  // now known
  CHECK(SshSession(t).exec("true").exit_status == 0);
}

TEST_CASE("ssh: transfers of empty - small and 1 GiB files in all three directions - checksums agree") {
  LabHosts lab;
  SshSession engine(lab.target("engine")), backup(lab.target("backup_storage")), reader(lab.target("engine"));
  fs::path dir = lab.engine.dir.path();
  for (long long size : {0LL, 1000LL, 1LL << 30}) {
    CAPTURE(size);
    fs::path src = dir / "src.bin";
    test::random_file(src, size);
    std::string want = local_sha256(src);
    TransferOptions o;
    int progress_lines = 0;
    o.progress = [&](const std::string&) { ++progress_lines; };
    TransferResult up = copy_file({nullptr, src.string()}, {&engine, "/var/lib/ovirt-engine-backup/x.bin"}, o);
    CHECK(up.sha256 == want);
    CHECK(up.bytes == size);
    TransferResult across = copy_file({&reader, "/var/lib/ovirt-engine-backup/x.bin"}, {&backup, "/srv/backups/x.bin"}, o);
    CHECK(across.sha256 == want);
    fs::path back = dir / "back.bin";
    TransferResult down = copy_file({&backup, "/srv/backups/x.bin"}, {nullptr, back.string()}, o);
    CHECK(down.sha256 == want);
    CHECK(local_sha256(back) == want);
    CHECK(fs::file_size(back) == static_cast<uintmax_t>(size));
    CHECK(!fs::exists(lab.fleet.host("backup_storage").in_sandbox("/srv/backups/x.bin.part")));
    if (size == (1LL << 30)) CHECK(progress_lines > 0);
    fs::remove(src);
    fs::remove(back);
  }
}

TEST_CASE("ssh: a transfer whose connection drops half-way starts over and completes") {
  LabHosts lab;
  SshSession backup(lab.target("backup_storage"));
  fs::path src = lab.engine.dir.path() / "src.bin";
  test::random_file(src, 20 << 20);
  lab.fleet.set_faults("backup_storage", R"({"drop_after_bytes": 5000000, "drop_times": 1})");
  TransferOptions o;
  std::string said;
  o.progress = [&](const std::string& s) { said += s + "\n"; };
  TransferResult r = copy_file({nullptr, src.string()}, {&backup, "/srv/backups/big.bin"}, o);
  CHECK(r.sha256 == local_sha256(src));
  CHECK(said.find("starting the copy over (attempt 2 of 3)") != std::string::npos);
}

TEST_CASE("ssh: engine-backup on the lab's engine VM writes an archive that verify-backup accepts") {
  LabHosts lab;
  SshSession engine(lab.target("engine"));
  ExecResult r = engine.exec(shell_join({"engine-backup", "--mode=backup", "--file=/var/lib/ovirt-engine-backup/e.backup",
                                         "--log=/var/lib/ovirt-engine-backup/e.log"}));
  REQUIRE_MESSAGE(r.exit_status == 0, r.stderr_tail);
  CHECK(r.stdout_tail.find("Done.") != std::string::npos);
  fs::path local = lab.engine.dir.path() / "e.backup";
  copy_file({&engine, "/var/lib/ovirt-engine-backup/e.backup"}, {nullptr, local.string()}, {});
  BackupSummary s;
  std::vector<std::string> problems;
  CHECK(verify_backup_archive(local.string(), "4.5.6", &s, &problems));
  CHECK(s.engine_fqdn == "engine.example.com");
  CHECK(s.version.rfind("4.5", 0) == 0);
  auto cli = test::she_restore("verify-backup '" + local.string() + "' --target-version 4.4.9");
  CHECK(cli.exit_code == 1);
  CHECK(cli.output.find("can not be restored using the installed version 4.4.9") != std::string::npos);
}

namespace {
/// A plan that backs the engine up and restores it with changed database
/// credentials: the password travels in a 0600 passfile on the engine host.
fs::path passfile_plan(LabHosts& lab) {
  std::filesystem::path env = test::lab_hosts_environment(lab);
  fs::path plan = lab.engine.dir.path() / "plan.yaml";
  test::write_file(plan, "plan: passfile\nenvironment: " + env.string() + "\nsteps:\n"
                         "  - id: dir\n    uses: ssh.run\n    with: {host: engine, command: [mkdir, -p, --, /var/lib/ovirt-engine-backup]}\n"
                         "  - id: backup\n    uses: engine_backup.backup\n    with: {file: /var/lib/ovirt-engine-backup/p.backup}\n"
                         "  - id: restore\n    uses: engine_backup.restore\n    on_failure: continue\n"
                         "    with: {file: /var/lib/ovirt-engine-backup/p.backup, permissions: no-restore, "
                         "change_db_credentials: true, db_host: db.example.com, db_user: engine, db_name: engine, "
                         "db_password: 'env:SHE_DB_PW'}\n");
  return plan;
}
}  // namespace

TEST_CASE("ssh: a secret a remote command needs never reaches a command line - it travels in a 0600 file") {
  LabHosts lab;
  fs::path plan = passfile_plan(lab);
  std::string secret = "Db-Secret-Value-314";
  auto r = test::she_restore("'" + plan.string() + "' --state-dir '" + (lab.engine.dir.path() / "state").string() + "'",
                             "SHE_DB_PW=" + secret);
  CHECK_MESSAGE(r.exit_code == 0, r.output);
  std::string log = lab.agent_log("engine");
  CHECK(log.find("--db-passfile=/root/.she-restore-restore.dbpass") != std::string::npos);
  CHECK(log.find(secret) == std::string::npos);
  CHECK(r.output.find(secret) == std::string::npos);
  // The passfile is gone afterwards.
  CHECK_FALSE(fs::exists(lab.fleet.host("engine").in_sandbox("/root/.she-restore-restore.dbpass")));
}

TEST_CASE("ssh: a file holding a secret that could not be removed is journaled - removed at the end of the walk or reported") {
  LabHosts lab;
  fs::path plan = passfile_plan(lab);
  const std::string passfile = "/root/.she-restore-restore.dbpass";
  auto run = [&](const std::string& state) {
    return test::she_restore("'" + plan.string() + "' --state-dir '" + (lab.engine.dir.path() / state).string() + "'",
                             "SHE_DB_PW=Db-Secret-Value-314");
  };
  auto journal_of = [&](const std::string& state) {
    std::string all;
    for (auto& e : fs::recursive_directory_iterator(lab.engine.dir.path() / state))
      if (e.path().filename() == "journal") all += test::read_file(e.path());
    return all;
  };
  SUBCASE("the step's removal fails once: the walk's end removes it") {
    lab.fleet.set_faults("engine", R"({"fail": [{"match": "rm -f -- /root/.she-restore-restore.dbpass", "message": "rm: cannot remove: Device or resource busy", "exit": 1, "times": 1}]})");
    auto r = run("state-a");
    CHECK_MESSAGE(r.exit_code == 0, r.output);
    CHECK(r.output.find("WARNING: a file holding a secret may be left on engine: " + passfile) != std::string::npos);
    CHECK(r.output.find("removed " + passfile + " on engine") != std::string::npos);
    CHECK_FALSE(fs::exists(lab.fleet.host("engine").in_sandbox(passfile)));
    std::string journal = journal_of("state-a");
    CHECK(journal.find("secret_file_placed") != std::string::npos);
    CHECK(journal.find("secret_file_removed") != std::string::npos);
  }
  SUBCASE("it cannot be removed at all: host, path and remedy are named, and the report lists it") {
    lab.fleet.set_faults("engine", R"({"fail": [{"match": "rm -f -- /root/.she-restore-restore.dbpass", "message": "rm: cannot remove: Read-only file system", "exit": 1, "times": 10}]})");
    auto r = run("state-b");
    CHECK_MESSAGE(r.exit_code == 0, r.output);
    CHECK(r.output.find("WARNING: " + passfile + " on engine holds a secret and could not be removed") != std::string::npos);
    CHECK(r.output.find("rm -f -- " + passfile) != std::string::npos);
    CHECK(r.output.find("Db-Secret-Value-314") == std::string::npos);
    std::string report;
    for (auto& e : fs::recursive_directory_iterator(lab.engine.dir.path() / "state-b"))
      if (e.path().filename() == "report.md") report = test::read_file(e.path());
    CHECK_MESSAGE(report.find("Files holding secrets left on hosts") != std::string::npos, report);
    CHECK(report.find("engine: `" + passfile + "`") != std::string::npos);
  }
}

TEST_CASE("deploy: backup - copy host to host - deploy from it held before Add host - continue - the new host scores 3400") {
  LabHosts lab;
  // A spare machine to deploy on, new to the backup.
  lab::FleetHostSpec spare{"spare_1", "127.0.0.14", "spare", "spare1.example.com", "4c4c4544-0099-3510-8033-b3c04f4e3132", 0, "", ""};
  lab::HostFleet spare_fleet;
  spare_fleet.start(lab.engine.dir.path() / "spare", {spare}, lab::HostFleet::default_agent_binary(),
                    lab.engine.server->agent_socket());
  std::filesystem::path env = test::lab_hosts_environment(lab);
  const lab::FleetHost& s1 = spare_fleet.host("spare_1");
  // The spare joins the environment's hosts, with its own fleet's keys.
  std::string text = test::read_file(env);
  test::write_file(env, text.substr(0, text.find("hosts:\n") + 7) + "  - {name: spare_1, address: " + s1.address +
                            ", roles: [spare], ssh: {port: " + std::to_string(s1.port) + ", known_hosts: " +
                            spare_fleet.known_hosts().string() + ", key: " + spare_fleet.client_key().string() + "}}\n" +
                            text.substr(text.find("hosts:\n") + 7));
  fs::path plan = lab.engine.dir.path() / "deploy.yaml";
  test::write_file(plan, "plan: deploy\nenvironment: " + env.string() + "\nsteps:\n"
      "  - id: dir\n    uses: ssh.run\n    with: {host: engine, command: [mkdir, -p, --, /var/lib/ovirt-engine-backup]}\n"
      "  - id: backup\n    uses: engine_backup.backup\n    with: {file: /var/lib/ovirt-engine-backup/d.backup}\n"
      "  - id: copy\n    uses: file.copy\n    with: {from: engine, from_path: /var/lib/ovirt-engine-backup/d.backup, "
      "to: spare_1, to_path: /root/she-restore/d.backup}\n"
      "  - id: engine-down\n    uses: ssh.run\n    with: {host: engine, command: [rm, -f, --, /var/lib/ovirt-engine/engine.up]}\n"
      "  - id: deploy\n    uses: hosted_engine.deploy_restore\n"
      "    with: {host: spare_1, backup_file: /root/she-restore/d.backup, storage_connection: 'nfs.example.com:/he', "
      "appliance_root_password: 'env:SHE_ROOT_PW'}\n"
      "  - id: continue\n    uses: hosted_engine.deploy_continue\n    with: {host: spare_1, lock_file: '${steps.deploy.lock_file}'}\n"
      "  - id: status\n    uses: hosted_engine.vm_status\n    with: {host: spare_1}\n"
      "  - id: check\n    uses: assert\n    with: {that: '${\"spare1.example.com\" in (steps.status.hosts | map(\"hostname\"))}', "
      "message: the new host is not in the hosted-engine cluster}\n");
  std::string secret = "Root-Pw-Of-The-Vm-77";
  auto r = test::she_restore("'" + plan.string() + "' --state-dir '" + (lab.engine.dir.path() / "state").string() + "'",
                             "SHE_ROOT_PW=" + secret);
  CHECK_MESSAGE(r.exit_code == 0, r.output);
  CHECK(r.output.find("she-restore: paused before Add host") != std::string::npos);
  CHECK(r.output.find("Hosted Engine successfully deployed") != std::string::npos);
  // The answer file (with the VM's root password) never showed on a command line, and is gone.
  CHECK(test::read_file(s1.agent_log).find(secret) == std::string::npos);
  CHECK(r.output.find(secret) == std::string::npos);
  CHECK_FALSE(fs::exists(s1.in_sandbox("/root/she-restore-deploy.conf")));
  auto h = lab.engine.world.host_by_name("spare_1");
  REQUIRE(h);
  CHECK(h->status == lab::HostStatus::Up);
  spare_fleet.stop();
}

TEST_CASE("ssh: backup.verify streams a remote archive through the verifier - an unreadable one fails with the host's reason") {
  LabHosts lab;
  std::filesystem::path env = test::lab_hosts_environment(lab);
  fs::path state = lab.engine.dir.path() / "state";
  fs::path plan = lab.engine.dir.path() / "verify.yaml";
  test::write_file(plan, "plan: verify\nenvironment: " + env.string() + "\nsteps:\n"
                         "  - id: dir\n    uses: ssh.run\n    with: {host: engine, command: [mkdir, -p, --, /var/lib/ovirt-engine-backup]}\n"
                         "  - id: backup\n    uses: engine_backup.backup\n    with: {file: /var/lib/ovirt-engine-backup/v.backup}\n"
                         "  - id: check\n    uses: backup.verify\n"
                         "    with: {host: engine, file: /var/lib/ovirt-engine-backup/v.backup, target_version: 4.5.6}\n");
  auto r = test::she_restore("'" + plan.string() + "' --state-dir '" + state.string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  fs::path run;
  for (auto& e : fs::directory_iterator(state / "verify"))
    if (fs::exists(e.path() / "report.json")) run = e.path();
  REQUIRE_FALSE(run.empty());
  Value report = Value::parse(test::read_file(run / "report.json"));
  std::string version = report["steps"][2]["iterations"][0]["outputs"]["version"];
  CHECK(version.rfind("4.5", 0) == 0);
  std::string sha = report["steps"][2]["iterations"][0]["outputs"]["sha256"];
  CHECK(sha.size() == 64);

  // A file the host cannot read: the step fails and says why.
  fs::path missing = lab.engine.dir.path() / "missing.yaml";
  test::write_file(missing, "plan: missing\nenvironment: " + env.string() + "\nsteps:\n"
                            "  - id: check\n    uses: backup.verify\n    with: {host: engine, file: /var/lib/ovirt-engine-backup/absent.backup}\n");
  r = test::she_restore("'" + missing.string() + "' --state-dir '" + state.string() + "'");
  CHECK(r.exit_code != 0);
  CHECK_MESSAGE(r.output.find("cannot read /var/lib/ovirt-engine-backup/absent.backup") != std::string::npos, r.output);

  // 32 MiB that are no archive: the verifier gives up on the first bytes
  // and closes its end of the pipe; the feeder, blocked on the full pipe
  // or reading from the host, is released (the run ends, with the reason),
  // and the run makes nothing in its temporary directory.
  {
    std::ofstream junk(lab.fleet.host("engine").in_sandbox("/var/lib/ovirt-engine-backup/junk.backup"),
                       std::ios::binary);
    std::string mib(1 << 20, 'x');
    for (int i = 0; i < 32; ++i) junk << mib;
  }
  fs::path junk_plan = lab.engine.dir.path() / "junk.yaml";
  test::write_file(junk_plan, "plan: junk\nenvironment: " + env.string() + "\nsteps:\n"
                              "  - id: check\n    uses: backup.verify\n    with: {host: engine, file: /var/lib/ovirt-engine-backup/junk.backup}\n");
  fs::path tmp = lab.engine.dir.path() / "tmp";
  fs::create_directories(tmp);
  r = test::she_restore("'" + junk_plan.string() + "' --state-dir '" + state.string() + "'", "TMPDIR='" + tmp.string() + "'");
  CHECK(r.exit_code != 0);
  CHECK_MESSAGE(r.output.find("does not check out") != std::string::npos, r.output);
  for (auto& e : fs::directory_iterator(tmp)) CHECK_MESSAGE(false, "left in the temporary directory: " << e.path());
}

namespace {
/// The fingerprint ssh-keygen prints for a public key file or a known_hosts line.
std::string keygen_fingerprint(const fs::path& pub) {
  std::string out = test::run("ssh-keygen -lf '" + pub.string() + "'").output;
  size_t at = out.find("SHA256:");
  return at == std::string::npos ? out : out.substr(at, out.find(' ', at) - at);
}

/// `[addr]:port` as known_hosts names a lab host.
std::string host_entry(const lab::FleetHost& h) { return "[" + h.address + "]:" + std::to_string(h.port); }

/// "ssh-ed25519 AAAA..." without a comment.
std::string key_words(const std::string& line) {
  size_t sp = line.find(' ');
  size_t end = line.find(' ', sp + 1);
  return line.substr(0, end);
}

/// known_hosts `lines` hashed by ssh-keygen -H (as `HashKnownHosts yes` writes them).
fs::path hashed_known_hosts(const fs::path& dir, const std::string& name, const std::string& lines) {
  fs::path p = dir / name;
  test::write_file(p, lines);
  auto r = test::run("ssh-keygen -H -f '" + p.string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  fs::remove(p.string() + ".old");
  std::string text = test::read_file(p);
  REQUIRE_MESSAGE(text.rfind("|1|", 0) == 0, text);
  return p;
}
}  // namespace

TEST_CASE("ssh known_hosts: none set - the session is refused before connecting - a plan says where to set it") {
  LabHosts lab;
  SshTarget t = lab.target("engine");
  t.known_hosts.clear();
  t.accept_new_host_key = true;  // not even with it: there is nowhere to record the key
  try {
    SshSession(t).exec("true");
    FAIL("a session without known_hosts connected");
  } catch (const SshError& e) {
    CHECK(e.kind() == SshError::Kind::HostKey);
    CHECK(std::string(e.what()).find("no known_hosts file is set for " + t.address) != std::string::npos);
  }
  // Through a plan: the environment file is named.
  fs::path env = test::lab_hosts_environment(lab);
  std::string text = test::read_file(env);
  std::string kh = ", known_hosts: " + lab.fleet.known_hosts().string();
  REQUIRE(text.find(kh) != std::string::npos);
  test::write_file(env, text.replace(text.find(kh), kh.size(), ""));
  fs::path plan = lab.engine.dir.path() / "nokh.yaml";
  test::write_file(plan, "plan: nokh\nenvironment: " + env.string() +
                             "\nsteps:\n  - id: hi\n    uses: ssh.run\n    with: {host: engine, command: [echo, nokh-marker]}\n");
  auto r = test::she_restore("'" + plan.string() + "' --state-dir '" + (lab.engine.dir.path() / "state").string() + "'");
  // Refused by the run's offline checks, before any connection (exit 3).
  CHECK(r.exit_code == 3);
  CHECK_MESSAGE(r.output.find("error[missing-key]: no known_hosts is set for") != std::string::npos, r.output);
  CHECK_MESSAGE(r.output.find(env.string()) != std::string::npos, r.output);
  CHECK(lab.agent_log("engine").find("nokh-marker") == std::string::npos);
}

TEST_CASE("ssh known_hosts: accept_new_host_key records the key as OpenSSH reads it - then it is simply known") {
  LabHosts lab;
  SshTarget t = lab.target("engine");
  const lab::FleetHost& engine = lab.fleet.host("engine");
  fs::path kh = lab.engine.dir.path() / "new_known_hosts";
  test::write_file(kh, "# hosts of the lab");  // a last line without its end
  t.known_hosts = kh.string();
  t.accept_new_host_key = true;
  CHECK(SshSession(t).exec("true").exit_status == 0);
  CHECK(test::read_file(kh) == "# hosts of the lab\n" + host_entry(engine) + " " + key_words(engine.host_key_line) + "\n");
  // OpenSSH finds it and connects with strict checking against it.
  auto found = test::run("ssh-keygen -F '" + host_entry(engine) + "' -f '" + kh.string() + "'");
  CHECK_MESSAGE(found.output.find("ssh-ed25519") != std::string::npos, found.output);
  auto ssh = test::run("ssh -F /dev/null -i '" + lab.fleet.client_key().string() + "' -o UserKnownHostsFile='" +
                       kh.string() + "' -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 -p " +
                       std::to_string(engine.port) + " " + lab.fleet.user() + "@" + engine.address + " true < /dev/null");
  CHECK_MESSAGE(ssh.exit_code == 0, ssh.output);
  // Known now: without the option it connects, and nothing more is added.
  t.accept_new_host_key = false;
  CHECK(SshSession(t).exec("true").exit_status == 0);
  t.accept_new_host_key = true;
  CHECK(SshSession(t).exec("true").exit_status == 0);
  std::string text = test::read_file(kh);
  CHECK(std::count(text.begin(), text.end(), '\n') == 2);

  // An empty file gets the one line; a file not there yet is made.
  fs::path made = lab.engine.dir.path() / "made_known_hosts";
  t.known_hosts = made.string();
  CHECK(SshSession(t).exec("true").exit_status == 0);
  CHECK(test::read_file(made) == host_entry(engine) + " " + key_words(engine.host_key_line) + "\n");
}

TEST_CASE("ssh known_hosts: a key that cannot be recorded fails the connection - naming the file and the error") {
  LabHosts lab;
  SshTarget t = lab.target("engine");
  t.accept_new_host_key = true;
  // Its directory is a file: the append cannot happen (root or not).
  fs::path not_dir = lab.engine.dir.path() / "a_file";
  test::write_file(not_dir, "x");
  t.known_hosts = (not_dir / "known_hosts").string();
  try {
    SshSession(t).exec("echo unrecorded-marker");
    FAIL("the connection went on with a host key it could not record");
  } catch (const SshError& e) {
    CHECK(e.kind() == SshError::Kind::HostKey);
    CHECK(std::string(e.what()).find("cannot record the host key") != std::string::npos);
    CHECK(std::string(e.what()).find(t.known_hosts) != std::string::npos);
    CHECK(std::string(e.what()).find("Not a directory") != std::string::npos);
  }
  CHECK(lab.agent_log("engine").find("unrecorded-marker") == std::string::npos);

  // A read-only file system (a bind mount in a private mount namespace of
  // the child): the run fails and says why.
  fs::path ro = lab.engine.dir.path() / "ro";
  fs::create_directories(ro);
  test::write_file(ro / "known_hosts", "");
  fs::path env = test::lab_hosts_environment(lab);
  std::string text = test::read_file(env);
  std::string kh = "known_hosts: " + lab.fleet.known_hosts().string();
  test::write_file(env, text.replace(text.find(kh), kh.size(),
                                     "known_hosts: " + (ro / "known_hosts").string() + ", accept_new_host_key: true"));
  fs::path plan = lab.engine.dir.path() / "ro.yaml";
  test::write_file(plan, "plan: ro\nenvironment: " + env.string() +
                             "\nsteps:\n  - id: hi\n    uses: ssh.run\n    with: {host: engine, command: [echo, hi]}\n");
  if (test::run("unshare -m true").exit_code != 0) {
    MESSAGE("no private mount namespace here: the read-only case is not run");
    return;
  }
  auto r = test::run("unshare -m sh -c \"mount --bind '" + ro.string() + "' '" + ro.string() +
                     "' && mount -o remount,bind,ro '" + ro.string() + "' && exec '" SHE_RESTORE_BINARY "' '" +
                     plan.string() + "' --state-dir '" + (lab.engine.dir.path() / "state").string() + "'\"");
  CHECK(r.exit_code != 0);
  CHECK_MESSAGE(r.output.find("cannot record the host key") != std::string::npos, r.output);
  CHECK_MESSAGE(r.output.find((ro / "known_hosts").string()) != std::string::npos, r.output);
  CHECK_MESSAGE(r.output.find("Read-only file system") != std::string::npos, r.output);
  CHECK(test::read_file(ro / "known_hosts").empty());
  CHECK(lab.agent_log("engine").find("echo hi") == std::string::npos);
}

TEST_CASE("ssh known_hosts: hashed entries - a match connects - another key of any type is refused with both fingerprints") {
  LabHosts lab;
  SshTarget t = lab.target("engine");
  const lab::FleetHost& engine = lab.fleet.host("engine");
  const lab::FleetHost& other = lab.fleet.host("backup_storage");
  fs::path dir = lab.engine.dir.path();

  // The fleet's own file, hashed: the host is found and connects.
  t.known_hosts = hashed_known_hosts(dir, "hashed_ok", test::read_file(lab.fleet.known_hosts())).string();
  CHECK(SshSession(t).exec("true").exit_status == 0);

  // The host known (hashed) with an ecdsa key: the ed25519 key it offers is
  // a mismatch, not a new host, even with accept_new_host_key.
  REQUIRE(test::run("ssh-keygen -q -t ecdsa -b 256 -N '' -C other -f '" + (dir / "ecdsa").string() + "'").exit_code == 0);
  std::string ecdsa_fp = keygen_fingerprint(dir / "ecdsa.pub");
  std::string ecdsa = key_words(test::read_file(dir / "ecdsa.pub"));
  fs::path kh = hashed_known_hosts(dir, "hashed_ecdsa", host_entry(engine) + " " + ecdsa + "\n");
  std::string before = test::read_file(kh);
  t.known_hosts = kh.string();
  t.accept_new_host_key = true;
  try {
    SshSession(t).exec("true");
    FAIL("a host known under another key type was taken");
  } catch (const SshError& e) {
    CAPTURE(e.what());
    CHECK(e.kind() == SshError::Kind::HostKey);
    CHECK(std::string(e.what()).find("does not match known_hosts") != std::string::npos);
    CHECK(std::string(e.what()).find("offers " + engine.host_key_fingerprint) != std::string::npos);
    CHECK(std::string(e.what()).find("known_hosts has " + ecdsa_fp) != std::string::npos);
    CHECK(std::string(e.what()).find("known_hosts allows only ecdsa-sha2-nistp256") != std::string::npos);
  }
  CHECK(test::read_file(kh) == before);

  // Hashed, the same type but another key (the backup host's).
  t.known_hosts = hashed_known_hosts(dir, "hashed_other", host_entry(engine) + " " + key_words(other.host_key_line) + "\n").string();
  try {
    SshSession(t).exec("true");
    FAIL("a host with another ed25519 key was taken");
  } catch (const SshError& e) {
    CAPTURE(e.what());
    CHECK(e.kind() == SshError::Kind::HostKey);
    CHECK(std::string(e.what()).find("offers " + engine.host_key_fingerprint) != std::string::npos);
    CHECK(std::string(e.what()).find("known_hosts has " + other.host_key_fingerprint) != std::string::npos);
    CHECK(std::string(e.what()).find("allows only") == std::string::npos);
  }

  // Plain: the host known as ecdsa and as the right ed25519 key: the match wins.
  t.known_hosts = (dir / "both").string();
  test::write_file(dir / "both", host_entry(engine) + " " + ecdsa + "\n" + host_entry(engine) + " " +
                                     key_words(engine.host_key_line) + "\n");
  t.accept_new_host_key = false;
  CHECK(SshSession(t).exec("true").exit_status == 0);
  lab.fleet.stop();
}

TEST_CASE("ssh errors name their cause - refused - timed out - authentication - host key unknown or mismatched - interrupted") {
  LabHosts lab;
  auto what = [](SshTarget t, ExecOptions o = {}) -> std::pair<SshError::Kind, std::string> {
    try {
      SshSession(t).exec("true", o);
    } catch (const SshError& e) {
      return {e.kind(), e.what()};
    }
    return {SshError::Kind::Channel, "connected"};
  };
  SshTarget t = lab.target("engine");
  // Nothing listens on that port.
  int closed_port = 0;
  {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), len) == 0);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    closed_port = ntohs(a.sin_port);
    ::close(fd);
  }
  SshTarget refused = t;
  refused.address = "127.0.0.1";
  refused.port = closed_port;
  auto [kind, msg] = what(refused);
  CHECK(kind == SshError::Kind::Connect);
  CHECK_MESSAGE(msg.find("connection refused") != std::string::npos, msg);
  CHECK(msg.find("allows only") == std::string::npos);

  // A port that takes the connection and never says a word.
  int silent = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  REQUIRE(::bind(silent, reinterpret_cast<sockaddr*>(&a), len) == 0);
  REQUIRE(::listen(silent, 4) == 0);
  ::getsockname(silent, reinterpret_cast<sockaddr*>(&a), &len);
  SshTarget mute = t;
  mute.address = "127.0.0.1";
  mute.port = ntohs(a.sin_port);
  mute.connect_timeout = std::chrono::milliseconds(500);
  std::tie(kind, msg) = what(mute);
  CHECK(kind == SshError::Kind::Connect);
  CHECK_MESSAGE(msg.find("timed out after 500 ms (SSH handshake)") != std::string::npos, msg);
  // Stopped while waiting for it.
  ExecOptions stop;
  stop.should_stop = [] { return true; };
  mute.connect_timeout = std::chrono::milliseconds(10000);
  std::string stopped;
  try {
    SshSession(mute).exec("true", stop);
  } catch (const Interrupted& e) {
    stopped = e.what();  // its own type: no step mistakes it for the host's failure
  }
  CHECK_MESSAGE(stopped.find("stopped while connecting") != std::string::npos, stopped);
  ::close(silent);

  // A key the host does not take.
  fs::path key = lab.engine.dir.path() / "stranger";
  REQUIRE(test::run("ssh-keygen -q -t ed25519 -N '' -f '" + key.string() + "'").exit_code == 0);
  SshTarget stranger = t;
  stranger.key_file = key.string();
  std::tie(kind, msg) = what(stranger);
  CHECK(kind == SshError::Kind::Auth);
  CHECK_MESSAGE(msg.find("authentication failed") != std::string::npos, msg);
  CHECK(msg.find(key.string()) != std::string::npos);
  CHECK(msg.find("known_hosts") == std::string::npos);

  // The host key, unknown.
  SshTarget unknown = t;
  test::write_file(lab.engine.dir.path() / "empty", "");
  unknown.known_hosts = (lab.engine.dir.path() / "empty").string();
  std::tie(kind, msg) = what(unknown);
  CHECK(kind == SshError::Kind::HostKey);
  CHECK_MESSAGE(msg.find("is not in known_hosts") != std::string::npos, msg);

  // The host key, another of the same type: a mismatch, and nothing about
  // key types (the handshake held to them went through).
  SshTarget mismatched = t;
  test::write_file(lab.engine.dir.path() / "other", "[" + lab.fleet.host("engine").address + "]:" +
                                                        std::to_string(lab.fleet.host("engine").port) + " " +
                                                        lab.fleet.host("backup_storage").host_key_line + "\n");
  mismatched.known_hosts = (lab.engine.dir.path() / "other").string();
  std::tie(kind, msg) = what(mismatched);
  CHECK(kind == SshError::Kind::HostKey);
  CHECK_MESSAGE(msg.find("does not match known_hosts") != std::string::npos, msg);
  CHECK(msg.find("allows only") == std::string::npos);
}

TEST_CASE("transfer: a far side whose checksum disagrees fails the copy and leaves nothing under either name") {
  LabHosts lab;
  SshSession backup(lab.target("backup_storage"));
  fs::path src = lab.engine.dir.path() / "src.bin";
  test::random_file(src, 3 << 20);
  const lab::FleetHost& host = lab.fleet.host("backup_storage");
  // The far side's hasher (OpenSSL's, as a lab host has it) answers, but
  // with no checksum of what it holds. Up, it ends the pipeline `tee | openssl dgst` at once, so tee dies of
  // SIGPIPE and which check catches it first (the bytes that arrived, or
  // the checksum) depends on how much the channel took; either must fail.
  lab.fleet.set_faults("backup_storage", R"({"fail": [{"match": "openssl dgst", "exit": 0, "times": 1}]})");
  CHECK_THROWS_AS(copy_file({nullptr, src.string()}, {&backup, "/srv/backups/c.bin"}, {}), std::runtime_error);
  CHECK(!fs::exists(host.in_sandbox("/srv/backups/c.bin")));
  CHECK(!fs::exists(host.in_sandbox("/srv/backups/c.bin.part")));
  // Down, the source's checksum is its own command: the mismatch is named.
  fs::create_directories(host.in_sandbox("/srv/backups"));
  test::random_file(host.in_sandbox("/srv/backups/held.bin"), 3 << 20);
  fs::path local = lab.engine.dir.path() / "held.bin";
  lab.fleet.set_faults("backup_storage", R"({"fail": [{"match": "openssl dgst", "exit": 0, "times": 1}]})");
  CHECK_THROWS_WITH_AS(copy_file({&backup, "/srv/backups/held.bin"}, {nullptr, local.string()}, {}),
                       doctest::Contains("checksum mismatch copying backup_storage:"), std::runtime_error);
  CHECK(!fs::exists(local));
  CHECK(!fs::exists(local.string() + ".part"));
}

TEST_CASE("transfer: a far side whose tee cannot write the part fails the copy though its checksum agrees") {
  LabHosts lab;
  SshSession backup(lab.target("backup_storage"));
  fs::path src = lab.engine.dir.path() / "src.bin";
  test::random_file(src, 2 << 20);
  const lab::FleetHost& host = lab.fleet.host("backup_storage");
  // A .part that cannot be written (a directory stands in its place): tee
  // reports it and still passes every byte on, so sha256sum agrees and
  // without pipefail the pipeline succeeds: tee's complaint must fail it.
  fs::create_directories(host.in_sandbox("/srv/backups/w.bin.part/inside"));
  lab.fleet.set_faults("backup_storage", R"({"fail": [{"match": "install -m", "exit": 0, "times": 1}]})");
  CHECK_THROWS_WITH_AS(copy_file({nullptr, src.string()}, {&backup, "/srv/backups/w.bin"}, {}),
                       doctest::Contains("w.bin.part failed"), std::runtime_error);
  CHECK(!fs::exists(host.in_sandbox("/srv/backups/w.bin")));
}

TEST_CASE("transfer: a far side that stops taking bytes fails the copy naming how many arrived") {
  LabHosts lab;
  SshSession backup(lab.target("backup_storage"));
  fs::path src = lab.engine.dir.path() / "src.bin";
  test::random_file(src, 12 << 20);
  const lab::FleetHost& host = lab.fleet.host("backup_storage");
  // The writer exits at once with success, as one whose disk vanished might.
  lab.fleet.set_faults("backup_storage", R"({"fail": [{"match": "dd of=", "exit": 0, "times": 1}]})");
  CHECK_THROWS_WITH_AS(copy_file({nullptr, src.string()}, {&backup, "/srv/backups/s.bin"}, {}),
                       doctest::Contains("bytes arrived of 12582912"), std::runtime_error);
  CHECK(!fs::exists(host.in_sandbox("/srv/backups/s.bin")));
  CHECK(!fs::exists(host.in_sandbox("/srv/backups/s.bin.part")));
}

TEST_CASE("transfer: an interrupted copy stops and leaves no half file under the final name") {
  LabHosts lab;
  SshSession backup(lab.target("backup_storage"));
  fs::path src = lab.engine.dir.path() / "src.bin";
  test::random_file(src, 40 << 20);
  const lab::FleetHost& host = lab.fleet.host("backup_storage");
  TransferOptions o;
  // The source asks once a block: the stop comes after a few blocks left.
  std::atomic<int> asked{0};
  o.should_stop = [&] { return ++asked > 5; };
  CHECK_THROWS_AS(copy_file({nullptr, src.string()}, {&backup, "/srv/backups/i.bin"}, o), Interrupted);
  CHECK(asked > 5);
  CHECK(!fs::exists(host.in_sandbox("/srv/backups/i.bin")));
  CHECK(!fs::exists(host.in_sandbox("/srv/backups/i.bin.part")));
  // And a download cut short leaves no local file either.
  fs::create_directories(host.in_sandbox("/srv/backups"));
  test::random_file(host.in_sandbox("/srv/backups/d.bin"), 40 << 20);
  fs::path local = lab.engine.dir.path() / "d.bin";
  asked = 0;
  o.should_stop = [&] { return ++asked > 3; };
  CHECK_THROWS_AS(copy_file({&backup, "/srv/backups/d.bin"}, {nullptr, local.string()}, o), Interrupted);
  CHECK(!fs::exists(local));
  CHECK(!fs::exists(local.string() + ".part"));
}

TEST_CASE("transfer: a host hashes with OpenSSL where it has it and with sha256sum where not - the same digest") {
  // The command runs under a real sh here: once with the machine's PATH
  // (OpenSSL's command line is there), once with a PATH holding sha256sum
  // and sh but no openssl, as on a minimal host.
  she::test::TempDir dir;
  const fs::path file = dir.path() / "-data";  // a name that reads like an option
  test::random_file(file, 1 << 20);
  const fs::path bin = dir.path() / "bin";
  fs::create_directories(bin);
  fs::create_symlink(fs::path("/usr/bin/sha256sum"), bin / "sha256sum");
  fs::create_symlink(fs::path("/bin/sh"), bin / "sh");
  auto digest = [&](const std::string& path_env, const std::string& name) {
    std::string cmd = "cd " + shell_quote(dir.path().string()) + " && PATH=" + shell_quote(path_env) + " " +
                      shell_join(host_sha256_command(name)) + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[256];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    CHECK(::pclose(p) == 0);
    return out;
  };
  std::string with_openssl = digest("/usr/bin:/bin", file.filename().string());
  std::string without = digest(bin.string(), file.filename().string());
  CHECK_MESSAGE(with_openssl.find(" *./-data") != std::string::npos, with_openssl);  // openssl dgst -r's form
  CHECK_MESSAGE(without.find("  ./-data") != std::string::npos, without);             // sha256sum's
  CHECK(with_openssl.substr(0, 64) == without.substr(0, 64));
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  CHECK(with_openssl.substr(0, 64) == sha256_hex(bytes));
}
