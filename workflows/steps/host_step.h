// The base of step types that act on hosts over SSH: each gets this
// thread's session to its host, output lines as progress, and SSH failures
// turned into step errors whose class `retry.on` can name.
#pragma once

#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <stdexcept>

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
  /// `shown`, when given, is how a rehearsal shows the input instead of
  /// the bytes themselves (several files' contents, each named).
  static ExecResult exec(const StepContext& ctx, SshSession& ssh, const std::vector<std::string>& argv, Effect effect,
                         bool narrate = false, const std::string& input = {},
                         std::map<std::string, std::string> expects = {}, const std::string* shown = nullptr) {
    ExecOptions o;
    o.runner = ctx.services().runner;
    o.writes = effect == Effect::Writes;
    o.shown_input = shown ? *shown : input;
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
                            std::map<std::string, std::string> expects = {}, const std::string* shown = nullptr) {
    ExecResult r = exec(ctx, ssh, argv, effect, narrate, input, std::move(expects), shown);
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
        if (!r.rehearsed) secret_files_gone(ctx, ssh, paths);
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

  /// Journals files holding secrets as gone from the host (a command
  /// that removed them succeeded): no obligation left for a resume.
  static void secret_files_gone(const StepContext& ctx, SshSession& ssh, const std::vector<std::string>& paths) {
    if (ctx.services().secret_file)
      for (auto& p : paths) ctx.services().secret_file(ssh.target().name, p, false);
  }

  /// Journals a file that will hold a secret as placed, before a byte of
  /// it is written, so it is removed (remove_secret_files) or reported
  /// even after a crash.
  static void secret_file_placed(const StepContext& ctx, SshSession& ssh, const std::string& path) {
    if (ctx.services().secret_file && !(ctx.services().runner && ctx.services().runner->rehearsal()))
      ctx.services().secret_file(ssh.target().name, path, true);
  }

  /// Writes a file that holds a secret (upload journals it as placed).
  static void upload_secret(const StepContext& ctx, SshSession& ssh, const std::string& path,
                            const std::string& content) {
    upload(ctx, ssh, {{path, content, true}});
  }

  /// A file written on a host through the SSH channel.
  struct FileWrite {
    std::string path;
    std::string content;
    bool secret = false;  // its size stays off the command line too
  };

  /// Writes `files` on the host, mode 0600, through the SSH channel: never
  /// on a command line, so secrets stay off process lists. One command (a
  /// round trip each costs more than the writes): `before` (writes that go
  /// with them, such as their directory), then each file created with its
  /// mode before dd writes a byte into it. Every file but the last takes
  /// exactly its own bytes from the channel (its size on the command line;
  /// fullblock, or GNU dd stops early on input that arrives in pieces), so
  /// the next file's stay there for it; the last reads to the end: a
  /// secret's file goes last, at most one, journaled as placed before the
  /// command starts (secret_file_placed). Nothing that uses the files
  /// joins this command: a connection lost mid-stream ends each dd at the
  /// end of what arrived, and the rest of the command would go on with
  /// short files; only this command's own exit status, which such a loss
  /// never delivers, says every byte landed.
  static void upload(const StepContext& ctx, SshSession& ssh, std::vector<FileWrite> files,
                     std::vector<std::vector<std::string>> before = {}) {
    std::stable_partition(files.begin(), files.end(), [](const FileWrite& f) { return !f.secret; });
    if (files.size() > 1 && files[files.size() - 2].secret)
      throw std::logic_error("upload: more than one file holding a secret in one command");
    if (!files.empty() && files.back().secret) secret_file_placed(ctx, ssh, files.back().path);
    std::string input, shown;
    for (size_t i = 0; i < files.size(); ++i) {
      const FileWrite& f = files[i];
      before.push_back({"install", "-m", "0600", "/dev/null", f.path});
      if (i + 1 < files.size())
        before.push_back({"dd", "of=" + f.path, "bs=65536", fmt::format("count={}", f.content.size()),
                          "iflag=fullblock,count_bytes", "status=none"});
      else
        before.push_back({"dd", "of=" + f.path, "bs=65536", "status=none"});
      input += f.content;
      if (files.size() > 1)
        shown += fmt::format("--- {} ---\n{}{}", f.path, f.content,
                             f.content.empty() || f.content.back() == '\n' ? "" : "\n");
    }
    exec_ok(ctx, ssh, shell_and(before), Effect::Writes, false, input, {}, files.size() > 1 ? &shown : nullptr);
  }
};

}  // namespace she
