#include "lab/host_fleet.h"
#include "lab/postgres_server.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "base/install_layout.h"
#include "hosts/hosted_engine_command.h"
#include "hosts/shell_quote.h"

#ifndef SHE_LAB_AGENT_BINARY
#define SHE_LAB_AGENT_BINARY ""
#endif

namespace she::lab {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSshd = "/usr/sbin/sshd";
constexpr const char* kSshKeygen = "ssh-keygen";

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const fs::path& p, const std::string& text, mode_t mode = 0644) {
  fs::create_directories(p.parent_path());
  const fs::path tmp = p.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  ::chmod(tmp.c_str(), mode);
  fs::rename(tmp, p);
}

/// Runs argv (PATH searched) with stdin from /dev/null and its output in
/// `out`; returns the exit code (-1 if it could not run).
int run_process(const std::vector<std::string>& argv, std::string* out) {
  char tmpl[] = "/tmp/she-lab-out.XXXXXX";
  const int fd = ::mkstemp(tmpl);
  if (fd < 0) return -1;
  ::unlink(tmpl);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fd);
    return -1;
  }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const int in = ::open("/dev/null", O_RDONLY);
    ::dup2(in, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (out) {
    out->clear();
    ::lseek(fd, 0, SEEK_SET);
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void keygen(const fs::path& key, const std::string& comment) {
  std::error_code ec;
  fs::remove(key, ec);
  fs::remove(key.string() + ".pub", ec);
  std::string out;
  const int rc = run_process({kSshKeygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", key.string()}, &out);
  if (rc != 0) throw std::runtime_error(fmt::format("ssh-keygen failed for {} ({}): {}", key.string(), rc, out));
}

/// SHA256:... of an OpenSSH public key line, as ssh-keygen -l prints it.
std::string fingerprint(const std::string& key_line) {
  std::istringstream in(key_line);
  std::string type, blob64;
  in >> type >> blob64;
  std::string blob(blob64.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(blob.data()),
                                reinterpret_cast<const unsigned char*>(blob64.data()), static_cast<int>(blob64.size()));
  if (n < 0) return {};
  std::size_t len = static_cast<std::size_t>(n);
  if (!blob64.empty() && blob64.back() == '=') --len;
  if (blob64.size() > 1 && blob64[blob64.size() - 2] == '=') --len;
  blob.resize(len);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_Digest(blob.data(), blob.size(), md, &md_len, EVP_sha256(), nullptr);
  std::string b64(4 * ((md_len + 2) / 3) + 1, '\0');
  const int m = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), md, static_cast<int>(md_len));
  b64.resize(static_cast<std::size_t>(m));
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return "SHA256:" + b64;
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

bool valid_loopback(const std::string& address) {
  in_addr a{};
  if (inet_pton(AF_INET, address.c_str(), &a) != 1) return false;
  const std::uint32_t h = ntohl(a.s_addr);
  return (h >> 24) == 127 && h != 0x7f000001 && (h & 0xff) >= 2 && (h & 0xffffff00) == 0x7f000000;
}

int free_port(const std::string& address) {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  inet_pton(AF_INET, address.c_str(), &a.sin_addr);
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const std::string err = std::strerror(errno);
    ::close(s);
    throw std::runtime_error(fmt::format("cannot bind {}:0: {}", address, err));
  }
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

bool accepts(const std::string& address, int port) {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, address.c_str(), &a.sin_addr);
  const bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

bool alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

/// Reaps `pid` if it is our child and has ended; true once it is gone.
bool reaped(pid_t pid) {
  int status = 0;
  const pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == pid) return true;
  if (r < 0 && errno == ECHILD) return !alive(pid);
  return false;
}

/// Parent pid and command name of a process, from /proc.
bool proc_stat(pid_t pid, pid_t* ppid, std::string* comm) {
  const std::string stat = read_text(fmt::format("/proc/{}/stat", pid));
  const auto open = stat.find('('), close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return false;
  if (comm) *comm = stat.substr(open + 1, close - open - 1);
  std::istringstream rest(stat.substr(close + 2));
  char state = 0;
  long pp = 0;
  rest >> state >> pp;
  if (ppid) *ppid = static_cast<pid_t>(pp);
  return true;
}

/// Every live process whose parent chain reaches `root` (not root itself).
std::vector<pid_t> descendants(pid_t root) {
  std::vector<std::pair<pid_t, pid_t>> all;  // pid, ppid
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      char* end = nullptr;
      const long pid = std::strtol(e->d_name, &end, 10);
      if (!end || *end != '\0' || pid <= 0) continue;
      pid_t pp = 0;
      if (proc_stat(static_cast<pid_t>(pid), &pp, nullptr)) all.push_back({static_cast<pid_t>(pid), pp});
    }
    ::closedir(d);
  }
  std::vector<pid_t> out{root};
  for (std::size_t i = 0; i < out.size(); ++i)
    for (const auto& [pid, pp] : all)
      if (pp == out[i] && std::find(out.begin(), out.end(), pid) == out.end()) out.push_back(pid);
  out.erase(out.begin());
  return out;
}

/// SIGTERM, then SIGKILL after `grace`; reaps our own children.
void terminate(const std::vector<pid_t>& pids, std::chrono::milliseconds grace) {
  for (pid_t p : pids)
    if (p > 0) ::kill(p, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  std::vector<pid_t> left = pids;
  while (!left.empty()) {
    left.erase(std::remove_if(left.begin(), left.end(), [](pid_t p) { return p <= 0 || reaped(p); }), left.end());
    if (left.empty()) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      for (pid_t p : left) ::kill(p, SIGKILL);
      for (pid_t p : left)
        for (int i = 0; i < 200 && !reaped(p); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string current_user() {
  if (::geteuid() == 0) return "root";
  if (const passwd* pw = ::getpwuid(::geteuid())) return pw->pw_name;
  throw std::runtime_error("the user running the lab has no name");
}

// Whether this sshd knows PerSourcePenalties (OpenSSH 9.8+): its penalties
// would lock the tests out after the drops the lab makes on purpose.
bool sshd_knows_penalties(const fs::path& dir) {
  static int known = -1;
  if (known >= 0) return known == 1;
  const fs::path probe = dir / "sshd_probe_config";
  write_text(probe, "PerSourcePenalties no\n");
  std::string out;
  known = run_process({kSshd, "-t", "-f", probe.string(), "-o", "HostKey=/dev/null"}, &out) == 0 ||
                  out.find("Bad configuration option") == std::string::npos
              ? 1
              : 0;
  std::error_code ec;
  fs::remove(probe, ec);
  return known == 1;
}

void install_tools(const FleetHostSpec& spec, const fs::path& sandbox) {
  auto tool = [&](const char* path) { write_text(sandbox / (path + 1), "#!/bin/sh\n# lab marker: the lab agent runs this tool\n", 0755); };
  if (spec.role == "engine" || spec.role == "engine_machine") {
    tool("/usr/bin/engine-backup");
    tool("/usr/bin/engine-setup");
    tool("/usr/bin/engine-cleanup");
    if (spec.engine_setup == "done") write_text(sandbox / "var/lib/ovirt-engine/engine.up", "1\n");
    // What ovirt-engine-tools-backup installs.
    fs::create_directories(sandbox / "var/lib/ovirt-engine-backup");
    fs::create_directories(sandbox / "var/log/ovirt-engine-backup");
    fs::create_directories(sandbox / "etc/ovirt-engine");
  }
  if (spec.role == "hosted_engine" || spec.role == "spare" || spec.role == "failover") {
    tool("/usr/sbin/hosted-engine");
    fs::create_directories(sandbox / "etc/ovirt-hosted-engine");
    fs::create_directories(sandbox / "var/log/ovirt-hosted-engine-setup");
  }
  write_text(sandbox / "etc/hostname", (spec.hostname.empty() ? spec.name : spec.hostname) + "\n");
  if (!spec.hardware_id.empty()) write_text(sandbox / "etc/vdsm/vdsm.id", spec.hardware_id + "\n");
  if (!spec.etc_hosts.empty()) write_text(sandbox / "etc/hosts", spec.etc_hosts);
  if (spec.he_host_id > 0)
    write_text(sandbox / "etc/ovirt-hosted-engine/hosted-engine.conf",
               hosted_engine_conf_text(spec.engine_fqdn, spec.he_host_id,
                                       spec.hostname.empty() ? spec.name : spec.hostname,
                                       "nfs.lab.example:/exports/hosted_engine"));
  fs::create_directories(sandbox / "root");
  fs::create_directories(sandbox / "tmp");
  fs::create_directories(sandbox / "var/log/she-restore");
}

}  // namespace

fs::path FleetHost::in_sandbox(const std::string& path) const {
  fs::path out = sandbox;
  for (const auto& part : fs::path(path).lexically_normal()) {
    const std::string s = part.string();
    if (s.empty() || s == "/" || s == ".") continue;
    if (s == "..") {
      if (out != sandbox) out = out.parent_path();
      continue;
    }
    out /= part;
  }
  return out;
}

HostFleet::~HostFleet() { stop(); }

fs::path HostFleet::default_agent_binary() {
  const fs::path self = self_executable();
  if (!self.empty()) {
    // Installed, the agent is in LIBEXECDIR/she-restore (it is no command of
    // its own); in a build tree, beside she-lab or in lab/ under the tests.
    if (fs::path found = first_executable({installed_libexec_dir() / "she-lab-agent", self.parent_path() / "she-lab-agent",
                                           self.parent_path() / "lab" / "she-lab-agent"});
        !found.empty())
      return found;
  }
  return SHE_LAB_AGENT_BINARY;
}

const FleetHost& HostFleet::host(const std::string& name) const {
  for (const auto& h : hosts_)
    if (h.name == name) return h;
  throw std::out_of_range("no lab host named " + name);
}

FleetHost& HostFleet::find(const std::string& name) {
  for (auto& h : hosts_)
    if (h.name == name) return h;
  throw std::out_of_range("no lab host named " + name);
}

void HostFleet::start(const fs::path& dir, const std::vector<FleetHostSpec>& specs, const fs::path& agent_binary,
                      const fs::path& lab_socket) {
  if (!hosts_.empty()) throw std::runtime_error("the fleet is already started");
  if (agent_binary.empty() || ::access(agent_binary.c_str(), X_OK) != 0)
    throw std::runtime_error("the lab agent " + agent_binary.string() + " is not an executable");
  if (::access(kSshd, X_OK) != 0) throw std::runtime_error(std::string(kSshd) + " is missing (install openssh-server)");
  std::vector<std::string> names, addresses;
  for (const auto& s : specs) {
    if (s.name.empty() || s.name.find_first_of("/ \t\n'\"") != std::string::npos || s.name == "." || s.name == "..")
      throw std::runtime_error("bad lab host name '" + s.name + "'");
    if (!valid_loopback(s.address))
      throw std::runtime_error(fmt::format("host {}: {} is not a loopback address 127.0.0.N with N >= 2", s.name, s.address));
    if (std::find(names.begin(), names.end(), s.name) != names.end())
      throw std::runtime_error("lab host " + s.name + " is given twice");
    if (std::find(addresses.begin(), addresses.end(), s.address) != addresses.end())
      throw std::runtime_error("address " + s.address + " is given to two lab hosts");
    names.push_back(s.name);
    addresses.push_back(s.address);
  }
  fs::create_directories(dir);
  dir_ = fs::absolute(dir).lexically_normal();
  agent_ = fs::absolute(agent_binary);
  lab_socket_ = lab_socket.empty() ? fs::path() : fs::absolute(lab_socket);
  user_ = current_user();
  if (::geteuid() == 0) {
    // sshd's privilege separation directory (Debian makes it at boot).
    ::mkdir("/run/sshd", 0755);
    ::chmod("/run/sshd", 0755);
  }
  client_key_ = dir_ / "client_key";
  known_hosts_ = dir_ / "known_hosts";
  try {
    keygen(client_key_, "she-lab-client");
    write_text(dir_ / "authorized_keys", read_text(client_key_.string() + ".pub"), 0600);
    for (const auto& spec : specs) {
      FleetHost h;
      h.spec = spec;
      h.name = spec.name;
      h.address = spec.address;
      h.dir = dir_ / "hosts" / spec.name;
      h.sandbox = h.dir / "root";
      h.agent_log = h.dir / "agent.log";
      h.faults_file = h.dir / "faults.json";
      h.sshd_config = h.dir / "sshd_config";
      h.sshd_log = h.dir / "sshd.log";
      h.host_key = h.dir / "host_key";
      fs::create_directories(h.sandbox);
      install_tools(spec, h.sandbox);
      write_text(h.faults_file, "{}\n");
      keygen(h.host_key, "she-lab-" + spec.name);
      h.host_key_line = first_line(read_text(h.host_key.string() + ".pub"));
      {
        std::istringstream in(h.host_key_line);
        std::string type, blob;
        in >> type >> blob;
        h.host_key_line = type + " " + blob;
      }
      h.host_key_fingerprint = fingerprint(h.host_key_line);
      h.port = free_port(h.address);
      write_sshd_config(h);
      hosts_.push_back(std::move(h));
    }
    start_databases();
    for (auto& h : hosts_) {
      // The port was free when chosen; another process may have taken it
      // since: then another one.
      for (int attempt = 1;; ++attempt) {
        try {
          start_sshd(h);
          break;
        } catch (const std::runtime_error& e) {
          if (attempt >= 3 || std::string(e.what()).find("Address already in use") == std::string::npos) throw;
          h.port = free_port(h.address);
          write_sshd_config(h);
        }
      }
    }
    write_known_hosts();
  } catch (...) {
    stop();
    hosts_.clear();
    throw;
  }
}

void HostFleet::write_sshd_config(FleetHost& h) const {
  const FleetHostSpec& spec = h.spec;
  const std::vector<std::string> agent_argv = {agent_.string(), "--host", h.name, "--sandbox", h.sandbox.string(),
                                               "--lab-socket", lab_socket_.string(),
                                               "--log", h.agent_log.string(), "--faults", h.faults_file.string()};
  std::string config = fmt::format(
      "# she-lab host {name} ({role})\n"
      "ListenAddress {addr}:{port}\n"
      "HostKey {key}\n"
      "PidFile {pid}\n"
      "AuthorizedKeysFile {ak}\n"
      "PubkeyAuthentication yes\n"
      "PasswordAuthentication no\n"
      "KbdInteractiveAuthentication no\n"
      "UsePAM no\n"
      "StrictModes no\n"
      "PermitRootLogin prohibit-password\n"
      "AllowTcpForwarding yes\n"
      "X11Forwarding no\n"
      "PrintMotd no\n"
      "MaxStartups 200\n"
      "MaxSessions 100\n"
      "LoginGraceTime 30\n"
      "LogLevel VERBOSE\n"
      // sshd runs the ForceCommand through the user's shell; bash
      // sources ~/.bashrc when sshd starts it at SHLVL 0, and whatever
      // that prints would corrupt the agent's output (transfers).
      "SetEnv SHLVL=1\n",
      fmt::arg("name", h.name), fmt::arg("role", spec.role), fmt::arg("addr", h.address), fmt::arg("port", h.port),
      fmt::arg("key", h.host_key.string()), fmt::arg("pid", (h.dir / "sshd.pid").string()),
      fmt::arg("ak", (dir_ / "authorized_keys").string()));
  if (sshd_knows_penalties(dir_)) config += "PerSourcePenalties no\n";
  if (::geteuid() != 0) config += "AllowUsers " + user_ + "\n";
  if (spec.role == "ovm_cli") {
    fs::path cli = agent_.parent_path() / "she-lab-ovm-cli";
    if (!fs::exists(cli)) cli = SHE_LAB_OVM_CLI_BINARY;
    fs::path manager_root;
    for (const auto& other : hosts_)
      if (other.spec.role == "ovm_manager") manager_root = other.sandbox;
    if (manager_root.empty()) throw std::runtime_error("lab host " + h.name + " (ovm_cli) needs an ovm_manager host before it");
    config += "ForceCommand " + shell_join({cli.string(), "--host", h.name, "--manager-root", manager_root.string(),
                                            "--hosts-dir", (dir_ / "hosts").string(), "--log", h.agent_log.string()}) +
              "\n";
  } else {
    config += "ForceCommand " + shell_join(agent_argv) + "\n";
  }
  write_text(h.sshd_config, config, 0600);
}

void HostFleet::write_known_hosts() const {
  std::string text;
  for (const auto& h : hosts_) text += fmt::format("[{}]:{} {}\n", h.address, h.port, h.host_key_line);
  write_text(known_hosts_, text, 0644);
}

void HostFleet::start_sshd(FleetHost& h) {
  if (h.sshd_pid > 0) return;
  const int log = ::open(h.sshd_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const std::string config = h.sshd_config.string(), log_path = h.sshd_log.string();
  // -r: each connection's sshd is a fork of this one, not a new sshd that
  // loads its binary, libraries, configuration and host key again (what a
  // client sees is the same). Half the handshake on a 2-core VM (40 -> 20
  // ms), paid by every host a run connects to.
  const char* argv[] = {kSshd, "-D", "-r", "-e", "-E", log_path.c_str(), "-f", config.c_str(), nullptr};
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    // Only async-signal-safe calls here: the parent may run threads. The
    // signal mask survives exec: sshd must see SIGTERM.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // A lab whose process dies without stop() (a crashed or killed test)
    // leaves no sshd behind.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    ::dup2(null, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::setpgid(0, 0);
    ::close_range(3, ~0U, 0);
    ::execv(kSshd, const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(log);
  ::close(null);
  h.sshd_pid = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!accepts(h.address, h.port)) {
    if (reaped(pid)) {
      h.sshd_pid = -1;
      throw std::runtime_error(fmt::format("sshd for {} ({}:{}) exited; see {}:\n{}", h.name, h.address, h.port,
                                           h.sshd_log.string(), read_text(h.sshd_log)));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop_sshd(h);
      throw std::runtime_error(fmt::format("sshd for {} does not accept connections on {}:{} after 5 s; see {}",
                                           h.name, h.address, h.port, h.sshd_log.string()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void HostFleet::stop_sshd(FleetHost& h) {
  if (h.sshd_pid <= 0) return;
  // The listener first, then its sessions (which SIGTERM to the listener
  // leaves running).
  std::vector<pid_t> sessions = descendants(h.sshd_pid);
  terminate({h.sshd_pid}, std::chrono::seconds(2));
  for (pid_t p : sessions) ::kill(p, SIGKILL);
  h.sshd_pid = -1;
}

// A generated password (the database role's, as engine-setup generates one).
static std::string random_token(int bytes) {
  std::vector<unsigned char> raw(static_cast<size_t>(bytes));
  if (RAND_bytes(raw.data(), bytes) != 1) throw std::runtime_error("no random bytes");
  std::string out;
  for (unsigned char c : raw) out += fmt::format("{:02x}", c);
  return out;
}

void HostFleet::start_databases() {
  nlohmann::json names = nlohmann::json::object();
  for (auto& h : hosts_) {
    if (!h.spec.postgresql) continue;
    if (postgres_bin_dir().empty())
      throw std::runtime_error("lab host " + h.name + " needs PostgreSQL: install Debian's postgresql");
    PostgresInstance::install(h.sandbox, h.address, free_port(h.address));
    const PostgresInstance pg = PostgresInstance::of_sandbox(h.sandbox);
    for (const std::string& n : {h.name, h.spec.hostname, h.address})
      if (!n.empty()) names[n] = {{"address", pg.address}, {"port", pg.port}};
  }
  if (names.empty()) return;
  for (auto& h : hosts_) write_text(h.sandbox / "etc/she-lab/databases.json", names.dump(2) + "\n");
  // A set-up engine with a real database: the cluster, role, database and
  // rows engine-setup and the engine's life would have left, and the
  // settings file that points the engine at them.
  for (auto& h : hosts_) {
    if (h.spec.role != "engine" || h.spec.engine_setup != "done" || h.spec.engine_database.empty()) continue;
    const bool local = h.spec.engine_database == "local";
    const FleetHost& server = local ? h : host(h.spec.engine_database);
    const PostgresInstance pg = PostgresInstance::of_sandbox(server.sandbox);
    if (pg.port == 0) throw std::runtime_error("engine database host " + server.name + " has no PostgreSQL");
    std::string out;
    auto check = [&](int rc, const char* what) {
      if (rc != 0) throw std::runtime_error(fmt::format("lab database on {}: {} failed: {}", server.name, what, out));
    };
    if (!pg_initialised(pg)) check(pg_initdb(pg, &out), "initdb");
    if (!local) {
      std::string hba = read_text(pg.data_dir / "pg_hba.conf");
      hba += fmt::format("host    engine    engine    {}/32    scram-sha-256\n", h.address);
      if (!h.spec.dwh_db_rows_sql.empty())
        hba += fmt::format("host    ovirt_engine_history    ovirt_engine_history    {}/32    scram-sha-256\n", h.address);
      write_text(pg.data_dir / "pg_hba.conf", hba, 0600);
      uid_t uid;
      if (const passwd* pw = ::geteuid() == 0 ? ::getpwnam("postgres") : nullptr) {
        uid = pw->pw_uid;
        if (::chown((pg.data_dir / "pg_hba.conf").c_str(), uid, pw->pw_gid) != 0)
          throw std::runtime_error("cannot chown pg_hba.conf");
      }
    }
    if (!pg_running(pg)) check(pg_start(pg, &out), "start");
    const std::string password = random_token(20);
    check(pg_superuser_sql(pg,
                           fmt::format("create role engine with login encrypted password '{}';\n"
                                       "create database engine owner engine template template0 encoding 'UTF8' "
                                       "lc_collate 'C.UTF-8' lc_ctype 'C.UTF-8';\n",
                                       password),
                           &out),
          "create role and database");
    check(pg_superuser_sql(pg, "set role engine;\n" + h.spec.engine_db_rows_sql, &out, "engine"), "load rows");
    const std::string db_host = local ? "localhost" : (server.spec.hostname.empty() ? server.name : server.spec.hostname);
    if (!h.spec.dwh_db_rows_sql.empty()) {
      const std::string dwh_password = random_token(20);
      check(pg_superuser_sql(pg,
                             fmt::format("create role ovirt_engine_history with login encrypted password '{}';\n"
                                         "create database ovirt_engine_history owner ovirt_engine_history template "
                                         "template0 encoding 'UTF8' lc_collate 'C.UTF-8' lc_ctype 'C.UTF-8';\n",
                                         dwh_password),
                             &out),
            "create the DWH role and database");
      check(pg_superuser_sql(pg, "set role ovirt_engine_history;\n" + h.spec.dwh_db_rows_sql, &out,
                             "ovirt_engine_history"),
            "load the DWH rows");
      write_text(h.sandbox / "etc/ovirt-engine-dwh/ovirt-engine-dwhd.conf.d/10-setup-database.conf",
                 fmt::format("DWH_DB_HOST=\"{}\"\nDWH_DB_PORT=\"5432\"\nDWH_DB_USER=\"ovirt_engine_history\"\n"
                             "DWH_DB_PASSWORD=\"{}\"\nDWH_DB_DATABASE=\"ovirt_engine_history\"\n",
                             db_host, dwh_password),
                 0600);
    }
    write_text(h.sandbox / "etc/ovirt-engine/engine.conf.d/10-setup-database.conf",
               fmt::format("ENGINE_DB_HOST=\"{}\"\nENGINE_DB_PORT=\"5432\"\nENGINE_DB_USER=\"engine\"\n"
                           "ENGINE_DB_PASSWORD=\"{}\"\nENGINE_DB_DATABASE=\"engine\"\n",
                           local ? "localhost" : (server.spec.hostname.empty() ? server.name : server.spec.hostname),
                           password),
               0600);
  }
}

void HostFleet::stop() {
  for (auto& h : hosts_) {
    if (h.spec.postgresql) {
      const PostgresInstance pg = PostgresInstance::of_sandbox(h.sandbox);
      std::string out;
      if (pg.port != 0 && pg_running(pg)) pg_stop(pg, &out);
    }
    stop_sshd(h);
    // Background units (systemd-run) and screen sessions the agent started:
    // their pid files.
    for (const char* dir : {"run/she-lab/units", "run/she-lab/screen"}) {
      const fs::path units = h.sandbox / dir;
      std::error_code ec;
      if (fs::is_directory(units, ec)) {
        std::vector<pid_t> pids;
        for (const auto& e : fs::directory_iterator(units, ec)) {
          if (e.path().extension() != ".pid") continue;
          const long pid = std::atol(read_text(e.path()).c_str());
          std::string comm;
          // Only a process that still is the agent (pids are reused).
          if (pid > 0 && proc_stat(static_cast<pid_t>(pid), nullptr, &comm) && comm.rfind("she-lab-agent", 0) == 0)
            pids.push_back(static_cast<pid_t>(pid));
        }
        terminate(pids, std::chrono::seconds(1));
      }
    }
  }
}

void HostFleet::power_engine_vm(bool on) const {
  auto it = std::find_if(hosts_.begin(), hosts_.end(), [](const FleetHost& h) { return h.name == "engine"; });
  if (it == hosts_.end()) return;
  const fs::path marker = it->in_sandbox(kPoweredOffMarker);
  const PostgresInstance pg = PostgresInstance::of_sandbox(it->sandbox);
  std::string out;
  std::error_code ec;
  if (on) {
    fs::remove(marker, ec);
    if (pg.port != 0 && pg_initialised(pg) && !pg_running(pg)) pg_start(pg, &out);
  } else {
    if (pg.port != 0 && pg_running(pg)) pg_stop(pg, &out);
    write_text(marker, "the engine VM is off\n");
  }
}

void HostFleet::set_faults(const std::string& host, const std::string& json) {
  FleetHost& h = find(host);
  write_text(h.faults_file, json.empty() ? "{}\n" : json, 0644);
}

void HostFleet::set_unreachable(const std::string& host, bool unreachable) {
  FleetHost& h = find(host);
  if (unreachable) stop_sshd(h);
  else start_sshd(h);
}

bool HostFleet::unreachable(const std::string& host) const { return this->host(host).sshd_pid <= 0; }

bool HostFleet::reachable(const std::string& name) const {
  auto it = std::find_if(hosts_.begin(), hosts_.end(), [&](const FleetHost& h) { return h.name == name; });
  return it == hosts_.end() || it->sshd_pid > 0;
}

std::string HostFleet::deploy(const std::string& name, bool deploy_hosted_engine, int he_host_id) const {
  auto it = std::find_if(hosts_.begin(), hosts_.end(), [&](const FleetHost& h) { return h.name == name; });
  if (it == hosts_.end()) return "";
  const FleetHost& h = *it;
  const std::string hostname = h.spec.hostname.empty() ? h.name : h.spec.hostname;
  if (h.sshd_pid < 0) return fmt::format("Failed to connect to the host {} ({}:22): Connection refused", name, hostname);
  std::ifstream faults_in(h.faults_file);
  nlohmann::json faults = nlohmann::json::parse(faults_in, nullptr, false);
  if (faults.is_object() && faults.contains("fail") && faults["fail"].is_array())
    for (const auto& rule : faults["fail"])
      if (rule.value("match", "") == "host-deploy")
        return rule.value("message", std::string("Failed to install the host: host-deploy failed"));
  const fs::path conf = h.in_sandbox("/etc/ovirt-hosted-engine/hosted-engine.conf");
  if (deploy_hosted_engine && fs::exists(conf))
    return fmt::format("Hosted engine is already configured on {} (/etc/ovirt-hosted-engine/hosted-engine.conf of an "
                       "earlier deployment): remove the file, then reinstall",
                       name);
  if (deploy_hosted_engine) {
    fs::create_directories(conf.parent_path());
    write_text(conf, hosted_engine_conf_text(h.spec.engine_fqdn, he_host_id, hostname,
                                             "nfs.lab.example:/exports/hosted_engine_restored"));
  }
  return "";
}

/// The lab's name table: the engine FQDN at 192.0.2.10 and each host at
/// 192.0.2.11 and up (documentation addresses: nothing real answers there),
/// then the scenario's own entries.
static std::string etc_hosts(const WorldState& world) {
  std::map<std::string, std::string> table;
  table[world.engine.fqdn] = "192.0.2.10";
  int n = 11;
  for (const auto& h : world.hosts)
    if (!h.address.empty() && n < 255) table[h.address] = fmt::format("192.0.2.{}", n++);
  for (const auto& x : world.lab_hosts.extra)
    if (!x.hostname.empty() && n < 255) table[x.hostname] = fmt::format("192.0.2.{}", n++);
  for (const auto& [name, address] : world.lab_hosts.dns) table[name] = address;
  std::string text = "# the lab's name table (scenario dns:)\n127.0.0.1 localhost\n";
  for (const auto& [name, address] : table)
    if (!address.empty()) text += address + " " + name + "\n";
  return text;
}

/// The engine database's rows the lab seeds: the engine's hosts and VMs in
/// tables named as the engine's (vds_static, vm_static), enough for a
/// restore to be checked row by row.
static std::string engine_rows_sql(const WorldState& world) {
  auto lit = [](const std::string& v) {
    std::string o = "'";
    for (char c : v) o += c == '\'' ? std::string("''") : std::string(1, c);
    return o + "'";
  };
  std::string sql =
      "create table vds_static (vds_id text primary key, vds_name text not null, host_name text not null);\n"
      "create table vm_static (vm_guid text primary key, vm_name text not null);\n";
  for (const auto& h : world.hosts)
    sql += fmt::format("insert into vds_static values ({}, {}, {});\n", lit(h.id), lit(h.name), lit(h.address));
  for (const auto& v : world.vms) sql += fmt::format("insert into vm_static values ({}, {});\n", lit(v.id), lit(v.name));
  return sql;
}

/// DWH's history rows the lab seeds (ovirt_engine_history, tables named as
/// DWH's): one configuration row a host, so a restore is checked row by row.
static std::string dwh_rows_sql(const WorldState& world) {
  std::string sql = "create table host_configuration (host_id text primary key, host_name text not null);\n";
  for (const auto& h : world.hosts) {
    std::string id = h.id, name = h.name;
    for (auto* v : {&id, &name}) {
      std::string q;
      for (char c : *v) q += c == '\'' ? std::string("''") : std::string(1, c);
      *v = q;
    }
    sql += fmt::format("insert into host_configuration values ('{}', '{}');\n", id, name);
  }
  return sql;
}

std::vector<FleetHostSpec> scenario_fleet(const WorldState& world, int first_octet) {
  std::vector<FleetHostSpec> out;
  int n = first_octet;
  auto next_address = [&] {
    if (n > 254) throw std::runtime_error("too many lab hosts for 127.0.0.0/24");
    return fmt::format("127.0.0.{}", n++);
  };
  for (const auto& h : world.hosts) {
    FleetHostSpec s;
    s.name = h.name;
    s.address = next_address();
    s.role = h.hosted_engine ? "hosted_engine" : "regular";
    s.hostname = h.address;
    s.hardware_id = h.hardware_id;
    s.he_host_id = h.hosted_engine ? h.hosted_engine->host_id : 0;
    s.engine_fqdn = world.engine.fqdn;
    out.push_back(s);
  }
  FleetHostSpec engine;
  engine.name = "engine";
  engine.address = next_address();
  engine.role = "engine";
  engine.hostname = world.engine.fqdn;
  engine.engine_setup = world.lab_hosts.engine_setup;
  engine.engine_database = world.lab_hosts.engine_database;
  engine.postgresql = engine.engine_database == "local" || world.lab_hosts.engine_postgresql;
  engine.engine_db_rows_sql = engine_rows_sql(world);
  if (world.lab_hosts.engine_dwh) engine.dwh_db_rows_sql = dwh_rows_sql(world);
  out.push_back(engine);
  FleetHostSpec storage;
  storage.name = "backup_storage";
  storage.address = next_address();
  storage.role = "backup_storage";
  out.push_back(storage);
  for (const auto& x : world.lab_hosts.extra) {
    FleetHostSpec s;
    s.name = x.name;
    s.address = next_address();
    s.role = x.role.empty() ? "spare" : x.role;
    // A lab host of role engine_machine is a fresh install: the engine's
    // packages and PostgreSQL's, nothing set up (the seeds' new Manager).
    s.postgresql = s.role == "database" || s.role == "engine_machine";
    if (s.role == "engine_machine") s.engine_setup = "installed";
    s.hostname = x.hostname;
    s.hardware_id = x.hardware_id;
    s.engine_fqdn = world.engine.fqdn;
    out.push_back(s);
  }
  const std::string hosts_file = etc_hosts(world);
  for (auto& s : out) s.etc_hosts = hosts_file;
  return out;
}

}  // namespace she::lab
