// Transfer figures: a file (2 GiB unless told otherwise) to a host, between
// hosts through the orchestrator and down, with she-restore's SSH layer and
// with OpenSSH scp to the same sshd in the same run (the ratio is what
// matters: the machine's load moves both; each row says whether the bulk
// stream went through OpenSSH's ssh or libssh2), and the peak memory of
// each copy (run in a child of its own, read with wait4: it streams, so the
// peak must not grow with the file). The figures are medians of rounds
// (--rounds N, 3 unless told), scp and she-restore going first in turn;
// she-restore copies as its default does (N byte ranges to a host,
// --streams N, 2 unless told; one stream down) and, once, the other way
// (a file under the ranged threshold, 256 MiB, goes as one stream either
// way). `--check` is the short run `make test` keeps, every way once with
// the small file as ranges too: it checks what arrived and the memory
// bound, never a time.
//
//   she-bench-transfer [--check] [--streams N] [--rounds N] [SIZE_MIB]
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <memory>
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
  int streams = kToHostStreams, rounds = 3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--check") == 0) check = true;
    else if (std::strcmp(argv[i], "--streams") == 0 && i + 1 < argc) streams = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = std::atoi(argv[++i]);
    else mib = std::atoll(argv[i]);
  }
  if (mib <= 0 || streams < 2 || rounds < 1) {
    fmt::print(stderr, "usage: she-bench-transfer [--check] [--streams N>=2] [--rounds N>=1] [SIZE_MIB]\n");
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
  // The host is this machine, so the source file is also the host's source
  // of the copies between hosts and down: every copy reads the same bytes
  // and is independent of the others.
  const std::string to_path = (dir / "to.bin").string();
  enum Way { kUp, kAcross, kDown };
  const char* const way_names[] = {"up", "host to host", "down"};
  // One copy by she-restore with `n` streams, checked: what it reports and
  // what arrived; the destination is removed at once, so every copy (ours
  // and scp's) begins with the same memory free (on a VM, pages the guest
  // has not touched for a while cost a fault on its host: a copy placed
  // after another's file was freed gets warm pages, one placed before a
  // removal cold ones, by up to 2x for the same bytes).
  auto ours = [&](Way way, int n) {
    TransferOptions o;
    o.streams = n;
    // The check's small file goes as ranges too (the default threshold is
    // for the files restores copy).
    if (check) o.parallel_from = 1 << 20;
    Run r = in_child([&](char* via, size_t cap) {
      // A second session only where the copy has a second host end: each
      // login is timed with the copy.
      SshSession a(t);
      std::unique_ptr<SshSession> b = way == kAcross ? std::make_unique<SshSession>(t) : nullptr;
      TransferResult res = way == kUp       ? copy_file({nullptr, src.string()}, {&a, to_path}, o)
                           : way == kAcross ? copy_file({&a, src.string()}, {b.get(), to_path}, o)
                                            : copy_file({&a, src.string()}, {nullptr, to_path}, o);
      const std::string ends = res.source_stream == "local"        ? res.destination_stream
                               : res.destination_stream == "local" ? res.source_stream
                                                                   : res.source_stream + "+" + res.destination_stream;
      std::strncpy(via, ends.c_str(), cap);
      return res.sha256 == want && res.bytes == mib * (1LL << 20) ? 0 : 1;
    });
    r.ok = r.ok && file_sha256(to_path) == want;
    fs::remove(to_path);
    return r;
  };
  const std::string scp = fmt::format("scp -q -P {} -i {}/client -o UserKnownHostsFile={}/known_hosts -o BatchMode=yes",
                                      port, dir.string(), dir.string());
  const std::string remote = fmt::format("{}@{}:", t.user, address);
  auto theirs = [&](Way way) {
    const std::string args = way == kUp       ? fmt::format("{} {}{}", src.string(), remote, to_path)
                             : way == kAcross ? fmt::format("-3 {}{} {}{}", remote, src.string(), remote, to_path)
                                              : fmt::format("{}{} {}", remote, src.string(), to_path);
    Run r = in_child([&](char*, size_t) { return sh(scp + " " + args) == 0 ? 0 : 1; });
    fs::remove(to_path);
    return r;
  };
  // What a plan gets without `streams` (by direction: ranges to a host,
  // one stream down), and the other way of each direction.
  auto default_streams = [&](Way way) { return way == kDown ? 1 : streams; };
  auto other_streams = [&](Way way) { return way == kDown ? streams : 1; };

  bool same = true;
  long rss = 0;
  auto note = [&](const Run& r) {
    same = same && r.ok;
    rss = std::max(rss, r.rss_mib);
  };
  // Ranges take a ring each (8 MiB) beside one stream's.
  const long rss_bound = kRssBoundMiB + 8 * (streams - 1);
  if (check) {
    for (Way way : {kUp, kAcross, kDown})
      for (int n : {1, streams}) note(ours(way, n));
    fmt::print("transfer check, {} MiB up, host to host and down on {}, one stream and {} ranges: {}; peak RSS {} MiB "
               "(bound {} MiB)\n",
               mib, address, streams, same ? "every copy arrived byte-identical" : "A COPY FAILED OR DIFFERS", rss,
               rss_bound);
  } else {
    // Rounds, each copying every way with the default and with scp, which
    // goes first alternating from round to round; the figures are the
    // medians (a 2-core VM's scp rate moved by 1.5x between single runs).
    struct Sample {
      std::vector<Run> ours, scp;
      Run other;  // the other way of the direction, once
    };
    Sample by_way[3];
    for (int round = 0; round < rounds; ++round)
      for (Way way : {kUp, kAcross, kDown}) {
        Sample& w = by_way[way];
        if (round % 2 == 0) w.ours.push_back(ours(way, default_streams(way)));
        w.scp.push_back(theirs(way));
        if (round % 2 == 1) w.ours.push_back(ours(way, default_streams(way)));
        note(w.ours.back());
        if (round == 0) note(w.other = ours(way, other_streams(way)));
      }
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
    auto median = [](const std::vector<Run>& runs) {
      std::vector<double> s;
      for (const Run& r : runs) s.push_back(r.seconds);
      std::sort(s.begin(), s.end());
      return s[s.size() / 2];
    };
    const double size = static_cast<double>(mib);
    auto streams_name = [](int n) { return n == 1 ? std::string("1 stream") : fmt::format("{} ranges", n); };
    fmt::print("transfer of {} MiB on {} (same sshd, files in {}; scp negotiates {}; she-restore: the bulk stream "
               "through OpenSSH's ssh from {} MiB on (else libssh2; each row says which), SHA-256 end to end in our "
               "process, far-side openssl dgst, .part + rename; ranges: each on connections of its own); {} rounds, "
               "scp and she-restore going first in turn, medians:\n",
               mib, address, dir.parent_path().string(), cipher.empty() ? "?" : cipher,
               TransferOptions().openssh_from >> 20, rounds);
    double worst = 1e9;
    for (Way way : {kUp, kAcross, kDown}) {
      const Sample& w = by_way[way];
      const double o = median(w.ours), c = median(w.scp);
      double lo = 1e9, hi = 0;
      for (size_t i = 0; i < w.ours.size(); ++i) {
        lo = std::min(lo, w.scp[i].seconds / w.ours[i].seconds);
        hi = std::max(hi, w.scp[i].seconds / w.ours[i].seconds);
      }
      worst = std::min(worst, c / o);
      fmt::print("  {:<13} {:<9} she-restore {:>4.0f} MiB/s ({:>6.2f} s, peak RSS {:>3} MiB, {:<15})   scp {:>4.0f} MiB/s "
                 "({:>6.2f} s)   ratio {:.2f}x (rounds {:.2f}-{:.2f}x)\n",
                 way_names[way], streams_name(default_streams(way)), size / o, o, w.ours.front().rss_mib,
                 w.ours.front().via, size / c, c, c / o, lo, hi);
      fmt::print("  {:<13} {:<9} she-restore {:>4.0f} MiB/s ({:>6.2f} s, peak RSS {:>3} MiB, {:<15})   once, in round "
                 "1: {:.2f}x of scp's median\n",
                 "", streams_name(other_streams(way)), size / w.other.seconds, w.other.seconds, w.other.rss_mib,
                 w.other.via, c / w.other.seconds);
    }
    const bool met = same && worst >= 1.0 && rss <= rss_bound;
    fmt::print("  every copy byte-identical: {}; target (the default, by direction: {} ranges to a host, 1 stream "
               "down; >= 1.00x of scp each way, peak RSS <= {} MiB): {} (worst ratio of medians {:.2f}x, peak RSS "
               "{} MiB)\n",
               same ? "yes" : "NO", streams, rss_bound, met ? "met" : "NOT met", worst, rss);
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
