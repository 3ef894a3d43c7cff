// The lab's simulated hosts (lab/host_fleet.h, lab/agent/): real sshd on
// 127.0.0.x, reached with the system `ssh` client, each command the plans
// run checked for the real tools' exit codes and messages, the world
// effects of hosted-engine and engine-backup, and the faults.
#include <doctest/doctest.h>

#include <archive.h>
#include <archive_entry.h>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "hosts/backup_archive.h"
#include "hosts/hosted_engine_command.h"
#include "hosts/shell_quote.h"
#include "lab/host_fleet.h"
#include "tests/lab_fixture.h"
#include "tests/test_support.h"

using namespace she;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct Ssh {
  int exit_code = -1;
  std::string out, err;
};

std::string sha256_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    EVP_DigestUpdate(ctx, buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  std::string hex;
  static const char* digits = "0123456789abcdef";
  for (unsigned i = 0; i < len; ++i) {
    hex += digits[md[i] >> 4];
    hex += digits[md[i] & 15];
  }
  return hex;
}


std::vector<nlohmann::json> log_lines(const fs::path& log) {
  std::vector<nlohmann::json> out;
  std::istringstream in(test::read_file(log));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

bool wait_for(const std::function<bool()>& ready, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!ready()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

/// A lab engine on 127.0.0.1 and a fleet of hosts: the three-hosts
/// scenario's world hosts (hosted_engine_1..3, host_4), the engine VM, the
/// backup storage and the spare.
struct LabHosts {
  test::LabEngine engine;
  test::TempDir dir;  // before the fleet: removed after it stops
  lab::HostFleet fleet;

  explicit LabHosts(int first_octet = 2) {
    lab::WorldState st = lab::load_scenario(test::source_path("examples/lab/three-hosts.yaml"));
    fleet.start(dir.path() / "fleet", lab::scenario_fleet(st, first_octet), lab::HostFleet::default_agent_binary(),
                engine.server->agent_socket());
  }

  std::string ssh_base(const std::string& host, const fs::path& known_hosts = {}) const {
    const auto& h = fleet.host(host);
    return "ssh -F /dev/null -i " + shell_quote(fleet.client_key().string()) + " -o UserKnownHostsFile=" +
           shell_quote((known_hosts.empty() ? fleet.known_hosts() : known_hosts).string()) +
           " -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR -p " +
           std::to_string(h.port) + " " + shell_quote(fleet.user() + "@" + h.address);
  }

  /// Runs `command` (the remote command line) on `host`; stdin from
  /// `in_file` and stdout to `out_file` when given.
  Ssh ssh(const std::string& host, const std::string& command, const fs::path& in_file = {},
          const fs::path& out_file = {}, const fs::path& known_hosts = {}) const {
    static int counter = 0;
    const fs::path out = out_file.empty() ? dir.path() / ("out." + std::to_string(++counter)) : out_file;
    const fs::path err = dir.path() / ("err." + std::to_string(++counter));
    const std::string line = ssh_base(host, known_hosts) + " " + shell_quote(command) + " < " +
                             shell_quote(in_file.empty() ? "/dev/null" : in_file.string()) + " > " +
                             shell_quote(out.string()) + " 2> " + shell_quote(err.string());
    const int status = std::system(line.c_str());
    Ssh r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (out_file.empty()) r.out = test::read_file(out);
    r.err = test::read_file(err);
    return r;
  }

  Ssh run(const std::string& host, const std::vector<std::string>& argv) const { return ssh(host, shell_join(argv)); }

  fs::path sandbox(const std::string& host, const std::string& path) const { return fleet.host(host).in_sandbox(path); }

  /// engine-backup on the engine VM, then the archive copied to `to_host`.
  std::string backup_to(const std::string& to_host, const std::string& to_path) const {
    auto r = run("engine", {"engine-backup", "--mode=backup", "--file=/root/engine.backup", "--log=/root/backup.log"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const fs::path local = dir.path() / "engine.backup";
    REQUIRE(ssh("engine", "dd if=/root/engine.backup bs=65536 status=none", {}, local).exit_code == 0);
    REQUIRE(run(to_host, {"mkdir", "-p", "--", fs::path(to_path).parent_path().string()}).exit_code == 0);
    REQUIRE(ssh(to_host, shell_join({"dd", "of=" + to_path, "bs=65536", "status=none"}), local).exit_code == 0);
    return sha256_file(local);
  }
};

}  // namespace

TEST_CASE("lab hosts: one sshd per host on its loopback address - keys in known_hosts - unknown keys refused") {
  LabHosts lab;
  REQUIRE(lab.fleet.hosts().size() == 7);
  for (const auto& h : lab.fleet.hosts()) {
    CHECK(h.address.rfind("127.0.0.", 0) == 0);
    CHECK(h.port > 0);
    CHECK(h.sshd_pid > 0);
    CHECK(h.host_key_fingerprint.rfind("SHA256:", 0) == 0);
    // The fingerprint is ssh-keygen's.
    auto fp = test::run("ssh-keygen -l -E sha256 -f " + shell_quote(h.host_key.string() + ".pub"));
    CHECK(fp.output.find(h.host_key_fingerprint + " ") != std::string::npos);
    CHECK(test::read_file(lab.fleet.known_hosts()).find("[" + h.address + "]:" + std::to_string(h.port) + " ssh-ed25519 ") !=
          std::string::npos);
  }
  auto r = lab.run("hosted_engine_1", {"hostname"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "host1.example.com\n");
  CHECK(lab.run("engine", {"hostname"}).out == "engine.example.com\n");

  // A host key that is not in known_hosts is refused (StrictHostKeyChecking=yes).
  const fs::path empty = lab.dir.path() / "empty_known_hosts";
  test::write_file(empty, "");
  r = lab.ssh("host_4", "true", {}, {}, empty);
  CHECK(r.exit_code == 255);
  CHECK(r.err.find("Host key verification failed") != std::string::npos);
  // Another host's key for this address and port is a mismatch.
  const auto& h1 = lab.fleet.host("hosted_engine_1");
  const auto& h4 = lab.fleet.host("host_4");
  test::write_file(empty, "[" + h4.address + "]:" + std::to_string(h4.port) + " " + h1.host_key_line + "\n");
  r = lab.ssh("host_4", "true", {}, {}, empty);
  CHECK(r.exit_code == 255);
}

TEST_CASE("lab hosts: file commands with the exit codes and messages of the real tools") {
  LabHosts lab;
  const std::string h = "host_4";
  CHECK(lab.run(h, {"true"}).exit_code == 0);
  CHECK(lab.run(h, {"echo", "hello", "world"}).out == "hello world\n");
  auto r = lab.run(h, {"frobnicate", "--now"});
  CHECK(r.exit_code == 127);
  CHECK(r.err.find("frobnicate: command not found") != std::string::npos);
  // The tools of other roles are not installed here.
  r = lab.run(h, {"engine-backup", "--mode=backup"});
  CHECK(r.exit_code == 127);
  CHECK(r.err.find("engine-backup: command not found") != std::string::npos);

  // test -e|-f|-d, negated both ways.
  CHECK(lab.run(h, {"test", "-d", "/etc"}).exit_code == 0);
  CHECK(lab.run(h, {"test", "-e", "/etc/nothing"}).exit_code == 1);
  CHECK(lab.run(h, {"test", "!", "-e", "/etc/nothing"}).exit_code == 0);
  CHECK(lab.ssh(h, "test '!' -e /etc/hostname").exit_code == 1);
  CHECK(lab.run(h, {"test", "-f", "/etc/hostname"}).exit_code == 0);
  CHECK(lab.run(h, {"test", "-f", "/etc"}).exit_code == 1);

  // mkdir, install, chmod, stat, mv, cat, sha256sum, rm.
  CHECK(lab.run(h, {"mkdir", "-p", "--", "/srv/backups/engine"}).exit_code == 0);
  CHECK(fs::is_directory(lab.sandbox(h, "/srv/backups/engine")));
  CHECK(lab.run(h, {"install", "-m", "0600", "/dev/null", "/srv/backups/engine/pass"}).exit_code == 0);
  const fs::path pass = lab.sandbox(h, "/srv/backups/engine/pass");
  REQUIRE(fs::exists(pass));
  CHECK((fs::status(pass).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  CHECK(fs::file_size(pass) == 0);
  CHECK(lab.run(h, {"chmod", "0640", "--", "/srv/backups/engine/pass"}).exit_code == 0);
  CHECK((fs::status(pass).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
  test::write_file(lab.sandbox(h, "/srv/backups/engine/a.txt"), "abc");
  r = lab.run(h, {"stat", "-c", "%s", "--", "/srv/backups/engine/a.txt"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "3\n");
  r = lab.run(h, {"stat", "-c", "%s", "--", "/nothing"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "stat: cannot statx '/nothing': No such file or directory\n");
  CHECK(lab.run(h, {"mv", "-f", "--", "/srv/backups/engine/a.txt", "/srv/backups/engine/b.txt"}).exit_code == 0);
  CHECK(lab.run(h, {"cat", "--", "/srv/backups/engine/b.txt"}).out == "abc");
  r = lab.run(h, {"cat", "--", "/srv/backups/engine/a.txt"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "cat: /srv/backups/engine/a.txt: No such file or directory\n");
  r = lab.run(h, {"mv", "-f", "--", "/nothing", "/x"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "mv: cannot stat '/nothing': No such file or directory\n");
  r = lab.run(h, {"sha256sum", "--", "/srv/backups/engine/b.txt"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  /srv/backups/engine/b.txt\n");
  r = lab.run(h, {"sha256sum", "--", "/nothing"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "sha256sum: /nothing: No such file or directory\n");
  CHECK(lab.run(h, {"rm", "-f", "--", "/srv/backups/engine/b.txt", "/srv/backups/engine/none"}).exit_code == 0);
  CHECK_FALSE(fs::exists(lab.sandbox(h, "/srv/backups/engine/b.txt")));
  r = lab.run(h, {"rm", "-f", "--", "/srv/backups/engine"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "rm: cannot remove '/srv/backups/engine': Is a directory\n");
  r = lab.run(h, {"mkdir", "-p", "--", "/srv/backups/engine/pass"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "mkdir: cannot create directory '/srv/backups/engine/pass': File exists\n");
  r = lab.run(h, {"install", "-m", "0600", "/dev/null", "/no/such/dir/x"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "install: cannot create regular file '/no/such/dir/x': No such file or directory\n");

  // sh -c takes an AND list of pipelines (a transfer's `dd of=F && hash F`):
  // each runs once the one before succeeded; `&&` inside quotes is a word.
  CHECK(lab.run(h, {"sh", "-c", "echo one && echo two"}).out == "one\ntwo\n");
  r = lab.run(h, {"sh", "-c", "test -e /nothing && echo never"});
  CHECK(r.exit_code == 1);
  CHECK(r.out.empty());
  CHECK(lab.run(h, {"sh", "-c", "echo 'a && b'"}).out == "a && b\n");
  r = lab.run(h, {"sh", "-c", "echo a &&"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("Syntax error") != std::string::npos);

  // A leading `sudo -n --` is the plans' optional sudo.
  CHECK(lab.run(h, {"sudo", "-n", "--", "echo", "as root"}).out == "as root\n");
  // `..` never leaves the sandbox.
  CHECK(lab.run(h, {"cat", "--", "/../../../../etc/hostname"}).out == "host4.example.com\n");
  CHECK(lab.run(h, {"mkdir", "-p", "--", "/../../../escape"}).exit_code == 0);
  CHECK(fs::is_directory(lab.sandbox(h, "/escape")));
  CHECK_FALSE(fs::exists(lab.fleet.host(h).sandbox.parent_path() / "escape"));

  // sleep runs for as long as asked.
  const auto start = std::chrono::steady_clock::now();
  CHECK(lab.run(h, {"sleep", "0.3"}).exit_code == 0);
  CHECK(std::chrono::steady_clock::now() - start >= 300ms);
}

TEST_CASE("lab hosts: hostile arguments arrive as one argument - nothing is ever run by a shell") {
  LabHosts lab;
  const std::string h = "backup_storage";
  const std::vector<std::string> hostile = {"a;rm -rf /", "it's \"quoted\"", "two  spaces", "$(id)", "`id`",
                                            "$HOME", "*", "back\\slash", "tab\there", "semi;colon&amp|pipe>out"};
  for (const auto& arg : hostile) {
    auto r = lab.run(h, {"echo", arg});
    CHECK_MESSAGE(r.exit_code == 0, arg);
    CHECK_MESSAGE(r.out == arg + "\n", arg);
  }
  // One argument each: a file named exactly so.
  for (const auto& name : {"it's \"quoted\"", "two  spaces", "$(id)", "`id`", "semi;colon&amp|pipe>out"}) {
    CHECK(lab.run(h, {"install", "-m", "0600", "/dev/null", std::string("/tmp/") + name}).exit_code == 0);
    CHECK_MESSAGE(fs::exists(lab.sandbox(h, std::string("/tmp/") + name)), name);
  }
  CHECK(lab.run(h, {"mkdir", "-p", "--", "/tmp/a;rm -rf /"}).exit_code == 0);
  CHECK(fs::is_directory(lab.sandbox(h, "/tmp/a;rm -rf ")));
  // Unquoted shell syntax is refused, not interpreted.
  auto r = lab.ssh(h, "echo $(id)");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("refused: command substitution") != std::string::npos);
  r = lab.ssh(h, "echo a; touch /tmp/pwned");
  CHECK(r.exit_code == 2);
  CHECK_FALSE(fs::exists(lab.sandbox(h, "/tmp/pwned")));
  // The agent log has the command lines exactly as the client sent them.
  std::vector<std::string> commands;
  for (const auto& line : log_lines(lab.fleet.host(h).agent_log))
    if (line.contains("command")) commands.push_back(line["command"].get<std::string>());
  CHECK(std::find(commands.begin(), commands.end(), shell_join({"echo", "a;rm -rf /"})) != commands.end());
  CHECK(std::find(commands.begin(), commands.end(), "echo $(id)") != commands.end());
}

TEST_CASE("lab hosts: a 100 MiB dd round trip keeps its sha256 - resumes at a byte offset") {
  LabHosts lab;
  const fs::path big = lab.dir.path() / "big";
  test::random_file(big, 100u << 20);
  const std::string sum = sha256_file(big);
  auto r = lab.ssh("hosted_engine_2", "dd of=/root/big bs=65536 status=none", big);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  r = lab.run("hosted_engine_2", {"sha256sum", "--", "/root/big"});
  CHECK(r.out == sum + "  /root/big\n");
  CHECK(lab.run("hosted_engine_2", {"stat", "-c", "%s", "--", "/root/big"}).out == std::to_string(100u << 20) + "\n");
  const fs::path back = lab.dir.path() / "back";
  r = lab.ssh("hosted_engine_2", "dd if=/root/big bs=65536 status=none", {}, back);
  REQUIRE(r.exit_code == 0);
  CHECK(sha256_file(back) == sum);

  // Resume: the first 1000 bytes, then the rest written from byte 1000.
  const fs::path small = lab.dir.path() / "small";
  test::random_file(small, 300000);
  const std::string all = test::read_file(small);
  test::write_file(lab.dir.path() / "head", all.substr(0, 1000));
  test::write_file(lab.dir.path() / "tail", all.substr(1000));
  CHECK(lab.ssh("host_4", "dd of=/root/s bs=65536 status=none", lab.dir.path() / "head").exit_code == 0);
  CHECK(lab.ssh("host_4", "dd of=/root/s bs=65536 seek=1000 oflag=seek_bytes conv=notrunc status=none",
                lab.dir.path() / "tail")
            .exit_code == 0);
  CHECK(test::read_file(lab.sandbox("host_4", "/root/s")) == all);
  // Read from byte 299000.
  r = lab.ssh("host_4", "dd if=/root/s bs=65536 skip=299000 iflag=skip_bytes status=none");
  CHECK(r.exit_code == 0);
  CHECK(r.out == all.substr(299000));
  // Without conv=notrunc the file is cut at the offset.
  CHECK(lab.ssh("host_4", "dd of=/root/s bs=65536 seek=10 oflag=seek_bytes status=none", lab.dir.path() / "head")
            .exit_code == 0);
  CHECK(test::read_file(lab.sandbox("host_4", "/root/s")) == all.substr(0, 10) + all.substr(0, 1000));
  r = lab.ssh("host_4", "dd if=/root/none bs=65536 status=none");
  CHECK(r.exit_code == 1);
  CHECK(r.err == "dd: failed to open '/root/none': No such file or directory\n");
}

TEST_CASE("lab hosts: dd counts its reads as GNU dd does - count_bytes takes exactly its bytes only with fullblock") {
  // Two files through one channel (HostStep::upload): the first dd must
  // leave the second file's bytes on standard input. A block larger than
  // the pipe from sshd holds makes each plain read return at most 64 KiB,
  // so without fullblock the count runs out early, as with coreutils.
  LabHosts lab;
  const fs::path in = lab.dir.path() / "in";
  test::random_file(in, 2000000 + 1000);
  const std::string all = test::read_file(in);
  auto both = [&](const std::string& iflag) {
    return lab.ssh("host_4", shell_join({"sh", "-c", "dd of=/root/a bs=1048576 count=2000000 iflag=" + iflag +
                                                         " status=none && dd of=/root/b bs=65536 status=none"}),
                   in);
  };
  auto r = both("fullblock,count_bytes");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(test::read_file(lab.sandbox("host_4", "/root/a")) == all.substr(0, 2000000));
  CHECK(test::read_file(lab.sandbox("host_4", "/root/b")) == all.substr(2000000));
  r = both("count_bytes");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const std::string a = test::read_file(lab.sandbox("host_4", "/root/a"));
  CHECK(a.size() < 2000000);
  CHECK(a + test::read_file(lab.sandbox("host_4", "/root/b")) == all);
}

TEST_CASE("lab hosts: hosted-engine vm-status JSON from the world - maintenance modes - deploy first") {
  LabHosts lab;
  auto r = lab.run("hosted_engine_1", hosted_engine_vm_status_argv());
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j.is_object());
  CHECK(j.size() == 4);  // three hosts and global_maintenance
  CHECK(j["global_maintenance"] == false);
  for (const char* id : {"1", "2", "3"}) {
    REQUIRE(j.contains(id));
    const auto& h = j[id];
    CHECK(h["host-id"] == std::stoi(id));
    CHECK(h["host-ts"].is_number_integer());
    CHECK(h["score"] == 3400);
    CHECK(h["engine-status"].is_object());
    CHECK(h["hostname"] == std::string("host") + id + ".example.com");
    CHECK(h["maintenance"] == false);
    CHECK(h["stopped"] == false);
    CHECK(h["conf_on_shared_storage"] == true);
    CHECK(h["live-data"] == true);
  }
  // The engine VM runs on hosted_engine_2.
  CHECK(j["2"]["engine-status"] == nlohmann::json({{"vm", "up"}, {"health", "good"}, {"detail", "Up"}}));
  CHECK(j["1"]["engine-status"]["vm"] == "down");
  CHECK(j["1"]["engine-status"]["detail"] == "unknown");
  // Python's json.dumps separators.
  CHECK(r.out.rfind("{\"1\": {\"host-id\": 1, \"host-ts\": ", 0) == 0);

  // Not a hosted-engine host: not deployed.
  r = lab.run("hosted_engine_3", {"rm", "-f", "--", "/etc/ovirt-hosted-engine/hosted-engine.conf"});
  r = lab.run("hosted_engine_3", hosted_engine_vm_status_argv());
  CHECK(r.exit_code == 1);
  CHECK(r.out == "You must run deploy first\n");

  // Global maintenance, then local refused where the engine VM runs.
  CHECK(lab.run("hosted_engine_1", hosted_engine_set_maintenance_argv("global")).exit_code == 0);
  CHECK(lab.engine.world.global_maintenance());
  CHECK(nlohmann::json::parse(lab.run("hosted_engine_1", hosted_engine_vm_status_argv()).out)["global_maintenance"] ==
        true);
  r = lab.run("hosted_engine_2", hosted_engine_set_maintenance_argv("local"));
  CHECK(r.exit_code == 1);
  CHECK(r.err ==
        "Unable to enter local maintenance mode: the engine VM is running on the current host, please migrate it "
        "before entering local maintenance mode.\n");
  CHECK(lab.run("hosted_engine_1", hosted_engine_set_maintenance_argv("local")).exit_code == 0);
  j = nlohmann::json::parse(lab.run("hosted_engine_2", hosted_engine_vm_status_argv()).out);
  CHECK(j["1"]["maintenance"] == true);
  CHECK(j["1"]["score"] == 0);
  CHECK(lab.run("hosted_engine_1", hosted_engine_set_maintenance_argv("none")).exit_code == 0);
  CHECK_FALSE(lab.engine.world.global_maintenance());
  j = nlohmann::json::parse(lab.run("hosted_engine_2", hosted_engine_vm_status_argv()).out);
  CHECK(j["1"]["maintenance"] == false);
  CHECK(j["1"]["score"] == 3400);

  // A crashed host: stale data; removed from the engine, its slot stays
  // until --clean-metadata, which needs --force-cleanup for a dead agent.
  lab.engine.world.set_host_status("hosted_engine_3", lab::HostStatus::NonResponsive);
  j = nlohmann::json::parse(lab.run("hosted_engine_1", hosted_engine_vm_status_argv()).out);
  CHECK(j["3"]["live-data"] == false);
  REQUIRE(lab.engine.world.fence_manual(lab.engine.host_id("hosted_engine_3"), {}).ok());
  REQUIRE(lab.engine.world.remove_host(lab.engine.host_id("hosted_engine_3"), true, {}).ok());
  j = nlohmann::json::parse(lab.run("hosted_engine_1", hosted_engine_vm_status_argv()).out);
  REQUIRE(j.contains("3"));
  CHECK(j["3"]["live-data"] == false);
  r = lab.run("hosted_engine_1", hosted_engine_clean_metadata_argv("3", false));
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("Cannot clean unclean metadata block. Consider --force-clean.") != std::string::npos);
  CHECK(nlohmann::json::parse(lab.run("hosted_engine_1", hosted_engine_vm_status_argv()).out).contains("3"));
  r = lab.run("hosted_engine_1", hosted_engine_clean_metadata_argv("3", true));
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("Cleaning the metadata block!") != std::string::npos);
  CHECK_FALSE(nlohmann::json::parse(lab.run("hosted_engine_1", hosted_engine_vm_status_argv()).out).contains("3"));
}

TEST_CASE("lab hosts: engine-backup writes an archive that verifies - with the real progress lines") {
  LabHosts lab;
  auto r = lab.run("engine", {"engine-backup", "--mode=backup", "--file=/var/lib/b/engine.backup",
                              "--log=/var/log/engine-backup.log"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "FATAL: Cannot create '/var/lib/b/engine.backup'\n");
  REQUIRE(lab.run("engine", {"mkdir", "-p", "--", "/var/lib/b"}).exit_code == 0);
  r = lab.run("engine", {"engine-backup", "--mode=backup", "--file=/var/lib/b/engine.backup",
                         "--log=/var/log/engine-backup.log"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out ==
        "Start of engine-backup with mode 'backup'\n"
        "scope: all\n"
        "archive file: /var/lib/b/engine.backup\n"
        "log file: /var/log/engine-backup.log\n"
        "Backing up:\n"
        "- Files\n"
        "- Engine database 'engine'\n"
        "Packing into file '/var/lib/b/engine.backup'\n"
        "Done.\n");
  BackupSummary s;
  std::vector<std::string> problems;
  CHECK(verify_backup_archive(lab.sandbox("engine", "/var/lib/b/engine.backup").string(), "4.5.6", &s, &problems));
  CHECK(problems.empty());
  CHECK(s.version == "4.5.6");
  CHECK(s.os_version == "centos8");
  CHECK(s.engine_fqdn == "engine.example.com");
  CHECK(std::find(s.scopes.begin(), s.scopes.end(), "db") != s.scopes.end());
  CHECK(std::find(s.scopes.begin(), s.scopes.end(), "files") != s.scopes.end());
  CHECK(s.checksum_kind == "sha256sum");
  CHECK(fs::exists(lab.sandbox("engine", "/var/log/engine-backup.log")));
  // The remote sha256sum agrees with the local one.
  CHECK(lab.run("engine", {"sha256sum", "--", "/var/lib/b/engine.backup"}).out ==
        s.sha256 + "  /var/lib/b/engine.backup\n");
  r = lab.run("engine", {"engine-backup", "--mode=backup", "--file=/x", "--log=/x"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "FATAL: --file and --log can not be the same\n");
}

TEST_CASE("lab hosts: engine-backup restore follows the tool's rules - engine-setup only after a restore") {
  LabHosts lab;
  REQUIRE(lab.run("engine", {"engine-backup", "--mode=backup", "--file=/root/e.backup", "--log=/root/e.log"})
              .exit_code == 0);
  auto restore = [&](std::vector<std::string> extra, const std::string& file = "/root/e.backup") {
    std::vector<std::string> argv = {"engine-backup", "--mode=restore", "--file=" + file, "--log=/root/r.log"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return lab.run("engine", argv);
  };
  // engine-setup before any restore fails.
  auto r = lab.run("engine", engine_setup_argv("", false));
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("[ ERROR ] Execution of setup failed") != std::string::npos);

  r = restore({"--provision-all-databases", "--restore-permissions"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "FATAL: Engine service is active - can not restore backup\n");
  REQUIRE(lab.run("engine", {"rm", "-f", "--", "/var/lib/ovirt-engine/engine.up"}).exit_code == 0);

  r = restore({"--provision-all-databases"}, "/root/none.backup");
  CHECK(r.exit_code == 1);
  CHECK(r.err == "FATAL: /root/none.backup does not exist\n");
  r = restore({"--provision-db", "--change-db-credentials", "--db-host=db.example.com"});
  CHECK(r.err == "FATAL: Cannot change credentials if provisioning a database\n");
  r = restore({"--restore-permissions", "--db-user=engine"});
  CHECK(r.err == "FATAL: Please use --change-db-credentials to change engine db credentials\n");
  r = restore({});
  CHECK(r.exit_code == 1);
  CHECK(r.err ==
        "FATAL: Please pass one of --restore-permissions or --no-restore-permissions when restoring a backup with a "
        "custom dump format\n");

  // A damaged archive and one whose entry does not match its checksum.
  const fs::path good = lab.sandbox("engine", "/root/e.backup");
  std::string bytes = test::read_file(good);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x55);
  test::write_file(lab.sandbox("engine", "/root/flipped.backup"), bytes);
  r = restore({"--provision-all-databases"}, "/root/flipped.backup");
  CHECK(r.exit_code == 1);
  CHECK(r.err.rfind("FATAL: ", 0) == 0);
  test::rewrite_archive(good.string(), lab.sandbox("engine", "/root/tampered.backup").string(),
                        [](const std::string& name, std::string& content) {
                          if (name == "./os_version") content = "rhel9\n";
                          return true;
                        });
  r = restore({"--provision-all-databases"}, "/root/tampered.backup");
  CHECK(r.exit_code == 1);
  CHECK(r.err == "FATAL: Checksum verification failed\n");

  // The version pair: a 4.5 backup cannot be restored by a 4.4 engine.
  fs::create_directories(lab.sandbox("engine", "/etc/she-lab"));
  test::write_file(lab.sandbox("engine", "/etc/she-lab/engine-version"), "4.4.10\n");
  r = restore({"--provision-all-databases"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "FATAL: " + version_pair_problem("4.5.6", "4.4.10") + "\n");
  fs::remove(lab.sandbox("engine", "/etc/she-lab/engine-version"));

  r = restore({"--provision-all-databases", "--restore-permissions"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.rfind("Start of engine-backup with mode 'restore'\n", 0) == 0);
  CHECK(r.out.find("- user 'engine', database 'engine'\n") != std::string::npos);
  const std::string end = "You should now run engine-setup.\nDone.\n";
  REQUIRE(r.out.size() > end.size());
  CHECK(r.out.compare(r.out.size() - end.size(), end.size(), end) == 0);
  const auto record = nlohmann::json::parse(test::read_file(lab.sandbox("engine", "/var/lib/she-lab/engine-restore.json")));
  CHECK(record["file"] == "/root/e.backup");
  CHECK(record["provisioned"] == true);

  r = lab.run("engine", engine_setup_argv("/root/none.conf", true));
  CHECK(r.exit_code == 1);
  lab.run("engine", {"install", "-m", "0600", "/dev/null", "/root/answers.conf"});
  r = lab.run("engine", engine_setup_argv("/root/answers.conf", true));
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("[ INFO  ] Execution of setup completed successfully\n") != std::string::npos);
  // The engine runs again: another restore is refused.
  CHECK(restore({"--provision-all-databases"}).err == "FATAL: Engine service is active - can not restore backup\n");
}

TEST_CASE("lab hosts: deploy from a backup restores the world - pauses on the hook - then adds the host") {
  LabHosts lab;
  auto& world = lab.engine.world;
  // The failover host in maintenance at backup time (seed 000).
  REQUIRE(world.deactivate_host(lab.engine.host_id("hosted_engine_1"), "", {}).ok());
  world.tick();
  world.tick();
  REQUIRE(world.host_by_name("hosted_engine_1")->status == lab::HostStatus::Maintenance);
  lab.backup_to("hosted_engine_1", "/root/she-restore/engine.backup");
  // The failover host is reinstalled: no hosted-engine configuration.
  REQUIRE(lab.run("hosted_engine_1", {"rm", "-f", "--", "/etc/ovirt-hosted-engine/hosted-engine.conf"}).exit_code == 0);

  const std::string hooks = std::string(kHostedEngineHooksDir) + "/enginevm_after_engine_setup";
  REQUIRE(lab.run("hosted_engine_1", {"mkdir", "-p", "--", hooks}).exit_code == 0);
  test::write_file(lab.dir.path() / "hook.yml", deploy_pause_hook("/root/she-restore/deploy.lock"));
  REQUIRE(lab.ssh("hosted_engine_1", shell_join({"dd", "of=" + hooks + "/she-restore-pause.yml", "bs=65536", "status=none"}),
                  lab.dir.path() / "hook.yml")
              .exit_code == 0);
  REQUIRE(lab.run("hosted_engine_1", {"install", "-m", "0600", "/dev/null", "/root/she-restore/deploy.lock"}).exit_code == 0);
  REQUIRE(lab.run("hosted_engine_1", {"install", "-m", "0600", "/dev/null", "/root/she-restore/answers.conf"}).exit_code == 0);

  std::vector<std::string> argv = {"systemd-run", "--unit=she-restore-deploy", "--collect", "--"};
  auto deploy = hosted_engine_deploy_restore_argv("/root/she-restore/engine.backup", "/root/she-restore/answers.conf");
  argv.insert(argv.end(), deploy.begin(), deploy.end());
  auto r = lab.run("hosted_engine_1", argv);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.err == "Running as unit: she-restore-deploy.service\n");
  const fs::path log = lab.sandbox("hosted_engine_1", "/var/log/she-restore/she-restore-deploy.log");
  const fs::path status = lab.sandbox("hosted_engine_1", "/var/log/she-restore/she-restore-deploy.status");
  REQUIRE(wait_for([&] { return test::read_file(log).find(kDeployPauseMarker) != std::string::npos; }));
  CHECK_FALSE(fs::exists(status));

  // The restored world, before Add host: the failover host's record gone,
  // the other hosted-engine hosts non responsive with their VMs unknown, the
  // regular SPM host up, no engine VM, the engine healthy.
  CHECK_FALSE(world.host_by_name("hosted_engine_1"));
  CHECK(world.host_by_name("hosted_engine_2")->status == lab::HostStatus::NonResponsive);
  CHECK(world.host_by_name("hosted_engine_3")->status == lab::HostStatus::NonResponsive);
  CHECK(world.vm_by_name("app01")->status == lab::VmStatus::Unknown);
  CHECK(world.host_by_name("host_4")->status == lab::HostStatus::Up);
  CHECK(world.host_by_name("host_4")->spm == lab::SpmStatus::Spm);
  CHECK_FALSE(world.vm_by_name("HostedEngine"));
  CHECK(world.engine().health_up);

  REQUIRE(lab.run("hosted_engine_1", {"rm", "-f", "--", "/root/she-restore/deploy.lock"}).exit_code == 0);
  REQUIRE(wait_for([&] { return fs::exists(status); }));
  CHECK(test::read_file(status) == "0\n");
  CHECK(test::read_file(log).find("[ INFO  ] Hosted Engine successfully deployed\n") != std::string::npos);
  auto he1 = world.host_by_name("hosted_engine_1");
  REQUIRE(he1);
  CHECK(he1->status == lab::HostStatus::Up);
  REQUIRE(he1->hosted_engine);
  CHECK(he1->hosted_engine->score == 3400);
  CHECK(he1->hosted_engine->host_id == 1);
  CHECK(he1->address == "host1.example.com");
  CHECK(he1->hardware_id == "4c4c4544-0031-3510-8033-b3c04f4e3132");
  CHECK(world.vm_by_name("HostedEngine")->host_id == he1->id);
  CHECK(fs::exists(lab.sandbox("hosted_engine_1", "/etc/ovirt-hosted-engine/hosted-engine.conf")));
  auto j = nlohmann::json::parse(lab.run("hosted_engine_1", hosted_engine_vm_status_argv()).out);
  CHECK(j["1"]["engine-status"]["health"] == "good");
  CHECK(j["1"]["score"] == 3400);
  CHECK(j["2"]["live-data"] == false);
  // The unit is gone: the same name may run again.
  CHECK(lab.run("hosted_engine_1", {"systemd-run", "--unit=she-restore-deploy", "--collect", "--", "true"}).exit_code == 0);
}

TEST_CASE("lab hosts: deploy fails on a stale record of the host - and on missing files") {
  LabHosts lab;
  auto& world = lab.engine.world;
  REQUIRE(world.deactivate_host(lab.engine.host_id("hosted_engine_1"), "", {}).ok());
  world.tick();
  world.tick();
  lab.backup_to("hosted_engine_1", "/root/engine.backup");
  lab.run("hosted_engine_1", {"install", "-m", "0600", "/dev/null", "/root/answers.conf"});
  auto r = lab.run("hosted_engine_1", hosted_engine_deploy_restore_argv("/root/none.backup", "/root/answers.conf"));
  CHECK(r.exit_code == 1);
  CHECK(r.out == "File /root/none.backup not found!\n");
  r = lab.run("hosted_engine_1", hosted_engine_deploy_restore_argv("/root/engine.backup", "/root/none.conf"));
  CHECK(r.exit_code == 1);
  CHECK(r.out == "File /root/none.conf not found!\n");

  // An appliance older than the backup: engine-backup's version check
  // refuses it before anything is restored.
  const fs::path appliance = lab.fleet.host("hosted_engine_1").sandbox / "etc/she-lab/engine-version";
  fs::create_directories(appliance.parent_path());
  test::write_file(appliance, "4.4.9\n");
  r = lab.run("hosted_engine_1", hosted_engine_deploy_restore_argv("/root/engine.backup", "/root/answers.conf"));
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("[ ERROR ] engine-backup --mode=restore failed: FATAL: ") != std::string::npos);
  CHECK(r.out.find("4.4.9") != std::string::npos);
  CHECK(world.host_by_name("hosted_engine_2")->status == lab::HostStatus::Up);  // nothing restored
  fs::remove(appliance);

  // The role's bug: the restore keeps the host's old record.
  lab::Faults f = world.faults();
  f.restore_leaves_stale_host = true;
  world.set_faults(f);
  r = lab.run("hosted_engine_1", hosted_engine_deploy_restore_argv("/root/engine.backup", "/root/answers.conf"));
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("Cannot add Host. The Host name is already in use, please choose a unique name and try again.") !=
        std::string::npos);
  CHECK(r.out.find("[ ERROR ] fatal: [localhost]: FAILED! => {\"changed\": false, \"msg\": \"Host is not up, please check "
                   "logs, perhaps also on the engine machine\"}") != std::string::npos);
  // The stale record, as it was backed up.
  REQUIRE(world.host_by_name("hosted_engine_1"));
  CHECK(world.host_by_name("hosted_engine_1")->status == lab::HostStatus::Maintenance);
  CHECK(world.host_by_name("hosted_engine_2")->status == lab::HostStatus::NonResponsive);

  // Removed from the engine, the deploy goes through.
  REQUIRE(world.remove_host(lab.engine.host_id("hosted_engine_1"), false, {}).ok());
  f.restore_leaves_stale_host = false;
  world.set_faults(f);
  r = lab.run("hosted_engine_1", hosted_engine_deploy_restore_argv("/root/engine.backup", "/root/answers.conf"));
  CHECK_MESSAGE(r.exit_code == 0, r.out);
}

TEST_CASE("lab hosts: faults - a failing command - a drop mid-command and mid-transfer - an unreachable host") {
  LabHosts lab;
  const std::string h = "backup_storage";
  // A command failing with a given message, once.
  lab.fleet.set_faults(h, R"({"fail": [{"match": "sha256sum", "message": "sha256sum: I/O error", "exit": 3, "times": 1}]})");
  auto r = lab.run(h, {"sha256sum", "--", "/etc/hostname"});
  CHECK(r.exit_code == 3);
  CHECK(r.err == "sha256sum: I/O error\n");
  CHECK(lab.run(h, {"sha256sum", "--", "/etc/hostname"}).exit_code == 0);

  // The connection dropped mid-command: the command ran, the client lost it.
  lab.fleet.set_faults(h, R"({"drop_mid_command": "mkdir"})");
  r = lab.run(h, {"mkdir", "-p", "--", "/srv/dropped"});
  CHECK(r.exit_code == 255);
  CHECK(fs::is_directory(lab.sandbox(h, "/srv/dropped")));
  CHECK(lab.run(h, {"echo", "still", "there"}).out == "still there\n");

  // Mid-transfer, once: the partial file stays; the transfer resumes.
  const fs::path file = lab.dir.path() / "f";
  test::random_file(file, 1 << 20);
  lab.fleet.set_faults(h, R"({"drop_after_bytes": 300000, "drop_times": 1})");
  r = lab.ssh(h, "dd of=/root/f bs=65536 status=none", file);
  CHECK(r.exit_code == 255);
  CHECK(lab.run(h, {"stat", "-c", "%s", "--", "/root/f"}).out == "300000\n");
  const std::string all = test::read_file(file);
  test::write_file(lab.dir.path() / "rest", all.substr(300000));
  r = lab.ssh(h, "dd of=/root/f bs=65536 seek=300000 oflag=seek_bytes conv=notrunc status=none", lab.dir.path() / "rest");
  CHECK(r.exit_code == 0);
  CHECK(lab.run(h, {"sha256sum", "--", "/root/f"}).out == sha256_file(file) + "  /root/f\n");
  // A download dropped after 100000 bytes.
  lab.fleet.set_faults(h, R"({"drop_after_bytes": 100000})");
  r = lab.ssh(h, "dd if=/root/f bs=65536 status=none");
  CHECK(r.exit_code == 255);
  CHECK(r.out.size() <= 100000);
  CHECK(all.compare(0, r.out.size(), r.out) == 0);

  // A slow host.
  lab.fleet.set_faults(h, R"({"slow_ms": 400})");
  auto start = std::chrono::steady_clock::now();
  CHECK(lab.run(h, {"true"}).exit_code == 0);
  CHECK(std::chrono::steady_clock::now() - start >= 400ms);
  lab.fleet.set_faults(h, "{}");

  // Unreachable: its sshd stopped, then started again with the same key.
  lab.fleet.set_unreachable(h, true);
  CHECK(lab.fleet.unreachable(h));
  r = lab.run(h, {"true"});
  CHECK(r.exit_code == 255);
  CHECK(r.err.find("Connection refused") != std::string::npos);
  lab.fleet.set_unreachable(h, false);
  CHECK(lab.run(h, {"true"}).exit_code == 0);
}

TEST_CASE("lab hosts: systemd-run runs a command in the background - its log and exit code in the sandbox") {
  LabHosts lab;
  const std::string h = "hosted_engine_3";
  auto r = lab.run(h, {"systemd-run", "--unit=nap", "--collect", "--", "sleep", "1"});
  CHECK(r.exit_code == 0);
  CHECK(r.err == "Running as unit: nap.service\n");
  r = lab.run(h, {"systemd-run", "--unit=nap", "--collect", "--", "true"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "Failed to start transient service unit: Unit nap.service already exists.\n");
  const fs::path status = lab.sandbox(h, "/var/log/she-restore/nap.status");
  REQUIRE(wait_for([&] { return fs::exists(status); }));
  CHECK(test::read_file(status) == "0\n");
  CHECK(lab.run(h, {"systemd-run", "--unit=talk", "--collect", "--", "cat", "--", "/none"}).exit_code == 0);
  REQUIRE(wait_for([&] { return fs::exists(lab.sandbox(h, "/var/log/she-restore/talk.status")); }));
  CHECK(test::read_file(lab.sandbox(h, "/var/log/she-restore/talk.status")) == "1\n");
  CHECK(test::read_file(lab.sandbox(h, "/var/log/she-restore/talk.log")) == "cat: /none: No such file or directory\n");
  // A unit still running when the fleet stops is ended with it.
  CHECK(lab.run(h, {"systemd-run", "--unit=long", "--collect", "--", "sleep", "30"}).exit_code == 0);
  const fs::path pid_file = lab.sandbox(h, "/run/she-lab/units/long.pid");
  REQUIRE(wait_for([&] { return fs::exists(pid_file); }));
  const pid_t pid = std::atoi(test::read_file(pid_file).c_str());
  REQUIRE(pid > 0);
  CHECK(::kill(pid, 0) == 0);
  lab.fleet.stop();
  CHECK(wait_for([&] { return ::kill(pid, 0) != 0; }, 3s));
}

TEST_CASE("lab hosts: the agent log records every command line - never what came through stdin") {
  LabHosts lab;
  const std::string h = "engine";
  const std::string secret = "Sup3r-Secret-Passw0rd";
  test::write_file(lab.dir.path() / "secret", secret + "\n");
  REQUIRE(lab.run(h, {"install", "-m", "0600", "/dev/null", "/root/.pgpass"}).exit_code == 0);
  REQUIRE(lab.ssh(h, "dd of=/root/.pgpass bs=65536 status=none", lab.dir.path() / "secret").exit_code == 0);
  REQUIRE(lab.run(h, {"engine-backup", "--mode=restore", "--file=/root/x", "--db-passfile=/root/.pgpass"}).exit_code == 1);
  REQUIRE(lab.run(h, {"rm", "-f", "--", "/root/.pgpass"}).exit_code == 0);
  const std::vector<std::string> expected = {
      shell_join({"install", "-m", "0600", "/dev/null", "/root/.pgpass"}), "dd of=/root/.pgpass bs=65536 status=none",
      shell_join({"engine-backup", "--mode=restore", "--file=/root/x", "--db-passfile=/root/.pgpass"}),
      shell_join({"rm", "-f", "--", "/root/.pgpass"})};
  std::vector<std::string> commands;
  std::vector<int> exits;
  const std::string log = test::read_file(lab.fleet.host(h).agent_log);
  for (const auto& line : log_lines(lab.fleet.host(h).agent_log)) {
    CHECK(line["host"] == h);
    if (line.contains("command")) commands.push_back(line["command"]);
    if (line.contains("exit")) exits.push_back(line["exit"]);
  }
  CHECK(commands == expected);
  CHECK(exits == std::vector<int>{0, 0, 1, 0});
  CHECK(log.find(secret) == std::string::npos);
}

TEST_CASE("she-lab serve: starts the scenario's hosts - prints how to reach them - stops them on SIGTERM") {
  const fs::path she_lab = fs::path(SHE_TESTBED_BINARY).parent_path().parent_path() / "lab" / "she-lab";
  REQUIRE(fs::exists(she_lab));
  test::TempDir tmp;
  // Faults for two hosts, in the scenario.
  std::string scenario = test::read_file(test::source_path("examples/lab/three-hosts.yaml"));
  const std::string marker = "faults:\n";
  scenario.replace(scenario.find(marker), marker.size(),
                   "faults:\n  hosts:\n    host_4: {unreachable: true}\n"
                   "    engine: {fail: [{match: engine-backup, message: 'FATAL: disk full', exit: 1}]}\n");
  test::write_file(tmp.path() / "s.yaml", scenario);
  const std::string dir = (tmp.path() / "lab").string();
  const std::string out = (tmp.path() / "out").string();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::execl(she_lab.c_str(), she_lab.c_str(), "serve", (tmp.path() / "s.yaml").c_str(), "--dir", dir.c_str(),
            "--port", "0", "--address", "127.0.0.1", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  struct Guard {
    pid_t pid;
    ~Guard() {
      if (pid > 0) {
        ::kill(pid, SIGKILL);
        test::wait_child(pid);
      }
    }
  } guard{pid};
  REQUIRE(wait_for([&] { return test::read_file(out).find("ssh_user ") != std::string::npos; }, 20s));
  std::istringstream lines(test::read_file(out));
  std::map<std::string, std::pair<std::string, int>> hosts;
  std::string key, known;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string first;
    words >> first;
    if (first == "host") {
      std::string name, address;
      int port = 0;
      words >> name >> address >> port;
      hosts[name] = {address, port};
    }
    if (first == "ssh_key") words >> key;
    if (first == "known_hosts") words >> known;
  }
  CHECK(hosts.size() == 7);
  for (const char* name : {"hosted_engine_1", "hosted_engine_2", "hosted_engine_3", "host_4", "engine", "backup_storage",
                           "spare_1"})
    CHECK_MESSAGE(hosts.count(name), name);
  CHECK(key == dir + "/fleet/client_key");
  CHECK(known == dir + "/fleet/known_hosts");
  auto ssh = [&](const std::string& host, const std::string& command) {
    return test::run("ssh -F /dev/null -i " + shell_quote(key) + " -o UserKnownHostsFile=" + shell_quote(known) +
                     " -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR -p " +
                     std::to_string(hosts[host].second) + " root@" + hosts[host].first + " " + shell_quote(command));
  };
  auto r = ssh("spare_1", "hostname");
  CHECK(r.exit_code == 0);
  CHECK(r.output == "spare1.example.com\n");
  CHECK(ssh("spare_1", "hosted-engine --vm-status --json").output == "You must run deploy first\n");
  CHECK(ssh("host_4", "true").exit_code == 255);
  r = ssh("engine", "engine-backup --mode=backup --file=/root/b --log=/root/l");
  CHECK(r.exit_code == 1);
  CHECK(r.output == "FATAL: disk full\n");
  CHECK(ssh("hosted_engine_2", "hosted-engine --vm-status --json").output.find("\"global_maintenance\": false") !=
        std::string::npos);

  ::kill(pid, SIGTERM);
  CHECK(test::wait_child(pid) == 0);
  guard.pid = -1;
  CHECK(ssh("spare_1", "true").exit_code == 255);
}

TEST_CASE("lab scenarios: host faults - spares - the stale-host restore - unknown hosts refused with positions") {
  lab::WorldState st = lab::load_scenario(test::source_path("examples/lab/three-hosts-faults.yaml"));
  CHECK(st.faults.restore_leaves_stale_host);
  CHECK(st.lab_hosts.unreachable == std::set<std::string>{"hosted_engine_3"});
  REQUIRE(st.lab_hosts.faults.count("backup_storage"));
  auto f = nlohmann::json::parse(st.lab_hosts.faults["backup_storage"]);
  CHECK(f["drop_after_bytes"] == 67108864);
  CHECK(f["drop_times"] == 1);
  CHECK(nlohmann::json::parse(st.lab_hosts.faults["engine"])["slow_ms"] == 300);
  REQUIRE(st.lab_hosts.extra.size() == 1);
  CHECK(st.lab_hosts.extra[0].name == "spare_1");
  auto fleet = lab::scenario_fleet(st);
  REQUIRE(fleet.size() == 7);
  CHECK(fleet[0].address == "127.0.0.2");
  CHECK(fleet[0].he_host_id == 1);
  CHECK(fleet[4].name == "engine");
  CHECK(fleet[4].hostname == "engine.example.com");
  CHECK(fleet[6].role == "spare");

  try {
    lab::parse_scenario("scenario: x\nhosts: [{name: h1, address: a}]\nfaults:\n  hosts:\n    h2: {slow_ms: 1}\n"
                        "    h1: {fail: [{message: m}], drop: 1}\n",
                        "s.yaml");
    FAIL("accepted");
  } catch (const lab::ScenarioError& e) {
    const std::string what = e.what();
    CHECK(what.find("s.yaml:5:5: error[unknown-host]: faults for 'h2', which is no lab host") != std::string::npos);
    CHECK(what.find("a fail rule needs 'match'") != std::string::npos);
    CHECK(what.find("unknown key 'drop'") != std::string::npos);
  }
}
