// The base of step types that act on hosts over SSH: each gets this
// thread's session to its host, output lines as progress, and SSH failures
// turned into step errors whose class `retry.on` can name.
#pragma once

#include <algorithm>
#include <chrono>
#include <fmt/format.h>

#include "base/interrupted.h"
#include "base/poller.h"
#include "hosts/shell_quote.h"
#include "hosts/ssh_session.h"
#include "workflows/step_type.h"

namespace she {

/// How output a step reads from a host as it comes (a deploy's log, a
/// dialog's screen) is followed: a look costs one or two short commands on
/// the step's own session, and a line may already be on its way, so looks
/// start 25 ms apart (a look itself takes about as long), grow by half and
/// never drift past 2 s, keeping the narration live. Starting at
/// poll_interval (1 s) saw a lab deploy's pause a second late, twice a run;
/// at 100 ms, a tenth of a second late.
inline PollPolicy output_follow_policy(const StepContext& ctx) {
  using std::chrono::milliseconds;
  const long long interval = ctx.env().engine.poll_interval.count();
  return {milliseconds(std::clamp<long long>(interval, 20, 25)), milliseconds(2000)};
}

class HostStep : public StepType {
 public:
  using StepType::StepType;

  bool runnable() const override { return true; }

  StepResult apply(const StepContext& ctx) const final {
    try {
      return run(ctx);
    } catch (const SshError& e) {
      throw StepError(e.error_class(), e.what());
    } catch (const std::runtime_error& e) {
      if (dynamic_cast<const StepError*>(&e) || dynamic_cast<const RehearsalUnknown*>(&e) ||
          dynamic_cast<const Interrupted*>(&e))
        throw;
      throw StepError("command", e.what());
    }
  }
  CheckResult check(const StepContext& ctx, Value& outputs) const final {
    try {
      return probe(ctx, outputs);
    } catch (const Interrupted&) {
      throw;  // a probe cut short found nothing: the run stops, it does not ask
    } catch (const std::exception&) {
      return CheckResult::Unknown;
    }
  }

 protected:
  virtual StepResult run(const StepContext& ctx) const = 0;
  virtual CheckResult probe(const StepContext&, Value& /*outputs*/) const { return CheckResult::Unknown; }

  static SshSession& session(const StepContext& ctx, const std::string& param = "host", int lane = 0) {
    const RunServices& s = ctx.services();
    if (!s.ssh) throw StepError("fatal", "no SSH here");
    return s.ssh(ctx.ssh(param), lane);
  }

  /// Whether a command changes the host, declared where it is built: a
  /// dry run runs the reads and only shows the writes.
  enum class Effect { Reads, Writes };

  /// Runs argv on the host through the run's runner; output lines go to
  /// progress when `narrate`.
  static ExecResult exec(const StepContext& ctx, SshSession& ssh, const std::vector<std::string>& argv, Effect effect,
                         bool narrate = false, const std::string& input = {},
                         std::map<std::string, std::string> expects = {}) {
    ExecOptions o;
    o.runner = ctx.services().runner;
    o.writes = effect == Effect::Writes;
    o.shown_input = input;
    o.expects = std::move(expects);
    o.should_stop = ctx.services().should_stop;
    if (narrate && ctx.services().progress)
      o.on_line = [&](const std::string& line, bool) { ctx.services().progress(ssh.target().name + ": " + line); };
    size_t sent = 0;
    if (!input.empty())
      o.stdin_source = [&](char* buf, size_t cap) {
        size_t n = std::min(cap, input.size() - sent);
        std::copy(input.data() + sent, input.data() + sent + n, buf);
        sent += n;
        return n;
      };
    return ssh.exec(shell_join(argv), o);
  }

  /// Like exec, but a non-zero exit is a step failure naming the host.
  static ExecResult exec_ok(const StepContext& ctx, SshSession& ssh, const std::vector<std::string>& argv,
                            Effect effect, bool narrate = false, const std::string& input = {},
                            std::map<std::string, std::string> expects = {}) {
    ExecResult r = exec(ctx, ssh, argv, effect, narrate, input, std::move(expects));
    if (r.exit_status != 0) {
      std::string why = r.stderr_tail.empty() ? r.stdout_tail : r.stderr_tail;
      if (why.size() > 400) why = "..." + why.substr(why.size() - 400);
      throw StepError("command", fmt::format("{}: `{}` failed with exit {}{}: {}", ssh.target().name, shell_join(argv),
                                             r.exit_status, r.exit_signal.empty() ? "" : " (signal " + r.exit_signal + ")",
                                             why));
    }
    return r;
  }

  /// Removes files holding secrets, whatever happened before: it ignores
  /// the run's stop request (a stop must not leave a password on a host),
  /// has a short timeout of its own, and never throws.
  /// Returns false, after telling the operator where and what to do, when
  /// a file may be left.
  static bool remove_secret_files(const StepContext& ctx, SshSession& ssh, const std::vector<std::string>& paths) {
    std::vector<std::string> argv = {"rm", "-f", "--"};
    argv.insert(argv.end(), paths.begin(), paths.end());
    ExecOptions o;
    o.runner = ctx.services().runner;
    o.timeout = std::chrono::seconds(15);
    std::string why;
    try {
      ExecResult r = ssh.exec(shell_join(argv), o);
      if (r.exit_status == 0) {
        if (ctx.services().secret_file && !r.rehearsed)
          for (auto& p : paths) ctx.services().secret_file(ssh.target().name, p, false);
        return true;
      }
      why = fmt::format("exit {}: {}", r.exit_status, r.stderr_tail.substr(0, 200));
    } catch (const std::exception& e) {
      why = e.what();
    }
    // Never silent: the operator is told which file on which host still
    // holds a secret, and how to remove it.
    if (ctx.services().progress)
      ctx.services().progress(fmt::format("WARNING: a file holding a secret may be left on {}: {} ({}). Remove it by "
                                          "hand: ssh {}@{} {}",
                                          ssh.target().name, fmt::join(paths, " "), why, ssh.target().user,
                                          ssh.target().address, shell_join(argv)));
    return false;
  }

  /// Writes a file that holds a secret: journaled as placed before a byte
  /// is written, so it is removed (remove_secret_files) or reported even
  /// after a crash.
  static void upload_secret(const StepContext& ctx, SshSession& ssh, const std::string& path,
                            const std::string& content) {
    if (ctx.services().secret_file && !(ctx.services().runner && ctx.services().runner->rehearsal()))
      ctx.services().secret_file(ssh.target().name, path, true);
    upload(ctx, ssh, path, content);
  }

  /// Writes `content` to `path` on the host, mode 0600, through the SSH
  /// channel: never on a command line, so secrets stay off process lists.
  /// One command (a round trip each costs more than the write), after
  /// `before` (writes that go with it, such as its directory): the file
  /// exists with its mode before dd writes a byte into it.
  static void upload(const StepContext& ctx, SshSession& ssh, const std::string& path, const std::string& content,
                     std::vector<std::vector<std::string>> before = {}) {
    before.push_back({"install", "-m", "0600", "/dev/null", path});
    before.push_back({"dd", "of=" + path, "bs=65536", "status=none"});
    exec_ok(ctx, ssh, shell_and(before), Effect::Writes, false, content);
  }
};

}  // namespace she
