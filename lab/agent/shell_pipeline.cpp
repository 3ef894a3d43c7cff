// `sh -c SCRIPT [NAME ARG...]`: the one shell form the lab hosts take, an
// AND list of pipelines of simple commands (`dd of=FILE && sha256sum FILE`,
// the transfer's write; `tee -- FILE | sha256sum`), where a command may also
// be the transfers' choice of a tool,
// `if command -v TOOL >/dev/null 2>&1; then exec A "$@"; else exec B "$@"; fi`.
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fmt/format.h>
#include <regex>
#include <sys/wait.h>
#include <unistd.h>
#include <wordexp.h>

#include "lab/agent/agent.h"

namespace she::lab::agent {

namespace {

/// SCRIPT cut at each `sep` outside quotes, as sh reads a list or a
/// pipeline. Empty when it holds an unbalanced quote or an empty part.
std::vector<std::string> split_unquoted(const std::string& script, const std::string& sep) {
  std::vector<std::string> parts(1);
  char quote = 0;
  for (std::size_t i = 0; i < script.size(); ++i) {
    const char c = script[i];
    if (quote) {
      if (c == quote) quote = 0;
      else if (quote == '"' && c == '\\' && i + 1 < script.size()) parts.back() += script[i++];
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '\\' && i + 1 < script.size()) {
      parts.back() += script[i++];
    } else if (script.compare(i, sep.size(), sep) == 0) {
      parts.emplace_back();
      i += sep.size() - 1;
      continue;
    }
    parts.back() += c;
  }
  if (quote) return {};
  for (const auto& s : parts)
    if (trim(s).empty()) return {};
  return parts;
}

constexpr const char* kArgsWord = "__she_lab_positional_args__";

/// A stage that is the tool choice becomes the branch it takes, its "$@" a
/// word that stands for the script's arguments. The lab's hosts stand for EL
/// hosts, which have OpenSSL's command line (vdsm and the engine's PKI
/// scripts use it); a choice on any other tool is false.
bool resolve_tool_choice(std::string* stage) {
  static const std::regex choice(
      R"(\s*if command -v ([A-Za-z0-9_.-]+) >/dev/null 2>&1; then exec ([^;]+); else exec ([^;]+); fi\s*)");
  std::smatch m;
  if (!std::regex_match(*stage, m, choice)) return true;
  if (m[1] != "openssl") return false;
  std::string branch = m[2];
  for (size_t at; (at = branch.find("\"$@\"")) != std::string::npos;) branch.replace(at, 4, kArgsWord);
  *stage = branch;
  return true;
}

/// One pipeline of the script; its status is its last command's.
int pipeline(Agent& a, const std::string& script, const Args& positional) {
  const std::vector<std::string> stages = split_unquoted(script, "|");
  if (stages.empty()) {
    err(fmt::format("sh: 1: Syntax error: {}\n", script));
    return 2;
  }
  std::vector<Args> commands;
  for (std::string stage : stages) {
    if (!resolve_tool_choice(&stage)) {
      err(fmt::format("she-lab-agent: sh: the lab answers `command -v` only for openssl, not: {}\n", stage));
      return 2;
    }
    wordexp_t we{};
    const int wrc = ::wordexp(stage.c_str(), &we, WRDE_NOCMD);
    if (wrc != 0) {
      err(fmt::format("she-lab-agent: sh: refused: only a pipeline of simple commands, not: {}\n", stage));
      if (wrc == WRDE_SYNTAX || wrc == WRDE_BADCHAR || wrc == WRDE_CMDSUB) ::wordfree(&we);
      return 2;
    }
    Args words;
    for (size_t i = 0; i < we.we_wordc; ++i) {
      if (we.we_wordv[i] == std::string(kArgsWord)) words.insert(words.end(), positional.begin(), positional.end());
      else words.push_back(we.we_wordv[i]);
    }
    commands.push_back(std::move(words));
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

}  // namespace

int shell(Agent& a, const Args& argv) {
  if (argv.size() < 3 || argv[1] != "-c") {
    err("she-lab-agent: sh: the lab knows only sh -c SCRIPT\n");
    return 2;
  }
  const Args positional(argv.begin() + std::min<size_t>(argv.size(), 4), argv.end());
  // An AND list: each pipeline runs once the one before it succeeded.
  const std::vector<std::string> items = split_unquoted(argv[2], "&&");
  if (items.empty()) {
    err(fmt::format("sh: 1: Syntax error: {}\n", argv[2]));
    return 2;
  }
  int rc = 0;
  for (const std::string& item : items)
    if ((rc = pipeline(a, item, positional)) != 0) break;
  return rc;
}

}  // namespace she::lab::agent
