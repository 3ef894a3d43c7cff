// The bulk stream of a large copy through OpenSSH's client (hosts/
// openssh_stream.h) against lab hosts behind real sshd: what arrives is the
// file in all three directions and the lab hosts saw OpenSSH's client; its
// trust is the session's (a host key not in known_hosts is refused, never
// added; a key the host does not take is an authentication error); a stop
// leaves no ssh behind and nothing under the final name; a key with a
// passphrase, or no ssh, keeps the copy on libssh2.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "base/interrupted.h"
#include "hosts/file_transfer.h"
#include "hosts/openssh_stream.h"
#include "hosts/shell_quote.h"
#include "tests/lab_hosts_fixture.h"
#include "tests/test_support.h"

using namespace she;
using she::test::LabHosts;
namespace fs = std::filesystem;

namespace {

/// Over the OpenSSH threshold, and not a whole number of 1 MiB blocks.
constexpr long long kSize = (64LL << 20) + 12345;


bool same_bytes(const fs::path& a, const fs::path& b) {
  return test::run("cmp -s '" + a.string() + "' '" + b.string() + "'").exit_code == 0;
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

/// How many times a host's sshd saw OpenSSH's client hang up: it says
/// "disconnected by user", where libssh2 sessions say "she-restore done".
size_t openssh_goodbyes(const LabHosts& lab, const std::string& host) {
  return count_of(test::read_file(lab.fleet.host(host).sshd_log), "disconnected by user");
}

/// Our children named ssh, zombies included: none may outlive a copy.
int ssh_children() {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so parse after ')'.
    const size_t close = line.rfind(')'), open = line.find('(');
    if (close == std::string::npos || open == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == ::getpid() && line.substr(open + 1, close - open - 1) == "ssh") ++n;
  }
  return n;
}

size_t open_fds() {
  return static_cast<size_t>(std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator{}));
}

long long size_of(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? st.st_size : -1;
}

}  // namespace

TEST_CASE("openssh transfer: 64 MiB and more arrive byte-identical in all three directions through OpenSSH's ssh") {
  LabHosts lab;
  SshSession engine(lab.target("engine")), backup(lab.target("backup_storage")), reader(lab.target("engine"));
  const lab::FleetHost& engine_host = lab.fleet.host("engine");
  const lab::FleetHost& backup_host = lab.fleet.host("backup_storage");
  fs::path dir = lab.engine.dir.path();
  fs::path src = dir / "src.bin";
  test::random_file(src, kSize);
  std::vector<std::string> said;
  TransferOptions o;
  o.progress = [&](const std::string& line) { said.push_back(line); };
  const std::string up_path = "/var/lib/ovirt-engine-backup/o.bin", across_path = "/srv/backups/o.bin";

  const size_t engine_before = openssh_goodbyes(lab, "engine");
  const std::string engine_log_before = lab.agent_log("engine");
  TransferResult up = copy_file({nullptr, src.string()}, {&engine, up_path}, o);
  CHECK(up.bytes == kSize);
  CHECK(up.source_stream == "local");
  CHECK(up.destination_stream == "openssh");
  CHECK(same_bytes(src, engine_host.in_sandbox(up_path)));
  CHECK(up.sha256 == test::run("sha256sum '" + src.string() + "'").output.substr(0, 64));
  // The lab host saw OpenSSH's client, running exactly the write the
  // operation (the dry run) shows.
  CHECK(openssh_goodbyes(lab, "engine") == engine_before + 1);
  const std::string engine_log = lab.agent_log("engine").substr(engine_log_before.size());
  for (const Operation& part : transfer_operation({nullptr, src.string()}, {&engine, up_path}, o, kSize).parts) {
    CAPTURE(part.line);
    // The agent logs the command line as a JSON string.
    CHECK(engine_log.find(nlohmann::json(part.line).dump()) != std::string::npos);
  }
  REQUIRE(!said.empty());
  CHECK(said.front().find("bulk stream through engine: OpenSSH's /usr/bin/ssh") != std::string::npos);

  const size_t backup_before = openssh_goodbyes(lab, "backup_storage");
  const size_t engine_mid = openssh_goodbyes(lab, "engine");
  TransferResult across = copy_file({&reader, up_path}, {&backup, across_path}, o);
  CHECK(across.source_stream == "openssh");
  CHECK(across.destination_stream == "openssh");
  CHECK(across.sha256 == up.sha256);
  CHECK(same_bytes(src, backup_host.in_sandbox(across_path)));
  CHECK(!fs::exists(backup_host.in_sandbox(across_path + ".part")));
  CHECK(openssh_goodbyes(lab, "engine") == engine_mid + 1);
  CHECK(openssh_goodbyes(lab, "backup_storage") == backup_before + 1);

  fs::path back = dir / "back.bin";
  TransferResult down = copy_file({&backup, across_path}, {nullptr, back.string()}, o);
  CHECK(down.source_stream == "openssh");
  CHECK(down.destination_stream == "local");
  CHECK(down.sha256 == up.sha256);
  CHECK(same_bytes(src, back));
  CHECK(!fs::exists(back.string() + ".part"));
  CHECK(openssh_goodbyes(lab, "backup_storage") == backup_before + 2);

  // Two ranges: each range's stream through an ssh of its own.
  TransferOptions ranged = o;
  ranged.streams = 2;
  ranged.parallel_from = 4 << 20;
  const size_t ranged_before = openssh_goodbyes(lab, "backup_storage");
  TransferResult ranges = copy_file({nullptr, src.string()}, {&backup, "/srv/backups/r.bin"}, ranged);
  CHECK(ranges.destination_stream == "openssh");
  CHECK(ranges.sha256 == up.sha256);
  CHECK(same_bytes(src, backup_host.in_sandbox("/srv/backups/r.bin")));
  CHECK(openssh_goodbyes(lab, "backup_storage") == ranged_before + 2);

  // Below the threshold the copy stays on libssh2, and says nothing of it.
  said.clear();
  fs::path small = dir / "small.bin";
  test::random_file(small, 3 << 20);
  TransferResult little = copy_file({nullptr, small.string()}, {&backup, "/srv/backups/small.bin"}, o);
  CHECK(little.destination_stream == "libssh2");
  CHECK(same_bytes(small, backup_host.in_sandbox("/srv/backups/small.bin")));
  CHECK(std::none_of(said.begin(), said.end(), [](const std::string& l) { return l.find("bulk stream") != std::string::npos; }));
  CHECK(ssh_children() == 0);
}

TEST_CASE("openssh transfer: ssh trusts only known_hosts - an unknown host key is refused and never added") {
  LabHosts lab;
  const lab::FleetHost& backup_host = lab.fleet.host("backup_storage");
  fs::path dir = lab.engine.dir.path();
  SshTarget t = lab.target("backup_storage");

  // The trust options, and nothing secret, on its command line.
  const std::vector<std::string> argv = openssh_argv(t, kOpenSshClient, "ssh-ed25519", "true");
  for (const char* want : {"StrictHostKeyChecking=yes", "BatchMode=yes", "GlobalKnownHostsFile=/dev/null",
                           "IdentitiesOnly=yes", "IdentityAgent=none", "HostKeyAlgorithms=ssh-ed25519"})
    CHECK(std::find(argv.begin(), argv.end(), want) != argv.end());
  CHECK(std::find(argv.begin(), argv.end(), "UserKnownHostsFile=" + t.known_hosts) != argv.end());
  CHECK(argv[1] == "-F");
  CHECK(argv[2] == "/dev/null");
  CHECK(SshSession::known_host_key_methods(t) == "ssh-ed25519");

  // Straight through ssh: an empty known_hosts refuses the host, and stays empty.
  fs::path empty = dir / "empty_known_hosts";
  test::write_file(empty, "");
  SshTarget unknown = t;
  unknown.known_hosts = empty.string();
  try {
    openssh_exec(unknown, kOpenSshClient, "true", {});
    FAIL("an unknown host was accepted");
  } catch (const SshError& e) {
    CHECK(e.kind() == SshError::Kind::HostKey);
    CHECK(std::string(e.what()).find("Host key verification failed") != std::string::npos);
  }
  CHECK(test::read_file(empty).empty());

  // In a copy: the libssh2 session checked the host and is open; then the
  // pinned file no longer holds its key (another key stands there). The
  // bulk stream is refused, and nothing lands under the final name.
  fs::path pinned = dir / "pinned_known_hosts";
  fs::copy_file(lab.fleet.known_hosts(), pinned);
  t.known_hosts = pinned.string();
  SshSession backup(t);
  CHECK(backup.exec("true").exit_status == 0);
  const std::string other_key = lab.fleet.host("engine").host_key_line;
  test::write_file(pinned, "[" + backup_host.address + "]:" + std::to_string(backup_host.port) + " " + other_key + "\n");
  fs::path src = dir / "src.bin";
  test::random_file(src, kSize);
  try {
    copy_file({nullptr, src.string()}, {&backup, "/srv/backups/k.bin"}, {});
    FAIL("a host whose key is not in known_hosts took the stream");
  } catch (const SshError& e) {
    CHECK(e.kind() == SshError::Kind::HostKey);
    CHECK(e.error_class() == "fatal");
  }
  CHECK(!fs::exists(backup_host.in_sandbox("/srv/backups/k.bin")));
  CHECK(!fs::exists(backup_host.in_sandbox("/srv/backups/k.bin.part")));

  // A key the host does not take is an authentication error, not a retry.
  fs::path stranger = dir / "stranger_key";
  REQUIRE(test::run("ssh-keygen -q -t ed25519 -N '' -f '" + stranger.string() + "'").exit_code == 0);
  SshTarget refused = lab.target("backup_storage");
  refused.key_file = stranger.string();
  try {
    openssh_exec(refused, kOpenSshClient, "true", {});
    FAIL("a key not in authorized_keys logged in");
  } catch (const SshError& e) {
    CHECK(e.kind() == SshError::Kind::Auth);
  }
  CHECK(ssh_children() == 0);
}

TEST_CASE("openssh transfer: a stopped copy leaves no ssh process - no descriptor - nothing under the final name") {
  LabHosts lab;
  SshSession backup(lab.target("backup_storage"));
  const lab::FleetHost& host = lab.fleet.host("backup_storage");
  fs::path dir = lab.engine.dir.path();
  fs::path src = dir / "src.bin";
  test::random_file(src, kSize);
  backup.open();
  const size_t fds_before = open_fds();

  // Up: stopped once the far side's .part holds 16 MiB, so ssh is streaming.
  const fs::path up_part = host.in_sandbox("/srv/backups/i.bin.part");
  TransferOptions o;
  int children_seen = 0;
  o.should_stop = [&] {
    if (size_of(up_part) < (16LL << 20)) return false;
    children_seen = std::max(children_seen, ssh_children());
    return true;
  };
  TransferResult never;
  CHECK_THROWS_AS(never = copy_file({nullptr, src.string()}, {&backup, "/srv/backups/i.bin"}, o), Interrupted);
  CHECK(children_seen == 1);
  CHECK(ssh_children() == 0);
  CHECK(!fs::exists(host.in_sandbox("/srv/backups/i.bin")));
  CHECK(!fs::exists(up_part));

  // Down: stopped once our .part holds 16 MiB.
  fs::create_directories(host.in_sandbox("/srv/backups"));
  fs::copy_file(src, host.in_sandbox("/srv/backups/d.bin"));
  fs::path local = dir / "d.bin";
  children_seen = 0;
  o.should_stop = [&] {
    if (size_of(local.string() + ".part") < (16LL << 20)) return false;
    children_seen = std::max(children_seen, ssh_children());
    return true;
  };
  CHECK_THROWS_AS(never = copy_file({&backup, "/srv/backups/d.bin"}, {nullptr, local.string()}, o), Interrupted);
  CHECK(children_seen == 1);
  CHECK(ssh_children() == 0);
  CHECK(!fs::exists(local));
  CHECK(!fs::exists(local.string() + ".part"));
  CHECK(open_fds() == fds_before);
}

TEST_CASE("openssh transfer: a key with a passphrase or no ssh client keeps the copy on libssh2") {
  LabHosts lab;
  const lab::FleetHost& host = lab.fleet.host("backup_storage");
  fs::path dir = lab.engine.dir.path();
  const std::string passphrase = "correct horse battery staple";
  fs::path key = dir / "locked_key";
  REQUIRE(test::run("ssh-keygen -q -t ed25519 -N " + shell_quote(passphrase) + " -f '" + key.string() + "'").exit_code ==
          0);
  const fs::path authorized = lab.fleet.dir() / "authorized_keys";
  test::write_file(authorized, test::read_file(authorized) + test::read_file(key.string() + ".pub"));
  SshTarget t = lab.target("backup_storage");
  t.key_file = key.string();
  t.key_passphrase = passphrase;
  CHECK(openssh_unusable(t, kOpenSshClient).find("passphrase") != std::string::npos);
  // A path ssh would split or expand (libssh2 reads it as it is).
  SshTarget spaced = lab.target("backup_storage");
  spaced.known_hosts = (dir / "known hosts").string();
  CHECK(openssh_unusable(spaced, kOpenSshClient).find("characters ssh would read otherwise") != std::string::npos);
  CHECK(openssh_unusable(lab.target("backup_storage"), kOpenSshClient).empty());
  SshSession backup(t);
  fs::path src = dir / "src.bin";
  test::random_file(src, kSize);
  std::string said;
  TransferOptions o;
  o.progress = [&](const std::string& line) { said += line + "\n"; };
  const size_t goodbyes = openssh_goodbyes(lab, "backup_storage");
  TransferResult r = copy_file({nullptr, src.string()}, {&backup, "/srv/backups/p.bin"}, o);
  CHECK(r.destination_stream == "libssh2");
  CHECK(same_bytes(src, host.in_sandbox("/srv/backups/p.bin")));
  CHECK(said.find("backup_storage: libssh2 (the key has a passphrase") != std::string::npos);
  CHECK(said.find(passphrase) == std::string::npos);
  CHECK(openssh_goodbyes(lab, "backup_storage") == goodbyes);

  // No OpenSSH client where it is looked for: libssh2, saying so.
  SshSession plain(lab.target("backup_storage"));
  said.clear();
  o.openssh_client = (dir / "no-such-ssh").string();
  r = copy_file({nullptr, src.string()}, {&plain, "/srv/backups/n.bin"}, o);
  CHECK(r.destination_stream == "libssh2");
  CHECK(same_bytes(src, host.in_sandbox("/srv/backups/n.bin")));
  CHECK(said.find("no-such-ssh is not there") != std::string::npos);
  CHECK(openssh_goodbyes(lab, "backup_storage") == goodbyes);
}

TEST_CASE("openssh transfer: a key file others may read stays on libssh2 - ssh would refuse it") {
  LabHosts lab;
  SshTarget t = lab.target("backup_storage");
  REQUIRE(openssh_unusable(t, kOpenSshClient).empty());
  test::TempDir dir;
  const fs::path loose = dir.path() / "loose_key";
  fs::copy_file(t.key_file, loose);
  fs::permissions(loose, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  t.key_file = loose.string();
  CHECK(openssh_unusable(t, kOpenSshClient).find("is not private to its owner") != std::string::npos);
}
