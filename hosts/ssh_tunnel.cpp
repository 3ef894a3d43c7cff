#include "hosts/ssh_tunnel.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace she {

SshTunnel::SshTunnel(SshTarget via, std::string host, int port, std::function<void(const std::string&)> on_error)
    : via_(std::move(via)), host_(std::move(host)), port_(port), on_error_(std::move(on_error)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw SshError(SshError::Kind::Connect, std::string("tunnel: socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // never reachable from another machine
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::string why = std::strerror(errno);
    ::close(listen_fd_);
    throw SshError(SshError::Kind::Connect, "tunnel: cannot listen on loopback: " + why);
  }
  local_port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

SshTunnel::~SshTunnel() {
  stop_ = true;
  acceptor_.join();
  std::list<std::thread> workers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
  ::close(listen_fd_);
}

void SshTunnel::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) != 1) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    std::lock_guard<std::mutex> lock(mutex_);
    workers_.emplace_back([this, fd] { carry(fd); });
  }
}

void SshTunnel::carry(int fd) {
  try {
    SshSession session(via_);  // its own: libssh2 sessions are not shared between threads
    session.forward(fd, host_, port_, [this] { return stop_.load(); });
  } catch (const SshError& e) {
    if (on_error_) on_error_(e.what());
  }
  ::close(fd);
}

}  // namespace she
