// A connection to host:port as a remote host reaches it, carried over SSH
// (a direct-tcpip channel, like `ssh -W`). It is how the engine API is
// reached during a deploy, when the new engine VM lives on a network only
// the deploying host can see. Nothing stays listening: each connection gets
// a loopback port that takes the caller's socket (curl's) and no other, and
// is pumped over an SSH session of its own while it lasts, so no other local
// process can use the tunnel. Sessions are kept for the next connection
// (a handshake and authentication cost more than the requests they carry).
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <string>
#include <thread>
#include <vector>

#include "hosts/ssh_session.h"

namespace she {

class SshTunnel {
 public:
  /// Checks that `via` can be reached (host key, credentials): throws
  /// SshError as it is. Errors of later connections go to `on_error`.
  /// `first`: a session to `via` already open (opened ahead, the same
  /// checks passed), which then carries the first connection.
  SshTunnel(SshTarget via, std::string host, int port, std::function<void(const std::string&)> on_error = {},
            std::unique_ptr<SshSession> first = nullptr);
  ~SshTunnel();  // ends every connection, joins
  SshTunnel(const SshTunnel&) = delete;
  SshTunnel& operator=(const SshTunnel&) = delete;

  /// A new connection: a socket the caller owns (and closes), to be
  /// connected to `*connect_to` (a loopback port that takes this socket's
  /// connection and no other). -1 when no socket could be made.
  int open(sockaddr_in* connect_to);
  /// Connections carried so far (for tests and progress).
  int connections() const { return connections_; }
  /// Sessions connected and carrying nothing, kept for the next connection.
  size_t idle_sessions() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return idle_.size();
  }

 private:
  int accept_from(int listener, const sockaddr_in& peer_wanted);
  void carry(int fd);
  std::unique_ptr<SshSession> take_idle();
  static constexpr size_t kMaxIdle = 4;

  SshTarget via_;
  std::string host_;
  int port_;
  std::function<void(const std::string&)> on_error_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::list<Worker> workers_;  // finished ones are joined as new ones come
  std::vector<std::unique_ptr<SshSession>> idle_;  // connected, carrying nothing
};

}  // namespace she
