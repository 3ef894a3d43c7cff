// A local port forwarded through SSH (like `ssh -L`): connections to
// 127.0.0.1:port() are carried to host:port as a remote host reaches them.
// It is how the engine API is reached during a deploy, when the new engine
// VM lives on a network only the deploying host can see.
#pragma once

#include <atomic>
#include <list>
#include <mutex>
#include <string>
#include <thread>

#include "hosts/ssh_session.h"

namespace she {

class SshTunnel {
 public:
  /// Listens at once on a free loopback port; the SSH connection is made
  /// per accepted connection (its errors are logged through `on_error`).
  SshTunnel(SshTarget via, std::string host, int port, std::function<void(const std::string&)> on_error = {});
  ~SshTunnel();  // stops accepting, ends every connection, joins
  SshTunnel(const SshTunnel&) = delete;
  SshTunnel& operator=(const SshTunnel&) = delete;

  int port() const { return local_port_; }
  /// Connections carried so far (for tests and progress).
  int connections() const { return connections_; }

 private:
  void accept_loop();
  void carry(int fd);

  SshTarget via_;
  std::string host_;
  int port_;
  std::function<void(const std::string&)> on_error_;
  int listen_fd_ = -1;
  int local_port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::list<std::thread> workers_;
};

}  // namespace she
