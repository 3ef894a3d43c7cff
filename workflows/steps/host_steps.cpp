// Step types that act on hosts over SSH, or resolve names.
#include <algorithm>
#include <sstream>
#include <fmt/format.h>
#include <strings.h>

#include "hosts/shell_quote.h"
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include "hosts/file_transfer.h"
#include "workflows/steps/host_step.h"
#include "workflows/steps/schema.h"

namespace she {

using namespace schema;

namespace {

ParamSchema target_param(const char* name = "host", const char* help = "SSH target: a host of the environment, engine or backup_storage") {
  return required(name, ParamType::SshTarget, help);
}

std::vector<std::string> command_argv(const StepContext& ctx, const std::string& name, bool sudo) {
  std::vector<std::string> argv = ctx.texts(name);
  if (argv.empty()) throw StepRuleError(name + " must not be empty");
  if (sudo) argv.insert(argv.begin(), {"sudo", "-n", "--"});
  return argv;
}

class SshRun : public HostStep {
 public:
  void check_rules(const StepContext& ctx) const override {
    command_argv(ctx, "command", false);
    if (ctx.has("check")) command_argv(ctx, "check", false);
  }

  SshRun(std::string name, StepKind kind, std::string summary)
      : HostStep(std::move(name), kind, std::move(summary),
                 {target_param(),
                  required("command", ParamType::StringList,
                           "the command as a list of arguments; each is quoted for the remote shell"),
                  optional("check", ParamType::StringList, nullptr,
                           "probe command: exit 0 means the effect is already in place (used on resume)"),
                  optional("sudo", ParamType::Bool, false, "run through sudo -n"),
                  optional("read_only", ParamType::Bool, false,
                           "the plan declares the command (and its check) read-only: a dry run runs it for real. "
                           "Otherwise a dry run shows it and does not run it")},
                 {{"stdout", false, "standard output (bounded tail)"},
                  {"exit_status", false, "exit status"}}) {}

 protected:
  StepResult run(const StepContext& ctx) const override {
    ExecResult r = exec_ok(ctx, session(ctx), command_argv(ctx, "command", ctx.flag("sudo")), effect(ctx), true);
    StepResult out;
    out.outputs = {{"stdout", r.stdout_tail}, {"exit_status", r.exit_status}};
    return out;
  }
  // The plan's own probe command: exit 0 means the effect is in place.
  CheckResult probe(const StepContext& ctx, Value& outputs) const override {
    if (!ctx.has("check")) return CheckResult::Unknown;
    ExecResult r = exec(ctx, session(ctx), command_argv(ctx, "check", ctx.flag("sudo")), effect(ctx));
    if (r.exit_status != 0) return CheckResult::NotDone;
    // The probe saw the effect, not the command's output: that stays unknown.
    outputs = Value::object();
    return CheckResult::Done;
  }

 private:
  // A user's command is a write unless the plan says otherwise: the step
  // type cannot know what `command` does, `sudo` or not.
  static Effect effect(const StepContext& ctx) { return ctx.flag("read_only") ? Effect::Reads : Effect::Writes; }
};

class FileAbsent : public HostStep {
 public:
  FileAbsent()
      : HostStep("file.absent", StepKind::Idempotent, "make sure a file is gone from a host",
                 {target_param(), required("path", ParamType::RemotePath, "absolute path")}, {}) {}

 protected:
  StepResult run(const StepContext& ctx) const override {
    exec_ok(ctx, session(ctx), {"rm", "-f", "--", ctx.text("path")}, Effect::Writes);
    return {};
  }
  CheckResult probe(const StepContext& ctx, Value&) const override {
    return exec(ctx, session(ctx), {"test", "-e", ctx.text("path")}, Effect::Reads).exit_status == 0 ? CheckResult::NotDone
                                                                                             : CheckResult::Done;
  }
};

class FileCopy : public HostStep {
 public:
  FileCopy()
      : HostStep("file.copy", StepKind::Idempotent,
                 "stream a file between hosts (or local) with an end-to-end SHA-256 check",
                 {required("from", ParamType::FileEndpoint, "source: an SSH target or local"),
                  required("from_path", ParamType::RemotePath, "source path (absolute)"),
                  required("to", ParamType::FileEndpoint, "destination: an SSH target or local"),
                  required("to_path", ParamType::RemotePath, "destination path (absolute)"),
                  optional("mode", ParamType::String, "0600", "file mode at the destination"),
                  optional("streams", ParamType::Int, kDefaultTransferStreams,
                           "byte ranges copied at once over their own SSH connections, for files of 256 MiB "
                           "or more (1: one stream; each stream holds about 24 MiB; 0: by direction, 2 when a host "
                           "receives the file, 1 for a download to local)")},
                 {{"sha256", false, "checksum of the copied file"},
                  {"bytes", false, "size in bytes"}}) {}

 protected:
  void check_rules(const StepContext& ctx) const override {
    std::string mode = ctx.text("mode");
    if (mode.size() < 3 || mode.size() > 4 || mode.find_first_not_of("01234567") != std::string::npos)
      throw StepRuleError("mode '" + mode + "' is not an octal file mode such as 0600");
    long long streams = ctx.number("streams");
    if (streams < 0 || streams > 8)
      throw StepRuleError(fmt::format("streams is {}, not from 0 (by direction) to 8", streams));
  }

  StepResult run(const StepContext& ctx) const override {
    // The source is read while the destination is written, from two
    // threads: a copy within one host reads on a second session (lane 1),
    // as a libssh2 session serves one thread; between two hosts each end's
    // own session, warm from earlier steps, saves a handshake.
    TransferEnd to{ctx.text("to") == "local" ? nullptr : &session(ctx, "to"), ctx.text("to_path")};
    TransferEnd from{ctx.text("from") == "local" ? nullptr : &session(ctx, "from"), ctx.text("from_path")};
    if (from.session && from.session == to.session) from.session = &session(ctx, "from", 1);
    TransferOptions o;
    o.mode = ctx.text("mode");
    o.streams = static_cast<int>(ctx.number("streams"));
    o.progress = ctx.services().progress;
    o.should_stop = ctx.services().should_stop;
    o.runner = ctx.services().runner;
    TransferResult r = copy_file(from, to, o);
    StepResult out;
    out.outputs = {{"sha256", r.sha256}, {"bytes", r.bytes}};
    return out;
  }
  // Done when the destination already holds the source's exact bytes.
  CheckResult probe(const StepContext& ctx, Value& outputs) const override {
    if (ctx.text("from") == "local" || ctx.text("to") == "local") return CheckResult::Unknown;
    SshSession& dst = session(ctx, "to");
    if (exec(ctx, dst, {"test", "-f", ctx.text("to_path")}, Effect::Reads).exit_status != 0) return CheckResult::NotDone;
    std::string want = remote_sha256(session(ctx, "from"), ctx.text("from_path"));
    if (remote_sha256(dst, ctx.text("to_path")) != want) return CheckResult::NotDone;
    outputs = {{"sha256", want}, {"bytes", remote_size(dst, ctx.text("to_path"))}};
    return CheckResult::Done;
  }
};

class DnsCheck : public HostStep {
 public:
  DnsCheck()
      : HostStep("dns.check", StepKind::Read,
                 "resolve a name forward and back, from the orchestrator or as a host sees it",
                 {required("name", ParamType::HostAddress, "the FQDN"),
                  optional("address", ParamType::HostAddress, nullptr, "the address it must resolve to"),
                  optional("reverse", ParamType::Bool, true, "also check that the address resolves back to the name"),
                  optional("host", ParamType::SshTarget, nullptr,
                           "resolve on this host (getent), as it will during a deploy; default: here")},
                 {{"addresses", true, "addresses the name resolves to"}}) {}

 protected:
  StepResult run(const StepContext& ctx) const override {
    const std::string name = ctx.text("name");
    std::vector<std::string> addresses = ctx.has("host") ? remote_forward(ctx, name) : local(ctx, "getent ahosts " + name, [&] { return local_forward(name); });
    std::vector<std::string> problems;
    for (const auto& addr : addresses) {
      if (!ctx.flag("reverse")) break;
      std::string back = ctx.has("host") ? remote_reverse(ctx, addr) : local(ctx, "getent hosts " + addr, [&] { return local_reverse(addr); });
      while (!back.empty() && back.back() == '.') back.pop_back();
      if (back.empty()) problems.push_back(fmt::format("{} has no reverse name", addr));
      else if (strcasecmp(back.c_str(), name.c_str()) != 0)
        problems.push_back(fmt::format("{} resolves back to {}, not {}", addr, back, name));
    }
    if (ctx.has("address") && std::find(addresses.begin(), addresses.end(), ctx.text("address")) == addresses.end())
      problems.push_back(fmt::format("{} resolves to {}, not {}", name, fmt::join(addresses, ", "), ctx.text("address")));
    if (!problems.empty())
      throw StepError("fatal", fmt::format("DNS{}: {}; the engine FQDN must resolve forward and reverse (fix DNS or "
                                           "/etc/hosts, then run again)",
                                           ctx.has("host") ? " on " + ctx.ssh("host").name : "", fmt::join(problems, "; ")));
    StepResult r;
    r.outputs["addresses"] = Value::array();
    for (const auto& a : addresses) r.outputs["addresses"].push_back(a);
    return r;
  }

 private:
  /// A lookup with the orchestrator's own resolver, as an operation (a
  /// read: a dry run makes it, an offline one does not).
  template <class F>
  static auto local(const StepContext& ctx, const std::string& line, F lookup) -> decltype(lookup()) {
    const Operation op(Operation::Kind::Local, false, "local", line);
    decltype(lookup()) out{};
    if (!perform_operation(ctx.services().runner, op, [&] { out = lookup(); })) throw RehearsalUnknown("local: " + line);
    return out;
  }

  // From the orchestrator's own resolver, as the engine's clients will see it.
  static std::vector<std::string> local_forward(const std::string& name) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (int rc = getaddrinfo(name.c_str(), nullptr, &hints, &res); rc != 0)
      throw StepError("fatal", fmt::format("{} does not resolve: {}; the engine FQDN must resolve forward and reverse",
                                           name, gai_strerror(rc)));
    std::vector<std::string> out;
    for (addrinfo* a = res; a; a = a->ai_next) {
      char addr[NI_MAXHOST];
      getnameinfo(a->ai_addr, a->ai_addrlen, addr, sizeof addr, nullptr, 0, NI_NUMERICHOST);
      if (std::find(out.begin(), out.end(), addr) == out.end()) out.push_back(addr);
    }
    freeaddrinfo(res);
    return out;
  }

  static std::string local_reverse(const std::string& addr) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_flags = AI_NUMERICHOST;
    if (getaddrinfo(addr.c_str(), nullptr, &hints, &res) != 0) return "";
    char host[NI_MAXHOST];
    bool ok = getnameinfo(res->ai_addr, res->ai_addrlen, host, sizeof host, nullptr, 0, NI_NAMEREQD) == 0;
    freeaddrinfo(res);
    return ok ? host : "";
  }

  // As the host resolves (nsswitch: /etc/hosts, then DNS), with getent:
  // `ahosts NAME` prints "ADDRESS SOCKTYPE NAME" lines, `hosts ADDRESS`
  // prints "ADDRESS NAME ALIASES...". Exit 2: not found.
  static std::vector<std::string> remote_forward(const StepContext& ctx, const std::string& name) {
    SshSession& ssh = session(ctx);
    ExecResult r = exec(ctx, ssh, {"getent", "ahosts", name}, Effect::Reads);
    if (r.exit_status == 2)
      throw StepError("fatal", fmt::format("{} does not resolve on {}; the engine FQDN must resolve forward and reverse "
                                           "(fix DNS or /etc/hosts there, then run again)",
                                           name, ssh.target().name));
    if (r.exit_status != 0)
      throw StepError("command", fmt::format("{}: getent ahosts {} failed with exit {}: {}", ssh.target().name, name,
                                             r.exit_status, r.stderr_tail));
    std::vector<std::string> out;
    std::istringstream lines(r.stdout_tail);
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      std::string addr;
      if (words >> addr && std::find(out.begin(), out.end(), addr) == out.end()) out.push_back(addr);
    }
    return out;
  }

  static std::string remote_reverse(const StepContext& ctx, const std::string& addr) {
    ExecResult r = exec(ctx, session(ctx), {"getent", "hosts", addr}, Effect::Reads);
    std::istringstream words(r.exit_status == 0 ? r.stdout_tail : "");
    std::string a, name;
    words >> a >> name;
    return name;
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
