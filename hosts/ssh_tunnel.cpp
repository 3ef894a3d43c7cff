#include "hosts/ssh_tunnel.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace she {


SshTunnel::SshTunnel(SshTarget via, std::string host, int port, std::function<void(const std::string&)> on_error,
                     std::unique_ptr<SshSession> first)
    : via_(std::move(via)), host_(std::move(host)), port_(port), on_error_(std::move(on_error)) {
  // A wrong host key or refused credentials stop here, as themselves, not
  // later as a connection curl saw closed. The session that proved it
  // carries the first connection (a handshake is most of a tunnel's cost).
  if (!first || !first->connected()) {
    first = std::make_unique<SshSession>(via_);
    first->open();
  }
  idle_.push_back(std::move(first));
}

SshTunnel::~SshTunnel() {
  stop_ = true;
  std::list<Worker> workers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    workers.swap(workers_);
  }
  for (auto& w : workers) w.thread.join();
  idle_.clear();
}

int SshTunnel::open(sockaddr_in* connect_to) {
  // A listener for this one connection, and the caller's socket bound
  // first, so that the connection taken is the caller's and no other's.
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{}, mine{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  mine = addr;
  socklen_t len = sizeof addr, mine_len = sizeof mine;
  bool ok = listener >= 0 && client >= 0 && ::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
            ::listen(listener, 4) == 0 && ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
            ::bind(client, reinterpret_cast<sockaddr*>(&mine), mine_len) == 0 &&
            ::getsockname(client, reinterpret_cast<sockaddr*>(&mine), &mine_len) == 0;
  if (!ok) {
    if (listener >= 0) ::close(listener);
    if (client >= 0) ::close(client);
    return -1;
  }
  *connect_to = addr;
  ++connections_;
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (*it->done) {
      it->thread.join();
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  workers_.push_back({std::thread([this, listener, mine, done] {
                        int fd = accept_from(listener, mine);
                        ::close(listener);
                        if (fd >= 0) carry(fd);
                        *done = true;
                      }),
                      done});
  return client;
}

int SshTunnel::accept_from(int listener, const sockaddr_in& peer_wanted) {
  // Bounded: a caller that never connects frees the listener in 30 s.
  for (int waited_ms = 0; waited_ms < 30000 && !stop_; waited_ms += 100) {
    pollfd p{listener, POLLIN, 0};
    if (::poll(&p, 1, 100) != 1) continue;
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (peer.sin_port == peer_wanted.sin_port && peer.sin_addr.s_addr == peer_wanted.sin_addr.s_addr) {
      // A reply comes back in several TLS records: without this each one
      // after the first waited for curl's delayed ACK (about 40 ms a request).
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    ::close(fd);  // another process found the port: not carried
    if (on_error_) on_error_("refused a connection to the tunnel that was not the engine client's");
  }
  return -1;
}

std::unique_ptr<SshSession> SshTunnel::take_idle() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (idle_.empty()) return nullptr;
  auto s = std::move(idle_.back());
  idle_.pop_back();
  return s;
}

void SshTunnel::carry(int fd) {
  // One session carries one connection at a time (libssh2 sessions are
  // not shared between threads); an idle one is reused, else a new one.
  auto stopping = [this] { return stop_.load(); };
  std::unique_ptr<SshSession> session = take_idle();
  try {
    if (session) {
      try {
        session->forward(fd, host_, port_, stopping);
      } catch (const SshError&) {
        // An idle session may have died unseen; nothing was carried yet
        // (forward throws only when its channel cannot be opened).
        session.reset();
      }
    }
    if (!session) {
      session = std::make_unique<SshSession>(via_);
      session->forward(fd, host_, port_, stopping);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (session->connected() && idle_.size() < kMaxIdle && !stop_) idle_.push_back(std::move(session));
  } catch (const SshError& e) {
    if (on_error_) on_error_(e.what());
  }
  ::close(fd);
}

}  // namespace she
