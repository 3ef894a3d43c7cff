// Step types that act on hosts over SSH, or resolve names.
#include <fmt/format.h>

#include "hosts/shell_quote.h"
#include "workflows/steps/schema.h"

namespace she {

using namespace schema;

namespace {

ParamSchema target_param(const char* name = "host", const char* help = "SSH target: a host of the environment, engine or backup_storage") {
  return required(name, ParamType::SshTarget, help);
}

/// Where a transfer starts or ends: the orchestrator itself, or an SSH target.
std::string endpoint_text(const StepContext& ctx, const std::string& target_param, const std::string& path) {
  if (ctx.text(target_param) == "local") return "local:" + shell_quote(path);
  return ctx.ssh(target_param).str() + ":" + shell_quote(path);
}

std::vector<std::string> command_argv(const StepContext& ctx, const std::string& name, bool sudo) {
  std::vector<std::string> argv = ctx.texts(name);
  if (argv.empty()) throw StepRuleError(name + " must not be empty");
  if (sudo) argv.insert(argv.begin(), {"sudo", "-n", "--"});
  return argv;
}

class SshRun : public StepType {
 public:
  SshRun(std::string name, StepKind kind, std::string summary)
      : StepType(std::move(name), kind, std::move(summary),
                 {target_param(),
                  required("command", ParamType::StringList,
                           "the command as a list of arguments; each is quoted for the remote shell"),
                  optional("check", ParamType::StringList, nullptr,
                           "probe command: exit 0 means the effect is already in place (used on resume)"),
                  optional("sudo", ParamType::Bool, false, "run through sudo -n")},
                 {{"stdout", false, "standard output (bounded tail)"},
                  {"exit_status", false, "exit status"}}) {}

  std::vector<Operation> describe(const StepContext& ctx) const override {
    auto at = ctx.ssh("host");
    bool sudo = ctx.flag("sudo");
    std::vector<Operation> ops;
    if (ctx.has("check")) {
      ops.push_back(ssh(at, command_argv(ctx, "check", sudo), false));
      ops.back().line += "   (probe: exit 0 skips the command)";
    }
    ops.push_back(ssh(at, command_argv(ctx, "command", sudo), kind() != StepKind::Read));
    return ops;
  }
};

class FileAbsent : public StepType {
 public:
  FileAbsent()
      : StepType("file.absent", StepKind::Idempotent, "make sure a file is gone from a host",
                 {target_param(), required("path", ParamType::String, "absolute path")}, {}) {}

  std::vector<Operation> describe(const StepContext& ctx) const override {
    auto at = ctx.ssh("host");
    std::string path = ctx.text("path");
    return {ssh(at, {"test", "-e", path}, false), ssh(at, {"rm", "-f", "--", path}, true)};
  }
};

class FileCopy : public StepType {
 public:
  FileCopy()
      : StepType("file.copy", StepKind::Idempotent,
                 "stream a file between hosts (or local) with an end-to-end SHA-256 check",
                 {required("from", ParamType::FileEndpoint, "source: an SSH target or local"),
                  required("from_path", ParamType::String, "source path"),
                  required("to", ParamType::FileEndpoint, "destination: an SSH target or local"),
                  required("to_path", ParamType::String, "destination path"),
                  optional("mode", ParamType::String, "0600", "file mode at the destination")},
                 {{"sha256", false, "checksum of the copied file"},
                  {"bytes", false, "size in bytes"}}) {}

  std::vector<Operation> describe(const StepContext& ctx) const override {
    std::string mode = ctx.text("mode");
    if (mode.size() < 3 || mode.size() > 4 || mode.find_first_not_of("01234567") != std::string::npos)
      throw StepRuleError("mode '" + mode + "' is not an octal file mode such as 0600");
    std::string to_path = ctx.text("to_path");
    std::string part = to_path + ".part";
    std::vector<Operation> ops;
    ops.push_back(note(fmt::format("copy {} -> {} (through the orchestrator, SHA-256 computed on the fly)",
                                   endpoint_text(ctx, "from", ctx.text("from_path")),
                                   endpoint_text(ctx, "to", part)),
                       true));
    if (ctx.text("to") == "local") {
      ops.push_back(note("compare the local SHA-256 of " + shell_quote(part) + " with the stream's", false));
      ops.push_back(note("chmod " + ctx.text("mode") + " and rename " + shell_quote(part) + " to " +
                             shell_quote(to_path),
                         true));
    } else {
      auto at = ctx.ssh("to");
      ops.push_back(ssh(at, {"sha256sum", "--", part}, false));
      ops.back().line += "   (must equal the stream's SHA-256)";
      ops.push_back(ssh(at, {"chmod", ctx.text("mode"), "--", part}, true));
      ops.push_back(ssh(at, {"mv", "-f", "--", part, to_path}, true));
    }
    return ops;
  }
};

class DnsCheck : public StepType {
 public:
  DnsCheck()
      : StepType("dns.check", StepKind::Read, "resolve a name forward and back, from the orchestrator",
                 {required("name", ParamType::String, "the FQDN"),
                  optional("address", ParamType::String, nullptr, "the address it must resolve to"),
                  optional("reverse", ParamType::Bool, true, "also check that the address resolves back to the name")},
                 {{"addresses", true, "addresses the name resolves to"}}) {}

  std::vector<Operation> describe(const StepContext& ctx) const override {
    std::vector<Operation> ops{note("resolve " + ctx.text("name") + " (A/AAAA)" +
                                    (ctx.has("address") ? ", expect " + ctx.text("address") : ""))};
    if (ctx.flag("reverse"))
      ops.push_back(note("resolve each address back (PTR), expect " + ctx.text("name")));
    return ops;
  }
};

}  // namespace

void register_host_steps(StepCatalog& c) {
  c.add(std::make_unique<SshRun>("ssh.run", StepKind::Once, "run a command on a host"));
  c.add(std::make_unique<SshRun>("ssh.probe", StepKind::Read,
                                 "run a read-only command on a host (runs for real in a dry run)"));
  c.add(std::make_unique<FileAbsent>());
  c.add(std::make_unique<FileCopy>());
  c.add(std::make_unique<DnsCheck>());
}

}  // namespace she
