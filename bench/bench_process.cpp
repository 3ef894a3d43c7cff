#include "bench_process.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "base/install_layout.h"

namespace she::bench {

using Clock = std::chrono::steady_clock;

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string tail(const std::string& text, int lines) {
  size_t at = text.size();
  for (int n = 0; n <= lines && at != std::string::npos && at > 0; ++n) at = text.rfind('\n', at - 1);
  return at == std::string::npos ? text : text.substr(at + 1);
}

fs::path she_restore_binary(const fs::path& built) {
  if (fs::path self = self_executable(); !self.empty())
    if (fs::path sibling = first_executable({self.parent_path() / "she-restore"}); !sibling.empty()) return sibling;
  return built;
}

namespace {

/// Kills and reaps the child if still running when it goes (an exception).
struct ChildGuard {
  pid_t pid = -1;
  ~ChildGuard() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      int st = 0;
      while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
    }
  }
};

}  // namespace

ProcessResult run_process(const std::vector<std::string>& args, const std::vector<std::string>& extra_env,
                          const fs::path& log, std::chrono::seconds timeout) {
  // Everything the child needs is built before fork: a threaded parent's
  // child may only call async-signal-safe functions.
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_text;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    bool overridden = std::any_of(extra_env.begin(), extra_env.end(), [&](const std::string& x) {
      return kv.compare(0, x.find('=') + 1, x, 0, x.find('=') + 1) == 0;
    });
    if (!overridden) env_text.push_back(kv);
  }
  env_text.insert(env_text.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string log_path = log.string();

  ProcessResult r;
  const auto start = Clock::now();
  ChildGuard child;
  child.pid = ::fork();
  if (child.pid < 0) throw std::runtime_error("fork failed");
  if (child.pid == 0) {
    int in = ::open("/dev/null", O_RDONLY);
    int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0) _exit(127);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  int status = 0;
  struct rusage usage {};
  while (true) {
    pid_t done = ::wait4(child.pid, &status, WNOHANG, &usage);
    if (done == child.pid) break;
    if (done < 0 && errno != EINTR) throw std::runtime_error("wait4 failed");
    if (Clock::now() - start > timeout) {
      r.output = read_file(log) + fmt::format("\n[bench: killed after {} s]\n", timeout.count());
      return r;  // the guard kills and reaps it
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  child.pid = -1;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.peak_rss_kib = usage.ru_maxrss;
  r.output = read_file(log);
  return r;
}

}  // namespace she::bench
