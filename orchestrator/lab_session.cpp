#include "orchestrator/lab_session.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>
#include <yaml-cpp/yaml.h>

#include "base/install_layout.h"
#include "base/yaml_reader.h"

namespace she {

namespace fs = std::filesystem;

namespace {

/// she-lab: $SHE_LAB_BINARY, else next to she-restore (installed: both are
/// in BINDIR, wherever the tree was unpacked), else in the build tree's lab/
/// beside it, else on PATH.
std::string she_lab_binary() {
  if (const char* b = std::getenv("SHE_LAB_BINARY"); b && *b) return b;
  if (fs::path self = self_executable(); !self.empty())
    if (fs::path found = first_executable({self.parent_path() / "she-lab", self.parent_path() / "lab" / "she-lab"});
        !found.empty())
      return found.string();
  return "she-lab";
}

}  // namespace

std::string lab_scenario_of(const std::string& plan_file) {
  // Whatever is wrong with the file, the plan loader reports it next.
  Diagnostics ignored;
  std::optional<YAML::Node> read = read_yaml_file(plan_file, {}, ignored);
  if (!read) return "";
  const YAML::Node& root = *read;
  // With an environment too, the loader reports the conflict: no lab.
  if (!root.IsMap() || !root["lab"] || !root["lab"].IsScalar() || root["environment"]) return "";
  fs::path scenario = root["lab"].Scalar();
  if (scenario.is_relative()) scenario = fs::path(plan_file).parent_path() / scenario;
  return scenario.lexically_normal().string();
}

LabSession::LabSession(const std::string& scenario) {
  char tmpl[] = "/tmp/she-restore-lab.XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error(std::string("cannot make the lab's directory: ") + std::strerror(errno));
  dir_ = tmpl;
  // The lab's output goes to a file in its directory (it writes there as
  // long as it runs; a pipe nobody reads would kill it with SIGPIPE).
  const std::string log = dir_ + "/she-lab.out";
  int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) {
    stop();
    throw std::runtime_error("cannot write " + log + ": " + std::strerror(errno));
  }
  const std::string binary = she_lab_binary();
  const std::string lab_dir = dir_ + "/lab";
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) _exit(1);
    ::dup2(out, 1);
    ::dup2(out, 2);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    std::vector<const char*> argv = {binary.c_str(), "serve", scenario.c_str(), "--dir", lab_dir.c_str(), nullptr};
    ::execvp(argv[0], const_cast<char* const*>(argv.data()));
    std::fprintf(stderr, "cannot run %s: %s\n", binary.c_str(), std::strerror(errno));
    _exit(127);
  }
  ::close(out);
  if (pid_ < 0) {
    stop();
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  // Its lines until the environment file, which it prints once the hosts
  // run (or until it ends, or 60 s).
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (bool running = true; environment_.empty() && running && std::chrono::steady_clock::now() < deadline;) {
    int status = 0;
    running = ::waitpid(pid_, &status, WNOHANG) == 0;
    if (!running) pid_ = -1;
    std::ifstream in(log, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    for (size_t at = 0, nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1)
      if (text.compare(at, 12, "environment ") == 0) environment_ = text.substr(at + 12, nl - at - 12);
    if (environment_.empty() && running) ::usleep(100000);
  }
  if (environment_.empty()) {
    stop();
    throw std::runtime_error(fmt::format("the lab did not start ({} serve {}):\n{}", binary, scenario, text));
  }
  for (size_t at = 0, nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) {
    std::string line = text.substr(at, nl - at);
    if (line.rfind("listening ", 0) == 0 || line.rfind("staged ", 0) == 0) std::cerr << "lab: " << line << "\n";
  }
  std::cerr << fmt::format("lab: {} is up; it stops when this command ends\n", scenario);
}

LabSession::~LabSession() { stop(); }

void LabSession::stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) ::usleep(100000);
    if (::waitpid(pid_, &status, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    dir_.clear();
  }
}

}  // namespace she
