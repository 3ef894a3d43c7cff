// she-lab-ovm-cli: the ForceCommand of the lab manager's CLI port (its own
// sshd, lab/host_fleet.h role ovm_cli): the command line comes verbatim
// from SSH_ORIGINAL_COMMAND, as the real CLI reads it (never split by a
// shell), and is logged like the agent's commands.
//
//   she-lab-ovm-cli --host NAME --manager-root DIR --hosts-dir DIR --log AGENTLOG
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>

#include "lab/ovm/ovm_cli_server.h"

namespace {

std::string stamp(const char* format) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

void log_line(const std::string& file, const nlohmann::json& entry) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const std::string line = entry.dump() + "\n";
  [[maybe_unused]] ssize_t n = ::write(fd, line.data(), line.size());
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  she::lab::ovm::CliSetup setup;
  std::string host, log;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string opt = argv[i], v = argv[i + 1];
    if (opt == "--host") host = v;
    else if (opt == "--manager-root") setup.manager_root = v;
    else if (opt == "--hosts-dir") setup.hosts_dir = v;
    else if (opt == "--log") log = v;
  }
  if (setup.manager_root.empty() || log.empty()) {
    std::fputs("usage: she-lab-ovm-cli --host NAME --manager-root DIR --hosts-dir DIR --log AGENTLOG\n", stderr);
    return 2;
  }
  const char* raw_env = std::getenv("SSH_ORIGINAL_COMMAND");
  const std::string line = raw_env ? raw_env : "";
  log_line(log, {{"time", stamp("%Y-%m-%dT%H:%M:%SZ")}, {"host", host}, {"pid", ::getpid()}, {"command", line}});
  if (line.empty()) {
    std::fputs("she-lab-ovm-cli: the lab's CLI answers one command per connection (ssh -p PORT admin@manager 'list Vm')\n",
               stderr);
    return 1;
  }
  if (::access(setup.service_flag().c_str(), F_OK) != 0) {
    std::fputs("Connection to Oracle VM Manager failed: the ovmm service is not running\n", stderr);
    log_line(log, {{"host", host}, {"pid", ::getpid()}, {"exit", 1}});
    return 1;
  }
  const auto reply = she::lab::ovm::answer_cli(setup, line, stamp("%Y-%m-%d %H:%M:%S,000 UTC"));
  std::fwrite(reply.text.data(), 1, reply.text.size(), stdout);
  std::fflush(stdout);
  log_line(log, {{"host", host}, {"pid", ::getpid()}, {"exit", reply.exit_code}, {"wrote", reply.wrote}});
  return reply.exit_code;
}
