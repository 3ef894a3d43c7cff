// she-lab-agent: see agent.h.
//
//   she-lab-agent --host NAME --sandbox DIR --lab-socket SOCKET
//                 --log AGENTLOG --faults FAULTSFILE
//
// The agent log gets one JSON line when a command starts,
// {"time", "host", "pid", "command": THE RAW COMMAND LINE}, and one when it
// ends, {"time", "host", "pid", "exit"}; background units add
// {"time", "host", "pid", "unit", "argv"}.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <wordexp.h>

#include "base/install_layout.h"
#include "lab/agent/agent.h"
#include "lab/child_process.h"

namespace she::lab::agent {

namespace {

void write_all(int fd, const std::string& s) {
  const char* p = s.data();
  std::size_t left = s.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

std::string iso_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, ms);
}

bool proc_parent(pid_t pid, pid_t* ppid, std::string* comm) {
  std::string stat;
  if (!read_file(fmt::format("/proc/{}/stat", pid), &stat)) return false;
  const auto open = stat.find('('), close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return false;
  *comm = stat.substr(open + 1, close - open - 1);
  std::istringstream rest(stat.substr(close + 2));
  char state = 0;
  long pp = 0;
  rest >> state >> pp;
  *ppid = static_cast<pid_t>(pp);
  return true;
}

/// Reads, lets `change` edit and (when it returns true) rewrites the faults
/// file under an exclusive lock, so that agents running at once count the
/// uses of a rule exactly.
void edit_faults(const Agent& a, const std::function<bool(nlohmann::json&)>& change) {
  const int fd = ::open(a.faults_file.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    nlohmann::json empty = nlohmann::json::object();
    change(empty);
    return;
  }
  ::flock(fd, LOCK_EX);
  std::string text;
  char buf[8192];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  nlohmann::json j;
  try {
    j = text.find_first_not_of(" \t\r\n") == std::string::npos ? nlohmann::json::object() : nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    err(fmt::format("she-lab-agent: ignoring the unreadable faults file {}: {}\n", a.faults_file.string(), e.what()));
    j = nlohmann::json::object();
  }
  if (!j.is_object()) j = nlohmann::json::object();
  if (change(j)) {
    const std::string updated = j.dump(2) + "\n";
    ::ftruncate(fd, 0);
    ::lseek(fd, 0, SEEK_SET);
    write_all(fd, updated);
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
}

/// One use of the connection-drop faults: true when this command must drop.
bool take_drop(nlohmann::json& f) {
  if (f.contains("drop_times") && f["drop_times"].is_number_integer()) {
    const int left = f["drop_times"].get<int>() - 1;
    if (left <= 0) {
      f.erase("drop_times");
      f.erase("drop_mid_command");
      f.erase("drop_after_bytes");
    } else {
      f["drop_times"] = left;
    }
    return true;
  }
  return false;
}

std::string joined(const Args& argv) {
  std::string s;
  for (const auto& w : argv) s += (s.empty() ? "" : " ") + w;
  return s;
}

int dispatch(Agent& a, const Args& argv) {
  static const std::vector<std::pair<std::string, std::string>> tools = {
      {"engine-backup", "/usr/bin/engine-backup"},
      {"engine-setup", "/usr/bin/engine-setup"},
      {"engine-cleanup", "/usr/bin/engine-cleanup"},
      {"hosted-engine", "/usr/sbin/hosted-engine"}};
  const std::string& name = argv[0];
  for (const auto& [tool, marker] : tools)
    if (name == tool && !fs::exists(a.map(marker))) {
      err("bash: line 1: " + name + ": command not found\n");
      return 127;
    }
  if (name == "engine-backup") return engine_backup(a, argv);
  if (name == "engine-setup") return engine_setup(a, argv);
  if (name == "hosted-engine") return hosted_engine(a, argv);
  if (name == "systemd-run") return systemd_run(a, argv);
  if (name == "screen") return screen(a, argv);
  if (name == "shutdown") return shutdown(a, argv);
  if (name == "engine-cleanup") return engine_cleanup(a, argv);
  if (name == "postgresql-setup") return postgresql_setup(a, argv);
  if (name == "runuser") return runuser(a, argv);
  if (name == "systemctl") {
    bool handled = false;
    const int rc = postgresql_service(a, argv, &handled);
    if (handled) return rc;
    return systemctl(a, argv);
  }
  if (name == "sh") return shell(a, argv);
  bool handled = false;
  if (const int rc = ovm_server_command(a, argv, &handled); handled) return rc;
  if (const int rc = ovm_manager_command(a, argv, &handled); handled) return rc;
  const int rc = file_command(a, argv, &handled);
  if (handled) return rc;
  err("bash: line 1: " + name + ": command not found\n");
  return 127;
}

}  // namespace

// --- shared helpers ---

void out(const std::string& s) { write_all(1, s); }
void err(const std::string& s) { write_all(2, s); }

bool read_file(const fs::path& p, std::string* out_text) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out_text = s.str();
  return true;
}

bool write_file_atomic(const fs::path& p, const std::string& data, unsigned mode) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  const fs::path tmp = p.string() + fmt::format(".tmp{}", ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return false;
  ::fchmod(fd, mode);
  write_all(fd, data);
  ::close(fd);
  return ::rename(tmp.c_str(), p.c_str()) == 0;
}

std::string now_stamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

fs::path Agent::map(const std::string& host_path) const {
  std::string p = host_path;
  if (p.empty() || p[0] != '/') p = "/root/" + p;
  fs::path out_path = sandbox;
  for (const auto& part : fs::path(p)) {
    const std::string s = part.string();
    if (s.empty() || s == "/" || s == ".") continue;
    if (s == "..") {
      if (out_path != sandbox) out_path = out_path.parent_path();
      continue;
    }
    out_path /= part;
  }
  return out_path;
}

void Agent::log(const nlohmann::json& entry) const {
  nlohmann::json line = {{"time", iso_now()}, {"host", host}, {"pid", ::getpid()}};
  for (auto it = entry.begin(); it != entry.end(); ++it) line[it.key()] = it.value();
  const int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  write_all(fd, line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  ::close(fd);
}

[[noreturn]] void drop_connection() {
  // The sshd processes of this session: every sshd ancestor below the
  // listener (the top-most sshd, which must keep serving).
  std::vector<pid_t> sshds;
  pid_t pid = ::getppid();
  for (int depth = 0; depth < 16 && pid > 1; ++depth) {
    pid_t parent = 0;
    std::string comm;
    if (!proc_parent(pid, &parent, &comm)) break;
    if (comm.rfind("sshd", 0) == 0) sshds.push_back(pid);
    else if (!sshds.empty()) break;
    pid = parent;
  }
  if (!sshds.empty()) sshds.pop_back();  // the listener
  for (pid_t p : sshds) ::kill(p, SIGKILL);
  ::_exit(255);
}

nlohmann::json LabReply::json() const {
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception&) {
    return nlohmann::json();
  }
}

namespace {

/// The lab's requests go through she-lab-http (lab/agent/http/), beside
/// this program: linked in, cpp-httplib's start-up cost every command.
LabReply lab_request(const Agent& a, const std::string& method, const std::string& path, const std::string& body) {
  LabReply r;
  if (a.lab_socket.empty()) {
    r.error = "no lab engine is configured for this host";
    return r;
  }
  ChildRun run;
  run.program = (self_executable().parent_path() / "she-lab-http").string();
  run.argv = {run.program, a.lab_socket.string(), method, path};
  run.input = body;
  std::string reply;
  const int rc = run_child(run, &reply);
  const std::size_t nl = reply.find('\n');
  if (rc != 0 || nl == std::string::npos) {
    r.error = fmt::format("{} did not answer (exit {})", run.program, rc);
    return r;
  }
  r.status = std::atoi(reply.substr(0, nl).c_str());
  (r.status == 0 ? r.error : r.body) = reply.substr(nl + 1);
  return r;
}

}  // namespace

LabReply lab_get(const Agent& a, const std::string& path) { return lab_request(a, "GET", path, {}); }
LabReply lab_post(const Agent& a, const std::string& path, const nlohmann::json& body) {
  return lab_request(a, "POST", path, body.dump());
}

nlohmann::json read_faults(const Agent& a) {
  nlohmann::json faults;
  edit_faults(a, [&](nlohmann::json& f) {
    faults = f;
    return false;
  });
  return faults;
}

long long take_drop_after_bytes(const Agent& a) {
  long long limit = -1;
  edit_faults(a, [&](nlohmann::json& f) {
    if (!f.contains("drop_after_bytes") || !f["drop_after_bytes"].is_number_integer()) return false;
    limit = f["drop_after_bytes"].get<long long>();
    return take_drop(f);
  });
  return limit;
}

bool take_fail_fault(const Agent& a, const std::string& command_line, std::string* message, int* exit_code,
                     const std::string& deferred) {
  bool fail = false;
  edit_faults(a, [&](nlohmann::json& f) {
    if (!f.contains("fail") || !f["fail"].is_array()) return false;
    auto& rules = f["fail"];
    for (std::size_t i = 0; i < rules.size(); ++i) {
      auto& rule = rules[i];
      if (!rule.is_object() || !rule.contains("match") || !rule["match"].is_string()) continue;
      const std::string match = rule["match"].get<std::string>();
      if (command_line.find(match) == std::string::npos) continue;
      if (!deferred.empty() && deferred.find(match) != std::string::npos) continue;
      fail = true;
      *message = rule.value("message", std::string());
      *exit_code = rule.value("exit", 1);
      if (rule.contains("times") && rule["times"].is_number_integer()) {
        const int left = rule["times"].get<int>() - 1;
        if (left <= 0) rules.erase(rules.begin() + static_cast<std::ptrdiff_t>(i));
        else rule["times"] = left;
        return true;
      }
      return false;
    }
    return false;
  });
  return fail;
}

int run_command(Agent& a, const Args& argv_in) {
  Args argv = argv_in;
  // A leading `sudo -n --` (the plans' optional sudo) changes nothing here.
  if (argv.size() >= 3 && argv[0] == "sudo" && argv[1] == "-n" && argv[2] == "--") argv.erase(argv.begin(), argv.begin() + 3);
  if (argv.empty()) return 0;
  // A shell does not fail by itself: the faults meet the commands it runs.
  if (argv[0] == "sh") return dispatch(a, argv);
  std::string message;
  int code = 1;
  // systemd-run: a rule matching the unit's command fails the unit, not
  // systemd-run itself.
  std::string deferred;
  if (argv[0] == "systemd-run") {
    const auto dashes = std::find(argv.begin(), argv.end(), "--");
    if (dashes != argv.end()) deferred = joined(Args(dashes + 1, argv.end()));
  }
  if (take_fail_fault(a, joined(argv), &message, &code, deferred)) {
    if (!message.empty()) err(message + (message.back() == '\n' ? "" : "\n"));
    return code;
  }
  return dispatch(a, argv);
}

}  // namespace she::lab::agent

namespace {

using namespace she::lab::agent;

int usage() {
  err("usage: she-lab-agent --host NAME --sandbox DIR --lab-socket SOCKET --log AGENTLOG --faults FAULTSFILE\n"
      "(the ForceCommand of a lab host's sshd: the command comes from SSH_ORIGINAL_COMMAND)\n");
  return 2;
}

int run_main(Agent& a) {
  const char* raw_env = std::getenv("SSH_ORIGINAL_COMMAND");
  const std::string raw = raw_env ? raw_env : "";
  a.log({{"command", raw}});
  auto finish = [&](int rc) {
    a.log({{"exit", rc}});
    return rc;
  };
  if (trim(raw).empty()) {
    err("she-lab-agent: the lab hosts run commands, not interactive shells\n");
    return finish(1);
  }
  // A machine that is off runs nothing (the legacy engine VM).
  if (powered_off(a)) return finish(unreachable_machine(a));
  std::error_code ec;
  fs::create_directories(a.sandbox / "root", ec);
  if (::chdir((a.sandbox / "root").c_str()) != 0) {
    err("she-lab-agent: cannot enter the sandbox " + a.sandbox.string() + "\n");
    return finish(1);
  }

  // Faults first: a slow host, then the connection drops.
  nlohmann::json faults;
  bool drop_mid = false;
  edit_faults(a, [&](nlohmann::json& f) {
    faults = f;
    bool changed = false;
    if (f.contains("drop_mid_command") && f["drop_mid_command"].is_string() &&
        raw.find(f["drop_mid_command"].get<std::string>()) != std::string::npos) {
      drop_mid = true;
      changed = take_drop(f);
    }
    return changed;
  });
  if (faults.contains("slow_ms") && faults["slow_ms"].is_number_integer() && faults["slow_ms"].get<int>() > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(faults["slow_ms"].get<int>()));

  // Words as sh makes them, without ever running a shell.
  wordexp_t we{};
  const int wrc = ::wordexp(raw.c_str(), &we, WRDE_NOCMD);
  if (wrc != 0) {
    const char* why = wrc == WRDE_BADCHAR ? "shell operators (| & ; < > ( ) { } or a line break) outside quotes"
                      : wrc == WRDE_CMDSUB ? "command substitution"
                      : wrc == WRDE_SYNTAX ? "a syntax error (unbalanced quotes?)"
                                           : "it cannot be split into words";
    err(fmt::format("she-lab-agent: refused: {} in: {}\n", why, raw));
    if (wrc == WRDE_SYNTAX || wrc == WRDE_BADCHAR || wrc == WRDE_CMDSUB) ::wordfree(&we);
    return finish(2);
  }
  Args argv(we.we_wordv, we.we_wordv + we.we_wordc);
  ::wordfree(&we);

  if (!drop_mid) return finish(run_command(a, argv));

  // Dropped mid-command: the command runs (its effects happen), the client
  // gets the first half of its output, then the connection is reset.
  const int saved = ::dup(1);
  const fs::path capture = a.sandbox / "run/she-lab" / fmt::format("capture.{}", ::getpid());
  fs::create_directories(capture.parent_path(), ec);
  const int fd = ::open(capture.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
  }
  const int rc = run_command(a, argv);
  a.log({{"exit", rc}, {"dropped", true}});
  std::string text;
  read_file(capture, &text);
  fs::remove(capture, ec);
  ::dup2(saved, 1);
  write_all(1, text.substr(0, text.size() / 2));
  drop_connection();
}

}  // namespace

int main(int argc, char** argv) {
  Agent a;
  for (int i = 1; i < argc; ++i) {
    const std::string opt = argv[i];
    if (i + 1 >= argc) return usage();
    const std::string v = argv[++i];
    if (opt == "--host") a.host = v;
    else if (opt == "--sandbox") a.sandbox = v;
    else if (opt == "--lab-socket") a.lab_socket = v;
    else if (opt == "--log") a.log_file = v;
    else if (opt == "--faults") a.faults_file = v;
    else return usage();
  }
  if (a.host.empty() || a.sandbox.empty() || a.log_file.empty()) return usage();
  const int rc = run_main(a);
  return rc;
}
