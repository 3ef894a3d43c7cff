// Transfer figures: a 2 GiB file to and from a host through she-restore's
// SSH layer, against OpenSSH scp to the same sshd in the same run (the
// ratio is what matters), and the peak memory of the copy (it streams: the
// peak should not grow with the file).
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <random>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "hosts/file_transfer.h"

using namespace she;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

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

long max_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

double timed(const std::function<void()>& f) {
  auto t = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  long long mib = argc > 1 ? std::atoll(argv[1]) : 2048;
  fs::path dir = fs::temp_directory_path() / fmt::format("she-bench-transfer-{}", ::getpid());
  fs::create_directories(dir);
  const char* address = "127.0.0.41";
  int port = free_port(address);
  // A plain sshd (a real shell, no lab agent), so scp and she-restore meet
  // the same server.
  sh(fmt::format("ssh-keygen -q -t ed25519 -N '' -f {0}/hostkey && ssh-keygen -q -t ed25519 -N '' -f {0}/client && "
                 "cp {0}/client.pub {0}/authorized_keys && mkdir -p /run/sshd 2>/dev/null",
                 dir.string()));
  std::ofstream(dir / "sshd_config") << fmt::format(
      "ListenAddress {}:{}\nHostKey {}/hostkey\nPidFile {}/sshd.pid\nAuthorizedKeysFile {}/authorized_keys\n"
      "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
      "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n",
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
    for (long long i = 0; i < mib; ++i) out.write(block.data(), static_cast<std::streamsize>(block.size()));
  }
  long rss_before = max_rss_mib();

  SshTarget t;
  t.name = "bench";
  t.address = address;
  t.port = port;
  t.user = getuid() == 0 ? "root" : std::getenv("USER");
  t.key_file = (dir / "client").string();
  t.known_hosts = (dir / "known_hosts").string();
  SshSession s(t);
  double up = timed([&] { copy_file({nullptr, src.string()}, {&s, (dir / "up.bin").string()}, {}); });
  double down = timed([&] { copy_file({&s, (dir / "up.bin").string()}, {nullptr, (dir / "down.bin").string()}, {}); });
  long rss_after = max_rss_mib();
  fs::remove(dir / "up.bin");
  fs::remove(dir / "down.bin");

  std::string scp = fmt::format("scp -q -P {} -i {}/client -o UserKnownHostsFile={}/known_hosts -o BatchMode=yes", port,
                                dir.string(), dir.string());
  double scp_up = timed([&] { sh(fmt::format("{} {} {}@{}:{}/scp-up.bin", scp, src.string(), t.user, address, dir.string())); });
  double scp_down = timed([&] { sh(fmt::format("{} {}@{}:{}/scp-up.bin {}/scp-down.bin", scp, t.user, address, dir.string(), dir.string())); });

  double size = static_cast<double>(mib);
  fmt::print("transfer of {} MiB to a host and back on 127.0.0.41 (same sshd):\n", mib);
  fmt::print("  she-restore (with SHA-256 on the fly, far-side sha256sum, rename): up {:.0f} MiB/s, down {:.0f} MiB/s\n",
             size / up, size / down);
  fmt::print("  OpenSSH scp:                                                      up {:.0f} MiB/s, down {:.0f} MiB/s\n",
             size / scp_up, size / scp_down);
  fmt::print("  ratio she-restore/scp: up {:.2f}, down {:.2f} (of throughput)\n", scp_up / up, scp_down / down);
  fmt::print("  peak memory of the bench process: {} MiB before the copies, {} MiB after (file {} MiB)\n", rss_before,
             rss_after, mib);

  std::ifstream pid_file(dir / "sshd.pid");
  pid_t pid = 0;
  pid_file >> pid;
  if (pid > 0) ::kill(pid, SIGTERM);
  fs::remove_all(dir);
  return 0;
}
