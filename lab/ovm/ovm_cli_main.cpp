// she-lab-ovm-cli: the ForceCommand of the lab manager's CLI port (its own
// sshd, lab/host_fleet.h role ovm_cli): the command line comes verbatim
// from SSH_ORIGINAL_COMMAND, as the real CLI reads it (never split by a
// shell), and is logged like the agent's commands. Without a command
// (`ssh -p 10000 admin@manager < script`) it reads commands from standard
// input, one a line, until `exit` or the end, as the CLI's session does:
// the way to give it a password (discoverServer) that no command line, and
// so no log of one, holds. Logged lines show secrets as *****.
//
//   she-lab-ovm-cli --host NAME --manager-root DIR --hosts-dir DIR --log AGENTLOG
#include <chrono>
#include <cstdio>
#include <iostream>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>
#include <unistd.h>

#include "base/clock.h"
#include "hosts/ovm_cli_command.h"
#include "lab/ovm/ovm_cli_server.h"

namespace {

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
  std::vector<std::string> lines;
  if (raw_env && *raw_env) {
    lines.push_back(raw_env);
  } else {
    for (std::string l; std::getline(std::cin, l);) {
      if (!l.empty() && l.back() == '\r') l.pop_back();
      if (l == "exit") break;
      if (l.find_first_not_of(" \t") != std::string::npos) lines.push_back(l);
    }
  }
  if (lines.empty()) {
    log_line(log, {{"time", she::format_utc_now("%Y-%m-%dT%H:%M:%SZ")}, {"host", host}, {"pid", ::getpid()}, {"command", ""}});
    std::fputs("she-lab-ovm-cli: no command (give one, or one a line on standard input)\n", stderr);
    return 1;
  }
  int exit_code = 0;
  for (const std::string& line : lines) {
    log_line(log, {{"time", she::format_utc_now("%Y-%m-%dT%H:%M:%SZ")}, {"host", host}, {"pid", ::getpid()},
                   {"command", she::ovm::shown_cli_line(line)}});
    if (::access(setup.service_flag().c_str(), F_OK) != 0) {
      std::fputs("Connection to Oracle VM Manager failed: the ovmm service is not running\n", stderr);
      log_line(log, {{"host", host}, {"pid", ::getpid()}, {"exit", 1}});
      return 1;
    }
    const auto reply = she::lab::ovm::answer_cli(setup, line, she::format_utc_now("%Y-%m-%d %H:%M:%S,000 UTC"));
    std::fwrite(reply.text.data(), 1, reply.text.size(), stdout);
    std::fflush(stdout);
    log_line(log, {{"host", host}, {"pid", ::getpid()}, {"exit", reply.exit_code}, {"wrote", reply.wrote}});
    if (reply.exit_code != 0) exit_code = reply.exit_code;
  }
  return exit_code;
}
