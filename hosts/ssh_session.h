// SSH to one host with libssh2: the connection, its host key checked
// against known_hosts, which every target must have (a host known under any
// key type, plain or hashed, with another key is refused showing both
// fingerprints; a host in no entry only with an explicit option, and then
// its key is appended to the file, or the connection fails), authentication by key file,
// ssh-agent or (last resort) password, keepalives, and commands with their
// output streamed as it comes. One session per host, reused; a dropped one
// is reconnected before the next command, never in the middle of one.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "base/operation.h"

namespace she {

struct SshTarget {
  std::string name;        // for messages: the host as the plan names it
  std::string address;
  int port = 22;
  std::string user = "root";
  std::string key_file;    // private key; empty: try ssh-agent
  std::string key_passphrase;  // the value, if the key has one
  std::string password;    // last resort, when allowed
  std::string known_hosts; // required: checked for the host key (a session without one is refused)
  bool accept_new_host_key = false;  // a host in no entry of known_hosts is appended to it
  std::chrono::milliseconds connect_timeout{10000};
  int keepalive_seconds = 15;
};

class SshError : public std::runtime_error {
 public:
  /// A command or connection its should_stop abandoned is none of these:
  /// it throws she::Interrupted (base/interrupted.h).
  enum class Kind { Connect, HostKey, Auth, Channel, Timeout, Dropped };
  SshError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }
  /// The retry class of a step's `retry.on`: transport, timeout, or fatal.
  std::string error_class() const;

 private:
  Kind kind_;
};

struct ExecOptions {
  /// Streaming standard input: fill `buf`, return the bytes written, 0 at
  /// the end. Empty: no input.
  std::function<size_t(char* buf, size_t capacity)> stdin_source;
  /// Raw standard output as it arrives (transfers); else it is kept as a tail.
  std::function<void(const char* data, size_t n)> on_stdout;
  /// Each complete output line (for the log and progress), never for raw streams.
  std::function<void(const std::string& line, bool is_stderr)> on_line;
  std::chrono::milliseconds timeout{0};  // 0: none
  std::function<bool()> should_stop;
  /// Asked after each piece of standard output: true once the caller has
  /// what it waited for (a marker in a followed log), and the command is
  /// left to end on its own: the channel is closed, which closes the
  /// command's output, and the result says `cut_short`.
  std::function<bool()> enough;
  size_t tail_bytes = 64 * 1024;  // how much of each stream is kept
  /// Performs (or, in a rehearsal, records) the command; none: performed.
  OperationRunner* runner = nullptr;
  /// Whether the command changes the host: declared where it is built, and
  /// a write unless declared otherwise, so a rehearsal never runs a
  /// command nobody said was harmless.
  bool writes = true;
  /// What goes to standard input, as a rehearsal shows it (a file's
  /// content), when there is any.
  std::string shown_input;
  /// What the world looks like once the command succeeded (Operation::expects).
  std::map<std::string, std::string> expects;
};

struct ExecResult {
  int exit_status = -1;
  std::string exit_signal;  // e.g. "KILL" when a signal ended the command
  std::string stdout_tail;
  std::string stderr_tail;
  /// A rehearsal recorded the command without running it: there is no
  /// output, and the exit status is the one of success.
  bool rehearsed = false;
  /// ExecOptions::enough ended the read before the command ended: there is
  /// no exit status (-1).
  bool cut_short = false;
};

class SshSession {
 public:
  explicit SshSession(SshTarget target);
  ~SshSession();
  SshSession(const SshSession&) = delete;
  SshSession& operator=(const SshSession&) = delete;

  const SshTarget& target() const { return target_; }
  /// Runs `command` (already quoted for the remote shell); reconnects first
  /// if the session is not open. Throws SshError.
  ExecResult exec(const std::string& command, const ExecOptions& opts = {});
  void disconnect();
  /// Connects now (host key checked, then credentials) if not connected;
  /// `should_stop` abandons the attempt (she::Interrupted).
  void open(const std::function<bool()>& should_stop = {}) {
    if (!impl_) connect(should_stop);
  }
  /// Whether a connection is open (it may still have died unseen).
  bool connected() const { return impl_ != nullptr; }
  /// Carries one local TCP connection (`fd`, closed by the caller) to
  /// host:port as the remote host reaches it (an SSH direct-tcpip channel),
  /// until either end closes or `should_stop` says so. Throws SshError when
  /// the channel cannot be opened (e.g. the server forbids forwarding).
  void forward(int fd, const std::string& host, int port, const std::function<bool()>& should_stop);

  /// SHA256:base64 of a raw host key blob, as OpenSSH prints fingerprints.
  static std::string fingerprint(const std::string& key_blob);

  /// known_hosts read without connecting, for the checks made before any
  /// call: `error` says why it does not parse (libssh2 stops at the first
  /// bad line, as a connection would); `unknown` holds the indexes of the
  /// `hosts` (address, port) it has no entry for, plain or hashed, and
  /// `methods` each host's host-key methods (empty: unknown).
  struct KnownHostsReading {
    std::string error;
    std::vector<size_t> unknown;
    std::vector<std::string> methods;
  };
  static KnownHostsReading read_known_hosts_file(const std::string& path,
                                                 const std::vector<std::pair<std::string, int>>& hosts);
  /// The host-key methods a handshake with `t` is held to: those of every
  /// key type its known_hosts has for the host (comma-separated, OpenSSH's
  /// names); empty when the file has none or cannot be read.
  static std::string known_host_key_methods(const SshTarget& t);

 private:
  struct Impl;
  void connect(const std::function<bool()>& should_stop);
  ExecResult exec_now(const std::string& command, const ExecOptions& opts);
  /// Appends the host's key to known_hosts (accept_new_host_key); throws
  /// SshError naming the file and the error when it cannot.
  void record_host_key(const std::string& host_entry, const std::string& key);
  SshTarget target_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace she
