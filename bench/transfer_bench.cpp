// Transfer figures: a file (2 GiB unless told otherwise) to a host, back,
// and from host to host through the orchestrator, with she-restore's SSH
// layer and with OpenSSH scp to the same sshd in the same run (the ratio is
// what matters: the machine's load moves both; each row says whether the
// bulk stream went through OpenSSH's ssh or libssh2), and the peak memory of
// each copy (run in a child of its own, read with wait4: it streams, so the
// peak must not grow with the file). `--check` is the short run `make test`
// keeps: it checks what arrived and the memory bound, never a time.
// she-restore copies twice each way: as one stream and as N byte ranges at
// once (--streams N, 2 unless told; the file is made larger than the ranged
// threshold if need be, so the ranges are really used).
//
//   she-bench-transfer [--check] [--streams N] [SIZE_MIB]
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <random>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "base/digest.h"
#include "hosts/file_transfer.h"

using namespace she;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr long kRssBoundMiB = 64;

int sh(const std::string& cmd) { return std::system(cmd.c_str()); }

int free_port(const char* address) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, address, &a.sin_addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

struct Run {
  double seconds = 0;
  long rss_mib = 0;
  bool ok = false;
  std::string via;  // what carried the copy's bulk stream, as the child says
};

/// Runs `f` in a child process: its wall time, its peak RSS (the largest of
/// the child and what it waited for: an ssh it ran counts on its own, not
/// added), whether it exited 0, and what it wrote into `via`.
Run in_child(const std::function<int(char* via, size_t cap)>& f) {
  constexpr size_t kVia = 64;
  char* shared = static_cast<char*>(::mmap(nullptr, kVia, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  std::memset(shared, 0, kVia);
  auto start = Clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    int rc = 1;
    try {
      rc = f(shared, kVia - 1);
    } catch (const std::exception& e) {
      fmt::print(stderr, "  failed: {}\n", e.what());
    }
    std::fflush(stdout);
    ::_exit(rc);
  }
  int status = 0;
  rusage u{};
  ::wait4(pid, &status, 0, &u);
  Run r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.rss_mib = u.ru_maxrss / 1024;
  r.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  r.via = shared;
  ::munmap(shared, kVia);
  return r;
}

std::string file_sha256(const fs::path& p) {
  Digest d;
  std::ifstream in(p, std::ios::binary);
  std::vector<char> buf(1 << 20);
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0)
    d.update(buf.data(), static_cast<size_t>(in.gcount()));
  return d.hex();
}

/// tmpfs when it has room (the figures are then the transfer's, not the
/// disk's), else the temporary directory.
fs::path work_dir(long long mib) {
  struct statvfs v {};
  fs::path base = fs::temp_directory_path();
  if (::statvfs("/dev/shm", &v) == 0 && static_cast<long long>(v.f_bavail) * static_cast<long long>(v.f_frsize) >
                                            (mib * 4 + 256) * (1LL << 20))
    base = "/dev/shm";
  return base / fmt::format("she-bench-transfer-{}", ::getpid());
}

}  // namespace

int main(int argc, char** argv) {
  bool check = false;
  long long mib = 2048;
  int streams = 2;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--check") == 0) check = true;
    else if (std::strcmp(argv[i], "--streams") == 0 && i + 1 < argc) streams = std::atoi(argv[++i]);
    else mib = std::atoll(argv[i]);
  }
  if (mib <= 0 || streams < 2) {
    fmt::print(stderr, "usage: she-bench-transfer [--check] [--streams N>=2] [SIZE_MIB]\n");
    return 2;
  }
  fs::path dir = work_dir(mib);
  fs::create_directories(dir);
  const char* address = "127.0.0.41";
  int port = free_port(address);
  // A plain sshd (a real shell and coreutils, no lab agent), so scp and
  // she-restore meet the same server. SHLVL=1, as the lab's hosts have it:
  // else bash sources root's ~/.bashrc for every command sshd starts
  // (~0.3 s each with this machine's pyenv), a cost of the test machine's
  // account that only she-restore's commands pay (scp's sftp runs no shell).
  sh(fmt::format("ssh-keygen -q -t ed25519 -N '' -f {0}/hostkey && ssh-keygen -q -t ed25519 -N '' -f {0}/client && "
                 "cp {0}/client.pub {0}/authorized_keys && mkdir -p /run/sshd 2>/dev/null",
                 dir.string()));
  std::ofstream(dir / "sshd_config") << fmt::format(
      "ListenAddress {}:{}\nHostKey {}/hostkey\nPidFile {}/sshd.pid\nAuthorizedKeysFile {}/authorized_keys\n"
      "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
      "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\nSetEnv SHLVL=1\n",
      address, port, dir.string(), dir.string(), dir.string());
  sh(fmt::format("/usr/sbin/sshd -f {0}/sshd_config -E {0}/sshd.log", dir.string()));
  std::string hostkey;
  std::getline(std::ifstream(dir / "hostkey.pub"), hostkey);
  std::ofstream(dir / "known_hosts") << fmt::format("[{}]:{} {}\n", address, port, hostkey.substr(0, hostkey.rfind(' ')));
  for (int i = 0; i < 100 && sh(fmt::format("bash -c 'echo > /dev/tcp/{}/{}' 2>/dev/null", address, port)) != 0; ++i)
    usleep(50000);

  fs::path src = dir / "src.bin";
  {
    std::mt19937_64 rng(7);
    std::string block(1 << 20, '\0');
    for (auto& c : block) c = static_cast<char>(rng());
    std::ofstream out(src, std::ios::binary);
    for (long long i = 0; i < mib; ++i) {
      block[static_cast<size_t>(i) % block.size()] ^= 1;  // no two MiB alike
      out.write(block.data(), static_cast<std::streamsize>(block.size()));
    }
  }
  const std::string want = file_sha256(src);

  SshTarget t;
  t.name = "bench";
  t.address = address;
  t.port = port;
  t.user = getuid() == 0 ? "root" : std::getenv("USER");
  t.key_file = (dir / "client").string();
  t.known_hosts = (dir / "known_hosts").string();
  const std::string up_path = (dir / "up.bin").string(), across_path = (dir / "across.bin").string(),
                    down_path = (dir / "down.bin").string();
  // Each direction, with one stream and with `streams` ranges: the second
  // set reads what the first wrote, so both are checked end to end.
  struct Copies {
    Run up, across, down;
    bool same = false;
  };
  auto copies = [&](int n) {
    TransferOptions o;
    o.streams = n;
    // The check's small file goes as ranges too (the default threshold is
    // for the files restores copy).
    if (check) o.parallel_from = 1 << 20;
    auto ours = [&](auto&& copy) {
      return in_child([&](char* via, size_t cap) {
        SshSession a(t), b(t);
        TransferResult r = copy(a, b);
        const std::string ends = r.source_stream == "local"        ? r.destination_stream
                                 : r.destination_stream == "local" ? r.source_stream
                                                                   : r.source_stream + "+" + r.destination_stream;
        std::strncpy(via, ends.c_str(), cap);
        return r.sha256 == want && r.bytes == mib * (1LL << 20) ? 0 : 1;
      });
    };
    Copies c;
    c.up = ours([&](SshSession& a, SshSession&) { return copy_file({nullptr, src.string()}, {&a, up_path}, o); });
    c.across = ours([&](SshSession& a, SshSession& b) { return copy_file({&a, up_path}, {&b, across_path}, o); });
    c.down = ours([&](SshSession& a, SshSession&) { return copy_file({&a, across_path}, {nullptr, down_path}, o); });
    c.same = c.up.ok && c.across.ok && c.down.ok && file_sha256(down_path) == want;
    fs::remove(up_path);
    fs::remove(across_path);
    fs::remove(down_path);
    return c;
  };
  const Copies one = copies(1), many = copies(streams);
  const bool same = one.same && many.same;
  long rss = std::max({one.up.rss_mib, one.across.rss_mib, one.down.rss_mib, many.up.rss_mib, many.across.rss_mib,
                       many.down.rss_mib});
  // Ranges take a ring each (8 MiB) beside one stream's.
  const long rss_bound = kRssBoundMiB + 8 * (streams - 1);

  if (check) {
    fmt::print("transfer check, {} MiB up, host to host and down on {}, one stream and {} ranges: {}; peak RSS {} MiB "
               "(bound {} MiB)\n",
               mib, address, streams, same ? "every copy arrived byte-identical" : "A COPY FAILED OR DIFFERS", rss,
               rss_bound);
  } else {
    std::string scp = fmt::format("scp -q -P {} -i {}/client -o UserKnownHostsFile={}/known_hosts -o BatchMode=yes", port,
                                  dir.string(), dir.string());
    std::string remote = fmt::format("{}@{}:", t.user, address);
    auto scp_run = [&](const std::string& args) {
      return in_child([&](char*, size_t) { return sh(scp + " " + args) == 0 ? 0 : 1; });
    };
    Run scp_up = scp_run(fmt::format("{} {}{}", src.string(), remote, up_path));
    Run scp_across = scp_run(fmt::format("-3 {}{} {}{}", remote, up_path, remote, across_path));
    Run scp_down = scp_run(fmt::format("{}{} {}", remote, across_path, down_path));
    std::string cipher;
    {
      FILE* p = ::popen(fmt::format("ssh -v -p {} -i {}/client -o UserKnownHostsFile={}/known_hosts -o BatchMode=yes "
                                    "{}@{} true 2>&1 | sed -n 's/.*client->server cipher: //p'",
                                    port, dir.string(), dir.string(), t.user, address)
                            .c_str(),
                        "r");
      char line[256] = {};
      if (p && std::fgets(line, sizeof line, p)) cipher = line;
      if (p) ::pclose(p);
      while (!cipher.empty() && cipher.back() == '\n') cipher.pop_back();
    }
    double size = static_cast<double>(mib);
    auto row = [&](const std::string& what, const Run& o, const Run& s) {
      fmt::print("  {:<24} she-restore {:>6.0f} MiB/s ({:>6.2f} s, peak RSS {:>3} MiB, {:<15})   scp {:>6.0f} MiB/s "
                 "({:>6.2f} s)   ratio {:.2f}x\n",
                 what, size / o.seconds, o.seconds, o.rss_mib, o.via, size / s.seconds, s.seconds, s.seconds / o.seconds);
    };
    fmt::print("transfer of {} MiB on {} (same sshd, files in {}; scp negotiates {}; she-restore: the bulk stream "
               "through OpenSSH's ssh from {} MiB on (else libssh2; each row says which), SHA-256 end to end in our "
               "process, far-side openssl dgst, .part + rename; {} ranges: each on connections of its own):\n",
               mib, address, dir.parent_path().string(), cipher.empty() ? "?" : cipher,
               TransferOptions().openssh_from >> 20, streams);
    const std::string ranged = fmt::format(", {} streams", streams);
    row("up, 1 stream", one.up, scp_up);
    row("up" + ranged, many.up, scp_up);
    row("host to host, 1 stream", one.across, scp_across);
    row("host to host" + ranged, many.across, scp_across);
    row("down, 1 stream", one.down, scp_down);
    row("down" + ranged, many.down, scp_down);
    auto worst_of = [&](const Copies& c) {
      return std::min({scp_up.seconds / c.up.seconds, scp_across.seconds / c.across.seconds,
                       scp_down.seconds / c.down.seconds});
    };
    const double total_one = one.up.seconds + one.across.seconds + one.down.seconds,
                 total_many = many.up.seconds + many.across.seconds + many.down.seconds;
    const bool ranges_win = total_many < total_one;
    fmt::print("  {} ranges against 1 stream, all three ways: {:.2f} s against {:.2f} s ({:.2f}x): {}\n", streams,
               total_many, total_one, total_one / total_many, ranges_win ? "ranges win here" : "one stream wins here");
    // What a plan gets without `streams` (kDefaultTransferStreams, by
    // direction): ranges up and between hosts, one stream down.
    double worst = std::max(worst_of(one), worst_of(many));
    std::string judged = "the better way";
    if (streams == kToHostStreams) {
      const double up = scp_up.seconds / many.up.seconds, across = scp_across.seconds / many.across.seconds,
                   down = scp_down.seconds / one.down.seconds;
      worst = std::min({up, across, down});
      judged = "the default";
      fmt::print("  the default (by direction: {} ranges up and host to host, 1 stream down): up {:.2f}x, host to "
                 "host {:.2f}x, down {:.2f}x\n",
                 kToHostStreams, up, across, down);
    }
    const bool met = same && worst >= 1.0 && rss <= rss_bound;
    fmt::print("  every copy byte-identical: {}; target (>= 1.00x of scp each way, peak RSS <= {} MiB): {} "
               "(worst ratio of {} {:.2f}x, peak RSS {} MiB)\n",
               same ? "yes" : "NO", rss_bound, met ? "met" : "NOT met", judged, worst, rss);
  }

  std::ifstream pid_file(dir / "sshd.pid");
  pid_t pid = 0;
  pid_file >> pid;
  if (pid > 0) ::kill(pid, SIGTERM);
  // sshd removes its pid file as it goes: the sweep may race it once.
  std::error_code ec;
  for (int i = 0; i < 3 && fs::remove_all(dir, ec) == static_cast<std::uintmax_t>(-1); ++i) usleep(100000);
  return !check || (same && rss <= rss_bound) ? 0 : 1;
}
