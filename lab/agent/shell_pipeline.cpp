// `sh -c SCRIPT`: the one shell form the lab hosts take, a pipeline of
// simple commands (`tee -- FILE | sha256sum`, the transfer's write).
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wordexp.h>

#include "lab/agent/agent.h"

namespace she::lab::agent {

namespace {

/// SCRIPT cut at each `|` outside quotes, as sh reads a pipeline. Empty
/// when it holds an unbalanced quote or an empty command.
std::vector<std::string> pipeline_stages(const std::string& script) {
  std::vector<std::string> stages(1);
  char quote = 0;
  for (std::size_t i = 0; i < script.size(); ++i) {
    const char c = script[i];
    if (quote) {
      if (c == quote) quote = 0;
      else if (quote == '"' && c == '\\' && i + 1 < script.size()) stages.back() += script[i++];
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '\\' && i + 1 < script.size()) {
      stages.back() += script[i++];
    } else if (c == '|') {
      stages.emplace_back();
      continue;
    }
    stages.back() += c;
  }
  if (quote) return {};
  for (const auto& s : stages)
    if (trim(s).empty()) return {};
  return stages;
}

}  // namespace

int shell(Agent& a, const Args& argv) {
  if (argv.size() < 3 || argv[1] != "-c") {
    err("she-lab-agent: sh: the lab knows only sh -c SCRIPT\n");
    return 2;
  }
  const std::vector<std::string> stages = pipeline_stages(argv[2]);
  if (stages.empty()) {
    err(fmt::format("sh: 1: Syntax error: {}\n", argv[2]));
    return 2;
  }
  std::vector<Args> commands;
  for (const auto& stage : stages) {
    wordexp_t we{};
    const int wrc = ::wordexp(stage.c_str(), &we, WRDE_NOCMD);
    if (wrc != 0) {
      err(fmt::format("she-lab-agent: sh: refused: only a pipeline of simple commands, not: {}\n", stage));
      if (wrc == WRDE_SYNTAX || wrc == WRDE_BADCHAR || wrc == WRDE_CMDSUB) ::wordfree(&we);
      return 2;
    }
    commands.emplace_back(we.we_wordv, we.we_wordv + we.we_wordc);
    ::wordfree(&we);
  }
  if (commands.size() == 1) return run_command(a, commands[0]);

  // Each command its own process, stdout into the next one's stdin; the
  // pipeline's status is the last command's (dash has no pipefail).
  std::vector<pid_t> pids;
  int in = 0;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    int fds[2] = {-1, 1};
    if (i + 1 < commands.size() && ::pipe(fds) != 0) {
      err(fmt::format("sh: 1: Cannot create pipe: {}\n", std::strerror(errno)));
      return 2;
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
      // A writer whose reader went away dies of SIGPIPE, as under sh.
      std::signal(SIGPIPE, SIG_DFL);
      if (in != 0) ::dup2(in, 0), ::close(in);
      if (fds[1] != 1) ::dup2(fds[1], 1), ::close(fds[1]), ::close(fds[0]);
      ::_exit(run_command(a, commands[i]));
    }
    if (in != 0) ::close(in);
    if (fds[1] != 1) ::close(fds[1]);
    in = fds[0];
    pids.push_back(pid);
  }
  int rc = 0;
  for (pid_t pid : pids) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  return rc;
}

}  // namespace she::lab::agent
