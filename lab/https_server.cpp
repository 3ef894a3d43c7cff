#include "lab/https_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace she::lab {

namespace {

bool wait_for(socket_t sock, short events, time_t sec, time_t usec) {
  pollfd p{sock, events, 0};
  const int ms = static_cast<int>(sec * 1000 + usec / 1000);
  return ::poll(&p, 1, ms) > 0 && (p.revents & (events | POLLHUP | POLLERR));
}

void address_of(const sockaddr_storage& a, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(a);
    ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    port = ntohs(v4.sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(a);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    port = ntohs(v6.sin6_port);
  }
  ip = text;
}

class TlsStream : public httplib::Stream {
 public:
  TlsStream(socket_t sock, SSL* ssl, time_t read_sec, time_t read_usec, time_t write_sec, time_t write_usec)
      : sock_(sock), ssl_(ssl), read_sec_(read_sec), read_usec_(read_usec), write_sec_(write_sec), write_usec_(write_usec) {}

  bool is_readable() const override {
    return SSL_pending(ssl_) > 0 || wait_for(sock_, POLLIN, read_sec_, read_usec_);
  }
  bool is_writable() const override { return wait_for(sock_, POLLOUT, write_sec_, write_usec_); }

  ssize_t read(char* ptr, size_t size) override {
    if (!is_readable()) return -1;
    const int n = SSL_read(ssl_, ptr, static_cast<int>(size));
    return n > 0 ? n : (SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    const int n = SSL_write(ssl_, ptr, static_cast<int>(size));
    return n > 0 ? n : -1;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0) address_of(a, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0) address_of(a, ip, port);
  }
  socket_t socket() const override { return sock_; }

  /// Reads and drops `n` bytes: the body the library left unread.
  bool skip(std::size_t n) {
    char buf[4096];
    while (n > 0) {
      const ssize_t got = read(buf, n < sizeof buf ? n : sizeof buf);
      if (got <= 0) return false;
      n -= static_cast<std::size_t>(got);
    }
    return true;
  }

 private:
  socket_t sock_;
  SSL* ssl_;
  time_t read_sec_, read_usec_, write_sec_, write_usec_;
};

// Methods whose body cpp-httplib reads itself.
bool library_reads_body(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE" || method == "PRI";
}

}  // namespace

bool HttpsServer::process_and_close_socket(socket_t sock) {
  bool ok = false;
  SSL* ssl = SSL_new(ssl_context());
  if (ssl && SSL_set_fd(ssl, sock) == 1) {
    timeval tv{static_cast<long>(read_timeout_sec_), static_cast<long>(read_timeout_usec_)};
    ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    // An answer goes out as headers then body: with Nagle's algorithm the
    // body waits for the client's delayed ACK of the headers (40 ms a
    // request on Linux), a delay no real engine adds.
    int one = 1;
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (SSL_accept(ssl) == 1) {
      TlsStream stream(sock, ssl, read_timeout_sec_, read_timeout_usec_, write_timeout_sec_, write_timeout_usec_);
      for (std::size_t left = keep_alive_max_count_; left > 0; --left) {
        // Wait for the next request in short slices: stop() must not wait
        // out an idle client's keep-alive.
        bool next = SSL_pending(ssl) > 0;
        for (time_t waited = 0; !next && waited < keep_alive_timeout_sec_ * 10 && svr_sock_ != INVALID_SOCKET; ++waited)
          next = wait_for(sock, POLLIN, 0, 100000);
        if (!next || svr_sock_ == INVALID_SOCKET) break;
        bool closed = false;
        std::size_t unread = 0;
        ok = process_request(stream, left == 1, closed, [&](httplib::Request& req) {
          if (!library_reads_body(req.method) && req.has_header("Content-Length"))
            unread = std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10);
        });
        if (!ok || closed || !stream.skip(unread)) break;
      }
      SSL_shutdown(ssl);
    }
  }
  if (ssl) SSL_free(ssl);
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

}  // namespace she::lab
