#include "tests/testbed/test_steps.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <thread>
#include <unistd.h>

#include "base/interrupted.h"
#include "hosts/shell_quote.h"
#include "hosts/ssh_session.h"
#include "workflows/steps/schema.h"

namespace she::test {

namespace {

using namespace schema;

bool has_line(const std::string& file, const std::string& line) {
  std::ifstream in(file);
  for (std::string l; std::getline(in, l);)
    if (l == line) return true;
  return false;
}

/// One write() with O_APPEND, then fsync: an effect is all there or absent.
void append_line_now(const std::string& file, const std::string& line) {
  int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw StepError("command", "cannot open " + file);
  std::string text = line + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw StepError("command", "cannot write " + file);
}

/// Sleeps, returning early (false) when the run must stop.
bool nap(const StepContext& ctx, long long ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    if (ctx.services().should_stop && ctx.services().should_stop()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

/// The same, as an operation of the run (a local file write): a dry run
/// shows it and does not make it.
void append_line(const StepContext& ctx, const std::string& file, const std::string& line) {
  const Operation op(Operation::Kind::Local, true, "local", "append a line to " + file);
  perform_operation(ctx.services().runner, op, [&] { append_line_now(file, line); });
}

std::string effect_line(const StepContext& ctx) { return ctx.services().iteration_key; }

/// A host the step says it acts on, never reached: a group puts the steps
/// naming one host in one lane.
ParamSchema said_host() {
  return optional("host", ParamType::SshTarget, nullptr, "a host it is said to act on (never reached)");
}

class Effect : public StepType {
 public:
  Effect(const char* name, StepKind kind)
      : StepType(name, kind, "record a side effect in a file",
                 {required("file", ParamType::String, "where effects are recorded"),
                  optional("sleep_ms", ParamType::Int, 0, "time spent around the effect"),
                  optional("probe", ParamType::Bool, true, "whether check() can tell if it happened"),
                  optional("fail_after", ParamType::Bool, false, "fail with a transport error after acting"),
                  optional("die_after_effect", ParamType::Bool, false,
                           "SIGKILL itself right after the effect (unless SHE_TEST_SURVIVE is set)"),
                  said_host()},
                 {{"line", false, "the recorded line"}}) {}
  bool runnable() const override { return true; }
  CheckResult check(const StepContext& ctx, Value& outputs) const override {
    if (!ctx.flag("probe")) return CheckResult::Unknown;
    if (!has_line(ctx.text("file"), effect_line(ctx))) return CheckResult::NotDone;
    outputs["line"] = effect_line(ctx);
    return CheckResult::Done;
  }
  StepResult apply(const StepContext& ctx) const override {
    long long half = ctx.number("sleep_ms") / 2;
    if (!nap(ctx, half)) throw Interrupted("stopped before the effect");
    // Deliberately naive, also for test.ensure: only the executor's probe
    // on resume may keep an effect from repeating, so the tests see it.
    append_line(ctx, ctx.text("file"), effect_line(ctx));
    // A crash after the effect and before the journal hears of it.
    if (ctx.flag("die_after_effect") && !std::getenv("SHE_TEST_SURVIVE")) ::raise(SIGKILL);
    if (ctx.flag("fail_after")) throw StepError("transport", "failed after acting (planned)");
    nap(ctx, half);  // after the effect it finishes regardless
    StepResult r;
    r.outputs["line"] = effect_line(ctx);
    return r;
  }
};

class ValueStep : public StepType {
 public:
  ValueStep()
      : StepType("test.value", StepKind::Read, "capture a value",
                 {required("value", ParamType::Any, "the value")},
                 {{"value", false, "the value"}, {"items", true, "the value, when a list"}}) {}
  bool runnable() const override { return true; }
  StepResult apply(const StepContext& ctx) const override {
    StepResult r;
    r.outputs["value"] = ctx.params()["value"];
    r.outputs["items"] = ctx.params()["value"].is_array() ? ctx.params()["value"] : Value::array();
    return r;
  }
};

class FailStep : public StepType {
 public:
  FailStep()
      : StepType("test.fail", StepKind::Idempotent, "fail the first N attempts, counted in a file",
                 {required("counter", ParamType::String, "attempt counter file"),
                  optional("fail_times", ParamType::Int, 1, "attempts that fail"),
                  optional("class", ParamType::String, "transport", "error class of the failures"), said_host()},
                 {{"attempts", false, "attempts made"}}) {}
  bool runnable() const override { return true; }
  StepResult apply(const StepContext& ctx) const override {
    std::string file = ctx.text("counter");
    long long n = 0;
    {
      std::ifstream in(file);
      in >> n;
    }
    append_line(ctx, file + ".log", std::to_string(n + 1));
    const Operation op(Operation::Kind::Local, true, "local", "count an attempt in " + file);
    perform_operation(ctx.services().runner, op, [&] { std::ofstream(file, std::ios::trunc) << n + 1; });
    if (n < ctx.number("fail_times"))
      throw StepError(ctx.text("class"), fmt::format("planned failure {} of {}", n + 1, ctx.number("fail_times")));
    StepResult r;
    r.outputs["attempts"] = n + 1;
    return r;
  }
};

class WaitStep : public StepType {
 public:
  WaitStep()
      : StepType("test.wait", StepKind::Idempotent, "wait, stopping at once when the run must stop",
                 {optional("sleep_ms", ParamType::Int, 10000, "how long")}, {}) {}
  bool runnable() const override { return true; }
  StepResult apply(const StepContext& ctx) const override {
    if (!nap(ctx, ctx.number("sleep_ms"))) throw Interrupted("stopped while waiting");
    return {};
  }
};

class LeakStep : public StepType {
 public:
  LeakStep()
      : StepType("test.leak", StepKind::Read, "echo a secret's value everywhere it could leak",
                 {required("secret", ParamType::Secret, "the secret"),
                  optional("fail", ParamType::Bool, false, "fail with the value in the error")},
                 {{"echo", false, "the value"}}) {}
  bool runnable() const override { return true; }
  StepResult apply(const StepContext& ctx) const override {
    std::string value = ctx.secret("secret");
    if (ctx.services().progress) ctx.services().progress("the value is " + value);
    if (ctx.flag("fail")) throw StepError("fatal", "failed with " + value);
    StepResult r;
    r.outputs["echo"] = value;
    return r;
  }
};

/// A step type that breaks the contract: it changes a host with a command
/// it declares a read, so the runner makes it even in a dry run and shows
/// no write. The dry-run/run comparison must catch it.
class SneakyStep : public StepType {
 public:
  SneakyStep()
      : StepType("test.sneaky", StepKind::Idempotent, "touch a file on a host, calling it a read",
                 {required("host", ParamType::SshTarget, "the host"), required("path", ParamType::String, "the file")},
                 {}) {}
  bool runnable() const override { return true; }
  StepResult apply(const StepContext& ctx) const override {
    ExecOptions o;
    o.runner = ctx.services().runner;
    o.writes = false;  // the lie
    ctx.services().ssh(ctx.ssh("host"), 0).exec(shell_join({"touch", "--", ctx.text("path")}), o);
    return {};
  }
};

/// Holds until a file exists (or `hold` is false): lets a test make one
/// loop item depend on another item's later step, which only a pipeline
/// can satisfy; a barrier between steps leaves it to run out of time.
class GateStep : public StepType {
 public:
  GateStep()
      : StepType("test.gate", StepKind::Read, "wait until a file exists",
                 {required("until", ParamType::String, "the file"),
                  optional("hold", ParamType::Bool, true, "whether to wait at all"),
                  optional("limit_ms", ParamType::Int, 20000, "how long to wait before failing")},
                 {}) {}
  bool runnable() const override { return true; }
  StepResult apply(const StepContext& ctx) const override {
    if (!ctx.flag("hold")) return {};
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ctx.number("limit_ms"));
    while (!std::filesystem::exists(ctx.text("until"))) {
      if (std::chrono::steady_clock::now() > until)
        throw StepError("timeout", ctx.text("until") + " never appeared: another item's step did not run meanwhile");
      if (!nap(ctx, 5)) throw Interrupted("stopped while waiting");
    }
    return {};
  }
};

/// A step type whose runtime is not built: a run must refuse before it starts.
class UnbuiltStep : public StepType {
 public:
  UnbuiltStep() : StepType("test.unbuilt", StepKind::Once, "a step type this build cannot run", {}, {}) {}
};

}  // namespace

void register_test_steps() {
  StepCatalog::register_extra(std::make_unique<UnbuiltStep>());
  StepCatalog::register_extra(std::make_unique<Effect>("test.effect", StepKind::Once));
  StepCatalog::register_extra(std::make_unique<Effect>("test.ensure", StepKind::Idempotent));
  StepCatalog::register_extra(std::make_unique<ValueStep>());
  StepCatalog::register_extra(std::make_unique<FailStep>());
  StepCatalog::register_extra(std::make_unique<WaitStep>());
  StepCatalog::register_extra(std::make_unique<LeakStep>());
  StepCatalog::register_extra(std::make_unique<SneakyStep>());
  StepCatalog::register_extra(std::make_unique<GateStep>());
}

}  // namespace she::test
