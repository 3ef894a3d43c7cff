#include "hosts/ssh_session.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <libssh2.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace she {

namespace {

using Clock = std::chrono::steady_clock;
using Kind = SshError::Kind;

std::string base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  while (!out.empty() && out.back() == '=') out.pop_back();  // OpenSSH prints it unpadded
  return out;
}

std::string unbase64(const std::string& s) {
  std::string out(s.size(), '\0');
  int len = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(s.data()),
                            static_cast<int>(s.size()));
  if (len < 0) return {};
  size_t pad = 0;
  for (auto it = s.rbegin(); it != s.rend() && *it == '='; ++it) ++pad;
  out.resize(static_cast<size_t>(len) - pad);
  return out;
}

int knownhost_key_type(int hostkey_type) {
  switch (hostkey_type) {
    case LIBSSH2_HOSTKEY_TYPE_RSA: return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
    case LIBSSH2_HOSTKEY_TYPE_DSS: return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
    case LIBSSH2_HOSTKEY_TYPE_ED25519: return LIBSSH2_KNOWNHOST_KEY_ED25519;
  }
  return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
}

std::string session_error(LIBSSH2_SESSION* s) {
  char* msg = nullptr;
  libssh2_session_last_error(s, &msg, nullptr, 0);
  return msg ? msg : "unknown error";
}

/// A TCP connection, with a timeout on the connect itself.
int tcp_connect(const SshTarget& t) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(t.address.c_str(), std::to_string(t.port).c_str(), &hints, &res); rc != 0)
    throw SshError(Kind::Connect, fmt::format("{}: cannot resolve {}: {}", t.name, t.address, gai_strerror(rc)));
  std::string last = "no address";
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, static_cast<int>(t.connect_timeout.count()));
      int err = 0;
      socklen_t len = sizeof err;
      if (rc == 1) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (rc == 1 && err == 0) rc = 0;
      else {
        last = rc == 0 ? "timed out" : std::strerror(err ? err : errno);
        rc = -1;
      }
    } else if (rc != 0) {
      last = std::strerror(errno);
    }
    if (rc == 0) {
      fcntl(fd, F_SETFL, flags);
      freeaddrinfo(res);
      return fd;
    }
    ::close(fd);
  }
  freeaddrinfo(res);
  throw SshError(Kind::Connect, fmt::format("{}: cannot connect to {}:{}: {}", t.name, t.address, t.port, last));
}

}  // namespace

std::string SshError::error_class() const {
  switch (kind_) {
    case Kind::Connect:
    case Kind::Dropped: return "transport";
    case Kind::Timeout: return "timeout";
    case Kind::Interrupted: return "interrupted";
    default: return "fatal";
  }
}

std::string SshSession::fingerprint(const std::string& blob) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(blob.data(), blob.size(), md, &len, EVP_sha256(), nullptr);
  return "SHA256:" + base64(md, len);
}

struct SshSession::Impl {
  int fd = -1;
  LIBSSH2_SESSION* session = nullptr;

  ~Impl() {
    if (session) {
      // A dead or stuck peer must not hold the disconnect forever.
      libssh2_session_set_timeout(session, 2000);
      libssh2_session_set_blocking(session, 1);
      libssh2_session_disconnect(session, "she-restore done");
      libssh2_session_free(session);
    }
    if (fd >= 0) ::close(fd);
  }

  /// Waits until the socket is ready in the direction libssh2 needs.
  void wait(int timeout_ms) {
    int dir = libssh2_session_block_directions(session);
    pollfd p{fd, 0, 0};
    if (dir & LIBSSH2_SESSION_BLOCK_INBOUND) p.events |= POLLIN;
    if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND) p.events |= POLLOUT;
    if (!p.events) p.events = POLLIN;
    ::poll(&p, 1, timeout_ms);
  }
};

SshSession::SshSession(SshTarget target) : target_(std::move(target)) {
  static const bool init = libssh2_init(0) == 0;
  (void)init;
}

SshSession::~SshSession() = default;

void SshSession::disconnect() { impl_.reset(); }

void SshSession::connect() {
  auto impl = std::make_unique<Impl>();
  impl->fd = tcp_connect(target_);
  impl->session = libssh2_session_init();
  LIBSSH2_SESSION* s = impl->session;
  libssh2_session_set_blocking(s, 1);
  libssh2_session_set_timeout(s, static_cast<long>(target_.connect_timeout.count()));

  // known_hosts first: the handshake may only settle on a key type it
  // already has for this host, or a host (or someone in between) could
  // offer another type and pass for "unknown" instead of "mismatching".
  LIBSSH2_KNOWNHOSTS* kh = libssh2_knownhost_init(s);
  std::unique_ptr<LIBSSH2_KNOWNHOSTS, decltype(&libssh2_knownhost_free)> kh_guard(kh, libssh2_knownhost_free);
  bool have_file = !target_.known_hosts.empty() && ::access(target_.known_hosts.c_str(), F_OK) == 0;
  if (have_file && libssh2_knownhost_readfile(kh, target_.known_hosts.c_str(), LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0)
    throw SshError(Kind::HostKey, fmt::format("{}: cannot read known_hosts {}: {}", target_.name, target_.known_hosts,
                                              session_error(s)));
  std::string host_entry = target_.port == 22 ? target_.address : fmt::format("[{}]:{}", target_.address, target_.port);
  std::string methods;
  for (libssh2_knownhost *entry = nullptr, *prev = nullptr; libssh2_knownhost_get(kh, &entry, prev) == 0; prev = entry) {
    if (!entry->name || host_entry != entry->name) continue;
    const char* m = nullptr;
    switch (entry->typemask & LIBSSH2_KNOWNHOST_KEY_MASK) {
      case LIBSSH2_KNOWNHOST_KEY_ED25519: m = "ssh-ed25519"; break;
      case LIBSSH2_KNOWNHOST_KEY_ECDSA_256: m = "ecdsa-sha2-nistp256"; break;
      case LIBSSH2_KNOWNHOST_KEY_ECDSA_384: m = "ecdsa-sha2-nistp384"; break;
      case LIBSSH2_KNOWNHOST_KEY_ECDSA_521: m = "ecdsa-sha2-nistp521"; break;
      case LIBSSH2_KNOWNHOST_KEY_SSHRSA: m = "rsa-sha2-512,rsa-sha2-256,ssh-rsa"; break;
    }
    if (m && methods.find(m) == std::string::npos) methods += (methods.empty() ? "" : ",") + std::string(m);
  }
  if (!methods.empty()) libssh2_session_method_pref(s, LIBSSH2_METHOD_HOSTKEY, methods.c_str());
  if (libssh2_session_handshake(s, impl->fd) != 0)
    throw SshError(methods.empty() ? Kind::Connect : Kind::HostKey,
                   fmt::format("{}: SSH handshake with {}:{} failed{}: {}", target_.name, target_.address, target_.port,
                               methods.empty() ? "" : " (known_hosts allows only " + methods + ")", session_error(s)));

  // The host key, against known_hosts, before any credential is offered.
  size_t key_len = 0;
  int key_type = 0;
  const char* key = libssh2_session_hostkey(s, &key_len, &key_type);
  std::string offered = fingerprint(std::string(key, key_len));
  int mask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | knownhost_key_type(key_type);
  libssh2_knownhost* found = nullptr;
  int check = libssh2_knownhost_checkp(kh, target_.address.c_str(), target_.port, key, key_len, mask, &found);
  if (check == LIBSSH2_KNOWNHOST_CHECK_NOTFOUND && !methods.empty()) check = LIBSSH2_KNOWNHOST_CHECK_MISMATCH;
  if (check == LIBSSH2_KNOWNHOST_CHECK_MISMATCH) {
    std::string known = found && found->key ? fingerprint(unbase64(found->key)) : "(unreadable)";
    throw SshError(Kind::HostKey,
                   fmt::format("{}: the host key of {}:{} does not match known_hosts ({}): it offers {}, known_hosts "
                               "has {}. Someone may be in between, or the host was reinstalled: check it out of band, "
                               "then fix the entry",
                               target_.name, target_.address, target_.port, target_.known_hosts, offered, known));
  }
  if (check != LIBSSH2_KNOWNHOST_CHECK_MATCH) {
    if (!target_.accept_new_host_key)
      throw SshError(Kind::HostKey,
                     fmt::format("{}: the host key of {}:{} is not in known_hosts ({}); it offers {}. Add it after "
                                 "checking it out of band (ssh-keyscan), or set accept_new_host_key: true",
                                 target_.name, target_.address, target_.port,
                                 target_.known_hosts.empty() ? "none given" : target_.known_hosts, offered));
    libssh2_knownhost* added = nullptr;
    libssh2_knownhost_addc(kh, host_entry.c_str(), nullptr, key, key_len, nullptr, 0, mask, &added);
    if (!target_.known_hosts.empty() && added) {
      // Append the one new line under a lock (loop threads may add at once).
      char line[8192];
      size_t len = 0;
      if (libssh2_knownhost_writeline(kh, added, line, sizeof line, &len, LIBSSH2_KNOWNHOST_FILE_OPENSSH) == 0) {
        int fd = ::open(target_.known_hosts.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
          ::flock(fd, LOCK_EX);
          ssize_t w = ::write(fd, line, len);
          (void)w;
          ::fsync(fd);
          ::close(fd);
        }
      }
    }
  }

  // Credentials: the key file, else ssh-agent, else a password if allowed.
  const std::string& user = target_.user;
  bool ok = false;
  std::string tried;
  if (!target_.key_file.empty()) {
    tried = "key " + target_.key_file;
    ok = libssh2_userauth_publickey_fromfile_ex(s, user.c_str(), static_cast<unsigned>(user.size()), nullptr,
                                                target_.key_file.c_str(),
                                                target_.key_passphrase.empty() ? nullptr : target_.key_passphrase.c_str()) == 0;
  } else {
    tried = "ssh-agent";
    LIBSSH2_AGENT* agent = libssh2_agent_init(s);
    if (agent && libssh2_agent_connect(agent) == 0 && libssh2_agent_list_identities(agent) == 0) {
      libssh2_agent_publickey* id = nullptr;
      for (libssh2_agent_publickey* prev = nullptr; !ok && libssh2_agent_get_identity(agent, &id, prev) == 0; prev = id)
        ok = libssh2_agent_userauth(agent, user.c_str(), id) == 0;
      libssh2_agent_disconnect(agent);
    }
    if (agent) libssh2_agent_free(agent);
  }
  if (!ok && !target_.password.empty()) {
    tried += " and a password";
    ok = libssh2_userauth_password(s, user.c_str(), target_.password.c_str()) == 0;
  }
  if (!ok)
    throw SshError(Kind::Auth, fmt::format("{}: {}@{}:{} refused the credentials ({})", target_.name, user,
                                           target_.address, target_.port, tried));
  libssh2_keepalive_config(s, 1, static_cast<unsigned>(target_.keepalive_seconds));
  libssh2_session_set_timeout(s, 0);
  libssh2_session_set_blocking(s, 0);
  impl_ = std::move(impl);
}

ExecResult SshSession::exec_now(const std::string& command, const ExecOptions& opts) {
  if (!impl_) connect();
  Impl& im = *impl_;
  LIBSSH2_SESSION* s = im.session;
  auto start = Clock::now();
  auto deadline = opts.timeout.count() > 0 ? start + opts.timeout : Clock::time_point::max();
  auto dropped = [&](const std::string& what) {
    impl_.reset();  // the next command reconnects
    return SshError(Kind::Dropped, fmt::format("{}: the connection dropped {}: {}", target_.name, what, command));
  };
  auto check_time = [&](LIBSSH2_CHANNEL* ch) {
    if (opts.should_stop && opts.should_stop()) {
      if (ch) libssh2_channel_free(ch);
      impl_.reset();
      throw SshError(Kind::Interrupted, fmt::format("{}: stopped while running: {}", target_.name, command));
    }
    if (Clock::now() > deadline) {
      if (ch) libssh2_channel_free(ch);
      impl_.reset();  // the remote command may still run: the session goes
      throw SshError(Kind::Timeout, fmt::format("{}: no end after {} ms: {}", target_.name, opts.timeout.count(), command));
    }
  };

  LIBSSH2_CHANNEL* ch = nullptr;
  while (!(ch = libssh2_channel_open_session(s))) {
    if (libssh2_session_last_errno(s) != LIBSSH2_ERROR_EAGAIN) throw dropped("before the command could start");
    check_time(nullptr);
    im.wait(100);
  }
  for (int rc; (rc = libssh2_channel_exec(ch, command.c_str())) != 0;) {
    if (rc != LIBSSH2_ERROR_EAGAIN) {
      libssh2_channel_free(ch);
      throw dropped("while starting the command");
    }
    check_time(ch);
    im.wait(100);
  }

  ExecResult result;
  std::string line[2];
  std::vector<char> in_buf(65536);
  size_t in_len = 0, in_off = 0;
  bool in_done = !opts.stdin_source;
  while (in_done && libssh2_channel_send_eof(ch) == LIBSSH2_ERROR_EAGAIN) {
    check_time(ch);
    im.wait(100);
  }
  char out_buf[65536];
  auto keep = [&](std::string& tail, const char* d, size_t n) {
    tail.append(d, n);
    if (tail.size() > opts.tail_bytes) tail.erase(0, tail.size() - opts.tail_bytes);
  };
  auto lines = [&](int which, const char* d, size_t n) {
    if (!opts.on_line) return;
    for (size_t i = 0; i < n; ++i) {
      if (d[i] == '\n') {
        opts.on_line(line[which], which == 1);
        line[which].clear();
      } else if (line[which].size() < 4096) {
        line[which] += d[i];
      }
    }
  };
  time_t next_keepalive = 0;
  while (true) {
    bool progress = false;
    // The command is gone (it ended or failed early): what it did not read
    // will never be read, so stop offering input.
    if (!in_done && libssh2_channel_eof(ch)) in_done = true;
    if (!in_done) {
      if (in_off == in_len) {
        in_len = opts.stdin_source(in_buf.data(), in_buf.size());
        in_off = 0;
        if (in_len == 0) {
          in_done = true;
          while (libssh2_channel_send_eof(ch) == LIBSSH2_ERROR_EAGAIN) {
            check_time(ch);
            im.wait(100);
          }
        }
      }
      if (in_off < in_len) {
        ssize_t n = libssh2_channel_write(ch, in_buf.data() + in_off, in_len - in_off);
        if (n > 0) {
          in_off += static_cast<size_t>(n);
          progress = true;
        } else if (n != LIBSSH2_ERROR_EAGAIN) {
          libssh2_channel_free(ch);
          throw dropped("while sending input");
        }
      }
    }
    for (int which = 0; which < 2; ++which) {
      ssize_t n = which == 0 ? libssh2_channel_read(ch, out_buf, sizeof out_buf)
                             : libssh2_channel_read_stderr(ch, out_buf, sizeof out_buf);
      if (n > 0) {
        progress = true;
        if (which == 0 && opts.on_stdout) opts.on_stdout(out_buf, static_cast<size_t>(n));
        else keep(which == 0 ? result.stdout_tail : result.stderr_tail, out_buf, static_cast<size_t>(n));
        if (!(which == 0 && opts.on_stdout)) lines(which, out_buf, static_cast<size_t>(n));
      } else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
        libssh2_channel_free(ch);
        throw dropped("while reading output");
      }
    }
    if (libssh2_channel_eof(ch) && in_done && !progress) break;
    if (!progress) {
      check_time(ch);
      int seconds = 0;
      if (std::time(nullptr) >= next_keepalive) {
        libssh2_keepalive_send(s, &seconds);
        next_keepalive = std::time(nullptr) + std::max(1, seconds);
      }
      im.wait(100);
    }
  }
  for (int which = 0; which < 2; ++which)
    if (!line[which].empty() && opts.on_line) opts.on_line(line[which], which == 1);
  while (libssh2_channel_close(ch) == LIBSSH2_ERROR_EAGAIN) {
    check_time(ch);
    im.wait(100);
  }
  while (libssh2_channel_wait_closed(ch) == LIBSSH2_ERROR_EAGAIN) {
    check_time(ch);
    im.wait(100);
  }
  result.exit_status = libssh2_channel_get_exit_status(ch);
  char* signal = nullptr;
  size_t signal_len = 0;
  libssh2_channel_get_exit_signal(ch, &signal, &signal_len, nullptr, nullptr, nullptr, nullptr);
  if (signal) {
    result.exit_signal.assign(signal, signal_len);
    libssh2_free(s, signal);
    result.exit_status = -1;
  }
  libssh2_channel_free(ch);
  return result;
}

void SshSession::forward(int fd, const std::string& host, int port, const std::function<bool()>& should_stop) {
  if (!impl_) connect();
  Impl& im = *impl_;
  LIBSSH2_SESSION* s = im.session;
  auto stopped = [&] { return should_stop && should_stop(); };
  LIBSSH2_CHANNEL* ch = nullptr;
  while (!(ch = libssh2_channel_direct_tcpip_ex(s, host.c_str(), port, "127.0.0.1", 0))) {
    int err = libssh2_session_last_errno(s);
    if (err != LIBSSH2_ERROR_EAGAIN) {
      std::string why = session_error(s);
      if (err != LIBSSH2_ERROR_CHANNEL_FAILURE) impl_.reset();
      throw SshError(Kind::Channel, fmt::format("{}: cannot open a tunnel to {}:{} through {}:{}: {} (does the "
                                                "host's sshd allow TCP forwarding, and does {} answer there?)",
                                                target_.name, host, port, target_.address, target_.port, why, host));
    }
    if (stopped()) return;
    im.wait(100);
  }
  std::unique_ptr<LIBSSH2_CHANNEL, decltype(&libssh2_channel_free)> guard(ch, libssh2_channel_free);
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);

  // Two one-way pumps; each side's bytes wait in a buffer until the other
  // side takes them, so neither end is read faster than the other drains.
  std::vector<char> up(65536), down(65536);
  size_t up_len = 0, up_off = 0, down_len = 0, down_off = 0;
  bool local_eof = false, remote_eof = false;
  time_t next_keepalive = 0;
  while (!stopped()) {
    bool progress = false;
    if (up_off == up_len && !local_eof) {
      ssize_t n = ::read(fd, up.data(), up.size());
      if (n > 0) {
        up_len = static_cast<size_t>(n);
        up_off = 0;
        progress = true;
      } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        local_eof = true;
      }
    }
    if (up_off < up_len) {
      ssize_t n = libssh2_channel_write(ch, up.data() + up_off, up_len - up_off);
      if (n > 0) {
        up_off += static_cast<size_t>(n);
        progress = true;
      } else if (n != LIBSSH2_ERROR_EAGAIN) {
        break;
      }
    }
    if (down_off == down_len && !remote_eof) {
      ssize_t n = libssh2_channel_read(ch, down.data(), down.size());
      if (n > 0) {
        down_len = static_cast<size_t>(n);
        down_off = 0;
        progress = true;
      } else if ((n == 0 || n == LIBSSH2_ERROR_EAGAIN) && libssh2_channel_eof(ch)) {
        remote_eof = true;
      } else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
        remote_eof = true;
      }
    }
    if (down_off < down_len) {
      ssize_t n = ::write(fd, down.data() + down_off, down_len - down_off);
      if (n > 0) {
        down_off += static_cast<size_t>(n);
        progress = true;
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        break;  // the local client went away
      }
    }
    // Either end closing ends the connection once what it sent is passed on.
    if ((local_eof && up_off == up_len) || (remote_eof && down_off == down_len)) break;
    if (!progress) {
      int seconds = 0;
      if (std::time(nullptr) >= next_keepalive) {
        libssh2_keepalive_send(s, &seconds);
        next_keepalive = std::time(nullptr) + std::max(1, seconds);
      }
      int dir = libssh2_session_block_directions(s);
      pollfd p[2] = {{im.fd, 0, 0}, {fd, 0, 0}};
      p[0].events = static_cast<short>(((dir & LIBSSH2_SESSION_BLOCK_OUTBOUND) ? POLLOUT : 0) | POLLIN);
      if (up_off == up_len && !local_eof) p[1].events |= POLLIN;
      if (down_off < down_len) p[1].events |= POLLOUT;
      ::poll(p, p[1].events ? 2 : 1, 100);
    }
  }
  libssh2_channel_send_eof(ch);
  libssh2_channel_close(ch);
}

ExecResult SshSession::exec(const std::string& command, const ExecOptions& opts) {
  Operation op;
  op.kind = Operation::Kind::Command;
  op.writes = opts.writes;
  op.where = target_.name;
  op.line = command;
  if (!opts.shown_input.empty()) op.detail.push_back(opts.shown_input);
  ExecResult r;
  if (perform_operation(opts.runner, op, [&] { r = exec_now(command, opts); })) return r;
  if (!op.writes) throw RehearsalUnknown(target_.name + ": " + command);
  r.exit_status = 0;  // a write not made answers as it does on success
  r.rehearsed = true;
  return r;
}

}  // namespace she
