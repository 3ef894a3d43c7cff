#include "hosts/openssh_stream.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/interrupted.h"

namespace she {

namespace {

using Clock = std::chrono::steady_clock;
using Kind = SshError::Kind;

// Runs of this size between our pipes and ssh: ssh reads and writes its
// channel in 32 KiB packets, so a larger pipe mostly saves wakeups.
constexpr size_t kRun = 1 << 20;
// A stopped ssh gets this long to go after SIGTERM before SIGKILL.
constexpr auto kTermGrace = std::chrono::seconds(2);

/// The child and our ends of its pipes: whatever way the stream ends, the
/// child is gone and reaped, and our ends are closed.
class Child {
 public:
  ~Child() {
    end();
    for (int& fd : fds) close_fd(fd);
  }
  pid_t pid = -1;
  int fds[3] = {-1, -1, -1};  // its standard input, output, error (our ends)

  static void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  /// Waits for the child to exit (it closed its output); its wait status.
  int reap() {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    pid = -1;
    return status;
  }
  /// SIGTERM, then SIGKILL once the grace is over; reaped either way.
  void end() {
    if (pid < 0) return;
    ::kill(pid, SIGTERM);
    const auto until = Clock::now() + kTermGrace;
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (Clock::now() > until) {
        ::kill(pid, SIGKILL);
        reap();
        return;
      }
      ::usleep(20000);
    }
    pid = -1;
  }
};

/// SIGPIPE on this thread only, while it writes to ssh's input: a stream
/// whose ssh went away is an EPIPE to handle, not a death of the process
/// (whose disposition of SIGPIPE is not this file's to change).
class PipeSignalBlocked {
 public:
  PipeSignalBlocked() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~PipeSignalBlocked() {
    sigset_t pending;
    timespec none{};
    while (::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) && !sigismember(&old_, SIGPIPE) &&
           ::sigtimedwait(&pipe_, nullptr, &none) == SIGPIPE) {
    }
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t pipe_, old_;
};

bool contains(const std::string& text, const char* what) { return text.find(what) != std::string::npos; }

/// ssh's own failure (exit 255) as the SshError a libssh2 session would
/// throw in its place, so that retries and error classes stay as they are.
SshError ssh_failure(const SshTarget& t, const std::string& said) {
  std::string why = said;
  while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
  for (auto& c : why)
    if (c == '\n' || c == '\r') c = ' ';
  if (why.size() > 400) why = why.substr(0, 400) + "...";
  if (why.empty()) why = "no message";
  const std::string head = fmt::format("{}: OpenSSH's ssh, carrying the copy's bulk stream to {}:{}, failed: {}", t.name,
                                       t.address, t.port, why);
  if (contains(said, "Host key verification failed") || contains(said, "REMOTE HOST IDENTIFICATION HAS CHANGED") ||
      contains(said, "host key is known"))
    return SshError(Kind::HostKey, head + fmt::format(". Its key is not the one known_hosts ({}) holds for it: check it "
                                                      "out of band, then fix the entry",
                                                      t.known_hosts));
  if (contains(said, "Permission denied") || contains(said, "Too many authentication failures"))
    return SshError(Kind::Auth, head + fmt::format(". The host refused the key {} that libssh2 logged in with: was it "
                                                   "removed from authorized_keys meanwhile?",
                                                   t.key_file));
  if (contains(said, "connect to host") || contains(said, "Could not resolve") || contains(said, "banner exchange") ||
      contains(said, "kex_exchange_identification") || contains(said, "no matching"))
    return SshError(Kind::Connect, head + ". The host or its sshd stopped answering, or accepts no cipher ssh offers");
  return SshError(Kind::Dropped, head + ". The connection dropped: the copy starts over");
}

}  // namespace

std::string openssh_unusable(const SshTarget& t, const std::string& client) {
  if (::access(client.c_str(), X_OK) != 0) return client + " is not there (Debian package openssh-client)";
  if (t.key_file.empty()) return "no key file (ssh-agent logins stay on libssh2)";
  if (!t.key_passphrase.empty()) return "the key has a passphrase (it is never put where ssh could read it)";
  if (!t.password.empty()) return "a password is allowed (it is never put where ssh could read it)";
  if (t.known_hosts.empty()) return "no known_hosts";
  // ssh refuses a private key others may read ("UNPROTECTED PRIVATE KEY
  // FILE"), which libssh2 uses: that would fail a copy libssh2 carries.
  struct stat key {};
  if (::stat(t.key_file.c_str(), &key) != 0 || (key.st_mode & 077) != 0)
    return "the key file " + t.key_file + " is not private to its owner (ssh would refuse it)";
  // ssh splits UserKnownHostsFile at blanks and expands %, ~ and quotes in
  // both paths: such a path could name another file than libssh2's.
  for (const std::string* path : {&t.key_file, &t.known_hosts})
    if (path->find_first_of(" \t\"'%~") != std::string::npos)
      return "the path " + *path + " has characters ssh would read otherwise";
  return {};
}

std::vector<std::string> openssh_argv(const SshTarget& t, const std::string& client, const std::string& host_key_methods,
                                      const std::string& command) {
  const long long connect_seconds = std::max<long long>(1, (t.connect_timeout.count() + 999) / 1000);
  std::vector<std::string> argv = {
      client, "-F", "/dev/null", "-T", "-e", "none", "-o", "BatchMode=yes",
      // One trust anchor: the target's pinned known_hosts, strictly; never
      // written (new keys are libssh2's to record, under its checks).
      "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + t.known_hosts, "-o",
      "GlobalKnownHostsFile=/dev/null", "-o", "UpdateHostKeys=no", "-o", "CheckHostIP=no",
      // One credential: the key file libssh2 logs in with.
      "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-i", t.key_file, "-o", "PreferredAuthentications=publickey",
      "-o", "ClearAllForwardings=yes", "-o", "ForwardAgent=no", "-o", "ForwardX11=no", "-o", "PermitLocalCommand=no",
      "-o", "ControlMaster=no", "-o", "ControlPath=none",
      // AES with the CPU's instructions first: GCM costs a fraction of
      // chacha20-poly1305 on either end where AES-NI and PCLMUL exist.
      "-o", "Ciphers=aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr",
      "-o", fmt::format("ConnectTimeout={}", connect_seconds), "-o",
      fmt::format("ServerAliveInterval={}", std::max(1, t.keepalive_seconds)),
      // Its warnings would read as the remote command's standard error.
      "-o", "LogLevel=ERROR", "-p", std::to_string(t.port), "-l", t.user};
  if (!host_key_methods.empty()) {
    argv.push_back("-o");
    argv.push_back("HostKeyAlgorithms=" + host_key_methods);
  }
  // "--": an address can never be read as an option.
  argv.insert(argv.end(), {"--", t.address, command});
  return argv;
}

ExecResult openssh_exec(const SshTarget& t, const std::string& client, const std::string& command,
                        const ExecOptions& opts) {
  const std::vector<std::string> argv = openssh_argv(t, client, SshSession::known_host_key_methods(t), command);
  PipeSignalBlocked no_sigpipe;
  Child child;
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) throw SshError(Kind::Connect, t.name + ": cannot make a pipe for ssh: " + std::strerror(errno));
  child.fds[0] = in[1];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    throw SshError(Kind::Connect, t.name + ": cannot make a pipe for ssh: " + std::strerror(errno));
  }
  child.fds[1] = out[0];
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(in[0]), ::close(out[1]);
    throw SshError(Kind::Connect, t.name + ": cannot make a pipe for ssh: " + std::strerror(errno));
  }
  child.fds[2] = err[0];
  // Larger pipes: fewer wakeups of ssh and of us (best effort).
  ::fcntl(in[1], F_SETPIPE_SZ, static_cast<int>(kRun));
  ::fcntl(out[0], F_SETPIPE_SZ, static_cast<int>(kRun));

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 onto 0, 1, 2 clears close-on-exec there only: the child inherits
  // these three and no other descriptor of ours.
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  // Its own process group: a terminal's Ctrl-C reaches the orchestrator,
  // which stops the copy, not ssh in the middle of it.
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // Nothing of our environment (it may hold the secrets plans refer to as
  // env:NAME); the C locale so that its messages classify as above.
  char path_env[] = "PATH=/usr/bin:/bin";
  char locale_env[] = "LC_ALL=C";
  char* env[] = {path_env, locale_env, nullptr};
  pid_t pid = -1;
  const int spawned = ::posix_spawn(&pid, client.c_str(), &actions, &attr, args.data(), env);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(in[0]), ::close(out[1]), ::close(err[1]);
  if (spawned != 0)
    throw SshError(Kind::Connect, fmt::format("{}: cannot start {}: {}", t.name, client, std::strerror(spawned)));
  child.pid = pid;
  for (int fd : child.fds) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);

  const auto deadline = opts.timeout.count() > 0 ? Clock::now() + opts.timeout : Clock::time_point::max();
  ExecResult result;
  std::vector<char> in_buf(opts.stdin_source ? kRun : 0), out_buf(kRun);
  size_t in_len = 0, in_off = 0;
  bool in_done = !opts.stdin_source;
  if (in_done) Child::close_fd(child.fds[0]);
  auto keep = [&](std::string& tail, const char* d, size_t n) {
    tail.append(d, n);
    if (tail.size() > opts.tail_bytes) tail.erase(0, tail.size() - opts.tail_bytes);
  };
  while (child.fds[1] >= 0 || child.fds[2] >= 0) {
    if (opts.should_stop && opts.should_stop()) {
      child.end();
      throw Interrupted(fmt::format("{}: stopped while running (through ssh): {}", t.name, command));
    }
    if (Clock::now() > deadline) {
      child.end();
      throw SshError(Kind::Timeout, fmt::format("{}: no end after {} ms (through ssh): {}", t.name, opts.timeout.count(),
                                                command));
    }
    if (!in_done && in_off == in_len) {
      in_len = opts.stdin_source(in_buf.data(), in_buf.size());
      in_off = 0;
      if (in_len == 0) {
        in_done = true;
        Child::close_fd(child.fds[0]);  // the remote command sees its input end
      }
    }
    pollfd p[3] = {{in_done ? -1 : child.fds[0], POLLOUT, 0}, {child.fds[1], POLLIN, 0}, {child.fds[2], POLLIN, 0}};
    // In slices, so that a stop is seen while ssh is silent.
    if (::poll(p, 3, 100) < 0 && errno != EINTR)
      throw SshError(Kind::Dropped, fmt::format("{}: cannot wait for ssh: {}", t.name, std::strerror(errno)));
    if (!in_done && p[0].revents) {
      ssize_t n = ::write(child.fds[0], in_buf.data() + in_off, in_len - in_off);
      if (n > 0) {
        in_off += static_cast<size_t>(n);
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        // ssh (or the remote command) took no more: its exit says why.
        in_done = true;
        Child::close_fd(child.fds[0]);
      }
    }
    for (int which = 1; which <= 2; ++which) {
      if (!p[which].revents) continue;
      ssize_t n = ::read(child.fds[which], out_buf.data(), out_buf.size());
      if (n > 0) {
        if (which == 1 && opts.on_stdout) opts.on_stdout(out_buf.data(), static_cast<size_t>(n));
        else keep(which == 1 ? result.stdout_tail : result.stderr_tail, out_buf.data(), static_cast<size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        Child::close_fd(child.fds[which]);
      }
    }
  }
  // Its output ended: ssh is exiting (a stop still ends it within the grace).
  while (true) {
    int status = 0;
    pid_t got = ::waitpid(child.pid, &status, WNOHANG);
    if (got == child.pid) {
      child.pid = -1;
      if (WIFEXITED(status) && WEXITSTATUS(status) == 255) throw ssh_failure(t, result.stderr_tail);
      if (WIFSIGNALED(status))
        throw SshError(Kind::Dropped, fmt::format("{}: ssh, carrying the copy's bulk stream, was ended by signal {}",
                                                  t.name, WTERMSIG(status)));
      result.exit_status = WEXITSTATUS(status);
      return result;
    }
    if (got < 0 && errno != EINTR) throw SshError(Kind::Dropped, t.name + ": lost track of ssh: " + std::strerror(errno));
    if (opts.should_stop && opts.should_stop()) {
      child.end();
      throw Interrupted(fmt::format("{}: stopped while running (through ssh): {}", t.name, command));
    }
    ::usleep(5000);
  }
}

}  // namespace she
