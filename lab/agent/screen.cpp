// screen on a lab host, for dialogs that must outlive the SSH session (seed
// 000: run hosted-engine --deploy inside `screen`):
//
//   screen [-h N] -dmS NAME CMD ARGS...    a detached session running CMD
//   screen -S NAME -X stuff TEXT           TEXT typed into it (^M is Enter)
//   screen -S NAME -X quit                 the session ended
//   screen -ls [NAME]                      the sessions, as EL7's screen 4.1 lists them
//
// A session is a detached agent process (double fork, new session) whose pid
// file is /run/she-lab/screen/PID.NAME.pid (HostFleet::stop() ends it) and
// whose terminal input is the file PID.NAME.input: `stuff` appends to it, the
// command reads it as it grows (a terminal's ICRNL: CR arrives as NL). CMD is
// an agent command; `script -q [-f] [-a] -c 'CMD' FILE` runs CMD (split as the
// agent splits commands) with its output written to the typescript FILE as a
// terminal's (ONLCR: NL written as CR NL), one write per read.
#include <csignal>
#include <fcntl.h>
#include <fmt/format.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wordexp.h>

#include <chrono>
#include <thread>

#include "lab/agent/agent.h"

namespace she::lab::agent {

namespace {

constexpr const char* kDir = "/run/she-lab/screen";

struct Session {
  long pid = 0;
  std::string name;
  fs::path pid_file, input;
};

std::string socket_dir() {
  const passwd* pw = ::getpwuid(::geteuid());
  return fmt::format("/var/run/screen/S-{}", pw ? pw->pw_name : "root");
}

bool alive(long pid) {
  if (pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) != 0) return false;
  std::string comm;
  read_file(fmt::format("/proc/{}/comm", pid), &comm);
  return trim(comm).rfind("she-lab-agent", 0) == 0;
}

/// The live sessions whose "PID.NAME" or NAME starts with `match`; the files
/// of dead ones are wiped (screen -wipe).
std::vector<Session> sessions(const Agent& a, const std::string& match) {
  std::vector<Session> out;
  std::error_code ec;
  const fs::path dir = a.map(kDir);
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".pid") continue;
    const std::string stem = e.path().stem().string();  // PID.NAME
    const auto dot = stem.find('.');
    if (dot == std::string::npos) continue;
    Session s;
    s.pid = std::atol(stem.substr(0, dot).c_str());
    s.name = stem.substr(dot + 1);
    s.pid_file = e.path();
    s.input = dir / (stem + ".input");
    if (!alive(s.pid)) {
      fs::remove(s.pid_file, ec);
      fs::remove(s.input, ec);
      continue;
    }
    if (match.empty() || stem.rfind(match, 0) == 0 || s.name.rfind(match, 0) == 0) out.push_back(s);
  }
  return out;
}

/// screen's string escapes: ^X a control character (^? DEL), \NNN octal,
/// \\ and \^ themselves.
std::string unescape(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '^' && i + 1 < text.size()) {
      const char n = text[++i];
      out += n == '?' ? '\x7f' : static_cast<char>(std::toupper(static_cast<unsigned char>(n)) & 0x1f);
    } else if (c == '\\' && i + 1 < text.size()) {
      if (text[i + 1] >= '0' && text[i + 1] <= '7') {
        int v = 0, k = 0;
        while (k < 3 && i + 1 < text.size() && text[i + 1] >= '0' && text[i + 1] <= '7') v = v * 8 + (text[++i] - '0'), ++k;
        out += static_cast<char>(v);
      } else {
        out += text[++i];
      }
    } else {
      out += c;
    }
  }
  return out;
}

void write_all_fd(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

volatile sig_atomic_t g_quit = 0;
void on_quit(int) { g_quit = 1; }

/// The session leader: runs the window's command with the input file as its
/// terminal input and copies its output to the typescript; ends with it.
[[noreturn]] void lead(Agent& a, const Session& s, const Args& command) {
  Args run = command;
  fs::path typescript;
  bool append = false;
  if (!command.empty() && command[0] == "script") {
    std::string inner;
    std::size_t i = 1;
    for (; i < command.size(); ++i) {
      const std::string& x = command[i];
      if (x == "-q" || x == "-f" || x == "--quiet" || x == "--flush") continue;
      if (x == "-a" || x == "--append") append = true;
      else if ((x == "-c" || x == "--command") && i + 1 < command.size()) inner = command[++i];
      else if (x.rfind("-", 0) == 0) {
        err(fmt::format("she-lab-agent: script: the lab does not simulate option '{}'\n", x));
        ::_exit(1);
      } else break;
    }
    if (i < command.size()) typescript = a.map(command[i]);
    run.clear();
    wordexp_t we{};
    if (::wordexp(inner.c_str(), &we, WRDE_NOCMD) == 0) {
      run.assign(we.we_wordv, we.we_wordv + we.we_wordc);
      ::wordfree(&we);
    }
    if (typescript.empty()) typescript = a.map("/root/typescript");
  }
  int ts = -1;
  if (!typescript.empty()) {
    std::error_code ec;
    fs::create_directories(typescript.parent_path(), ec);
    ts = ::open(typescript.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
  }
  int pipefd[2];
  if (run.empty() || ::pipe(pipefd) != 0) ::_exit(1);
  const pid_t child = ::fork();
  if (child == 0) {
    const int in = ::open(s.input.c_str(), O_RDONLY);
    ::dup2(in, 0);
    ::dup2(pipefd[1], 1);
    ::dup2(pipefd[1], 2);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    if (in > 2) ::close(in);
    ::_exit(run_command(a, run));
  }
  ::close(pipefd[1]);
  struct sigaction sa {};
  sa.sa_handler = on_quit;  // no SA_RESTART: a quit interrupts the read
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);
  char buf[4096];
  while (!g_quit) {
    const ssize_t n = ::read(pipefd[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::string text;
    for (ssize_t i = 0; i < n; ++i) text += buf[i] == '\n' ? std::string("\r\n") : std::string(1, buf[i]);
    if (ts >= 0) write_all_fd(ts, text.data(), text.size());
  }
  if (g_quit) ::kill(child, SIGTERM);  // it inherited SIGHUP ignored
  int st = 0;
  ::waitpid(child, &st, 0);
  std::error_code ec;
  fs::remove(s.pid_file, ec);
  fs::remove(s.input, ec);
  a.log({{"screen", s.name}, {"exit", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st)}});
  ::_exit(0);
}

int start(Agent& a, const std::string& name, const Args& command) {
  if (command.empty()) {
    err("she-lab-agent: screen: the lab runs a command in a detached session (screen -dmS NAME CMD...)\n");
    return 1;
  }
  std::error_code ec;
  fs::create_directories(a.map(kDir), ec);
  int ready[2];
  if (::pipe(ready) != 0) return 1;
  const pid_t child = ::fork();
  if (child < 0) return 1;
  if (child == 0) {
    ::close(ready[0]);
    ::setsid();
    if (::fork() != 0) ::_exit(0);
    ::signal(SIGHUP, SIG_IGN);
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    if (null > 2) ::close(null);
    Session s;
    s.pid = ::getpid();
    s.name = name.empty() ? fmt::format("pts-0.{}", a.host) : name;
    const std::string stem = fmt::format("{}.{}", s.pid, s.name);
    s.input = a.map(kDir) / (stem + ".input");
    s.pid_file = a.map(kDir) / (stem + ".pid");
    write_file_atomic(s.input, "", 0600);
    write_file_atomic(s.pid_file, fmt::format("{}\n", s.pid), 0644);
    a.log({{"screen", s.name}, {"argv", command}});
    const char ok = 1;
    (void)!::write(ready[1], &ok, 1);
    ::close(ready[1]);
    lead(a, s, command);
  }
  ::close(ready[1]);
  int st = 0;
  ::waitpid(child, &st, 0);
  char ok = 0;
  const bool started = ::read(ready[0], &ok, 1) == 1;
  ::close(ready[0]);
  return started ? 0 : 1;
}

int list(const Agent& a, const std::string& match) {
  const auto found = sessions(a, match);
  // EL7's screen (4.1) ends -ls through Panic(): exit 1 with or without sessions.
  if (found.empty()) {
    out(fmt::format("No Sockets found in {}.\n\n", socket_dir()));
    return 1;
  }
  std::string text = found.size() == 1 ? "There is a screen on:\n" : "There are screens on:\n";
  for (const auto& s : found) text += fmt::format("\t{}.{}\t(Detached)\n", s.pid, s.name);
  text += fmt::format("{} Socket{} in {}.\n\n", found.size(), found.size() > 1 ? "s" : "", socket_dir());
  out(text);
  return 1;
}

int command(const Agent& a, const std::string& match, const Args& cmd) {
  const auto found = sessions(a, match);
  if (found.empty()) {
    out("No screen session found.\n");
    return 1;
  }
  if (found.size() > 1) {
    std::string text = "There are several suitable screens on:\n";
    for (const auto& s : found) text += fmt::format("\t{}.{}\t(Detached)\n", s.pid, s.name);
    out(text + "Type \"screen [-d] -r [pid.]tty.host\" to resume one of them.\n");
    return 1;
  }
  const Session& s = found.front();
  if (cmd[0] == "stuff") {
    std::string text = unescape(cmd.size() > 1 ? cmd[1] : "");
    for (auto& c : text)
      if (c == '\r') c = '\n';
    const int fd = ::open(s.input.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) {
      out("No screen session found.\n");
      return 1;
    }
    write_all_fd(fd, text.data(), text.size());
    ::close(fd);
    return 0;
  }
  if (cmd[0] == "quit") {
    ::kill(static_cast<pid_t>(s.pid), SIGTERM);
    for (int i = 0; i < 100 && alive(s.pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return 0;
  }
  err(fmt::format("she-lab-agent: screen: the lab simulates -X stuff and -X quit, not '{}'\n", cmd[0]));
  return 1;
}

}  // namespace

int screen(Agent& a, const Args& argv) {
  std::string name, ls_match;
  bool detached = false, ls = false;
  Args x_command;
  std::size_t i = 1;
  for (; i < argv.size(); ++i) {
    const std::string& x = argv[i];
    if (x == "-h" && i + 1 < argv.size()) ++i;  // scrollback: nothing to keep
    else if (x == "-dmS" && i + 1 < argv.size()) detached = true, name = argv[++i];
    else if (x == "-dm" || x == "-md") detached = true;
    else if (x == "-d" || x == "-m") detached = detached || x == "-m";
    else if (x == "-S" && i + 1 < argv.size()) name = argv[++i];
    else if (x == "-ls" || x == "-list") {
      ls = true;
      if (i + 1 < argv.size()) ls_match = argv[++i];
    } else if (x == "-X") {
      x_command.assign(argv.begin() + static_cast<std::ptrdiff_t>(i) + 1, argv.end());
      break;
    } else if (x.rfind("-", 0) == 0) {
      err(fmt::format("she-lab-agent: screen: the lab does not simulate option '{}'\n", x));
      return 1;
    } else break;
  }
  if (ls) return list(a, ls_match);
  if (!x_command.empty()) return command(a, name, x_command);
  if (!detached) {
    err("Must be connected to a terminal.\n");
    return 1;
  }
  return start(a, name, Args(argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end()));
}

}  // namespace she::lab::agent
