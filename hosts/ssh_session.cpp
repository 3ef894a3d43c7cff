#include "hosts/ssh_session.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <libssh2.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <type_traits>
#include <unistd.h>
#include <vector>

#include "base/interrupted.h"

namespace she {

namespace {

using Clock = std::chrono::steady_clock;
using Kind = SshError::Kind;

// A channel's receive window, and the size of the buffers a command's
// input and output stream through: transfers move data in these runs.
constexpr unsigned kChannelWindow = 16u << 20;
/// How many channels closed early may await the server's answer at once:
/// more, and the server is not answering closes; the session goes.
constexpr size_t kMostClosing = 4;
constexpr size_t kStreamBuffer = 256 * 1024;

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

/// What the first string of an SSH key blob says: "ssh-ed25519", "ssh-rsa"...
std::string blob_key_type(const std::string& blob) {
  if (blob.size() < 4) return "unknown";
  size_t n = (static_cast<unsigned char>(blob[0]) << 24) | (static_cast<unsigned char>(blob[1]) << 16) |
             (static_cast<unsigned char>(blob[2]) << 8) | static_cast<unsigned char>(blob[3]);
  if (n == 0 || n > 64 || blob.size() < 4 + n) return "unknown";
  return blob.substr(4, n);
}

/// The knownhost key types libssh2 can check, with the handshake's host-key
/// methods each allows.
struct KnownType {
  int mask;
  const char* methods;
};
const KnownType kKnownTypes[] = {
    {LIBSSH2_KNOWNHOST_KEY_ED25519, "ssh-ed25519"},
    {LIBSSH2_KNOWNHOST_KEY_ECDSA_256, "ecdsa-sha2-nistp256"},
    {LIBSSH2_KNOWNHOST_KEY_ECDSA_384, "ecdsa-sha2-nistp384"},
    {LIBSSH2_KNOWNHOST_KEY_ECDSA_521, "ecdsa-sha2-nistp521"},
    {LIBSSH2_KNOWNHOST_KEY_SSHRSA, "rsa-sha2-512,rsa-sha2-256,ssh-rsa"},
    {LIBSSH2_KNOWNHOST_KEY_SSHDSS, nullptr},  // checked, never negotiated
};

int knownhost_key_type(const std::string& type) {
  if (type == "ssh-ed25519") return LIBSSH2_KNOWNHOST_KEY_ED25519;
  if (type == "ecdsa-sha2-nistp256") return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
  if (type == "ecdsa-sha2-nistp384") return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
  if (type == "ecdsa-sha2-nistp521") return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
  if (type == "ssh-rsa") return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
  if (type == "ssh-dss") return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
  return -1;
}

std::string session_error(LIBSSH2_SESSION* s) {
  char* msg = nullptr;
  libssh2_session_last_error(s, &msg, nullptr, 0);
  return msg && *msg ? msg : "unknown error";
}

bool is_socket_error(int rc) {
  return rc == LIBSSH2_ERROR_SOCKET_DISCONNECT || rc == LIBSSH2_ERROR_SOCKET_RECV || rc == LIBSSH2_ERROR_SOCKET_SEND ||
         rc == LIBSSH2_ERROR_BANNER_RECV || rc == LIBSSH2_ERROR_BANNER_SEND;
}

/// Throws Interrupted when `should_stop` says so, the connect timeout once
/// `deadline` has passed: the check of every wait while connecting.
struct ConnectClock {
  const SshTarget& t;
  const std::function<bool()>& should_stop;
  Clock::time_point deadline;
  void check(const char* during) const {
    if (should_stop && should_stop())
      throw Interrupted(fmt::format("{}: stopped while connecting to {}:{} ({})", t.name, t.address, t.port, during));
    if (Clock::now() > deadline)
      throw SshError(Kind::Connect, fmt::format("{}: {}:{} timed out after {} ms ({}): the host or its sshd is not "
                                                "answering, or something in between drops the connection",
                                                t.name, t.address, t.port, t.connect_timeout.count(), during));
  }
};

/// A TCP connection, with a timeout on the connect itself. Each failure
/// says what it was: no such name, refused, unreachable, timed out.
int tcp_connect(const SshTarget& t, const ConnectClock& clock) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(t.address.c_str(), std::to_string(t.port).c_str(), &hints, &res); rc != 0)
    throw SshError(Kind::Connect, fmt::format("{}: cannot connect: cannot resolve the address {} ({}): check the "
                                              "host's address in the environment and DNS",
                                              t.name, t.address, gai_strerror(rc)));
  std::string last = "no address";
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    int err = rc == 0 ? 0 : errno;
    if (rc != 0 && err == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      // In slices, so that a stop is seen while a silent host is waited for.
      while ((rc = ::poll(&p, 1, 100)) == 0 && Clock::now() < clock.deadline && !(clock.should_stop && clock.should_stop())) {
      }
      if (rc == 0 && clock.should_stop && clock.should_stop()) {
        ::close(fd);
        freeaddrinfo(res);
        clock.check("connecting");
      }
      err = 0;
      socklen_t len = sizeof err;
      if (rc == 1) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      else err = rc == 0 ? ETIMEDOUT : errno;
      rc = rc == 1 && err == 0 ? 0 : -1;
    }
    if (rc == 0) {
      fcntl(fd, F_SETFL, flags);
      // A command is a few small packets each way (channel open, exec,
      // EOF, close): with Nagle each waited for the peer's delayed ACK,
      // ~40 ms a command on top of the command itself.
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      freeaddrinfo(res);
      return fd;
    }
    switch (err) {
      case ECONNREFUSED: last = "connection refused (nothing listens there: is sshd running, is the port right?)"; break;
      case ETIMEDOUT:
        last = fmt::format("timed out after {} ms (the host is down, or a firewall drops the connection)",
                           t.connect_timeout.count());
        break;
      case EHOSTUNREACH:
      case ENETUNREACH:
      case EADDRNOTAVAIL:
        last = fmt::format("the address is unreachable ({}): check the host's address and the network",
                           std::strerror(err));
        break;
      default: last = std::strerror(err);
    }
    ::close(fd);
  }
  freeaddrinfo(res);
  throw SshError(Kind::Connect, fmt::format("{}: cannot connect to {}:{}: {}", t.name, t.address, t.port, last));
}

/// Whether a key of `type` may be negotiated under `methods` (a
/// comma-separated host-key method list; RSA keys sign as rsa-sha2-*).
bool method_allowed(const std::string& methods, const std::string& type) {
  std::string list = "," + methods + ",";
  if (type == "ssh-rsa") return list.find(",ssh-rsa,") != std::string::npos || list.find(",rsa-sha2-") != std::string::npos;
  return list.find("," + type + ",") != std::string::npos;
}

/// base64 with its padding, as known_hosts lines carry keys.
std::string base64_padded(const std::string& blob) {
  std::string out = base64(reinterpret_cast<const unsigned char*>(blob.data()), blob.size());
  while (out.size() % 4) out += '=';
  return out;
}

}  // namespace

std::string SshError::error_class() const {
  switch (kind_) {
    case Kind::Connect:
    case Kind::Dropped: return "transport";
    case Kind::Timeout: return "timeout";
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

  Impl() {
    session = libssh2_session_init();
    if (!session) throw SshError(Kind::Connect, "cannot start an SSH session (libssh2_session_init failed)");
    libssh2_session_set_blocking(session, 0);
  }
  ~Impl() {
    if (session) {
      // A dead or stuck peer must not hold the disconnect forever.
      libssh2_session_set_timeout(session, 2000);
      libssh2_session_set_blocking(session, 1);
      if (fd >= 0) libssh2_session_disconnect(session, "she-restore done");
      libssh2_session_free(session);
    }
    if (fd >= 0) ::close(fd);
  }

  /// Waits (at most `timeout_ms`) until the socket is ready in the
  /// direction libssh2 needs, or, when pumping `other` too, until either
  /// side has something (the peer may send at any time then).
  void wait(int timeout_ms, pollfd* other = nullptr) {
    // sshd sets TCP_NODELAY only for sessions with a terminal: without
    // one, each packet it sends after a first unacknowledged one (a forwarded
    // reply's second TLS record, a command's exit status after its output)
    // waits for our ACK, which the kernel delays up to 40 ms unless asked
    // not to. The kernel drops quick-ACK mode on its own, so it is asked
    // again before every wait.
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    int dir = libssh2_session_block_directions(session);
    pollfd p[2] = {{fd, 0, 0}, other ? *other : pollfd{-1, 0, 0}};
    if (dir & LIBSSH2_SESSION_BLOCK_INBOUND) p[0].events |= POLLIN;
    if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND) p[0].events |= POLLOUT;
    if (other || !p[0].events) p[0].events |= POLLIN;
    ::poll(p, other && other->events ? 2 : 1, timeout_ms);
  }

  /// The one EAGAIN loop of this file: a libssh2 call on this non-blocking
  /// session, retried after waiting for the socket while it would block.
  /// `go_on` is asked before each wait: it throws (stopped, timed out) or
  /// returns false to give up, and the would-block result is returned.
  template <class Call, class GoOn>
  auto again(Call&& call, GoOn&& go_on) -> decltype(call()) {
    while (true) {
      auto r = call();
      bool would_block;
      if constexpr (std::is_pointer_v<decltype(r)>)
        would_block = !r && libssh2_session_last_errno(session) == LIBSSH2_ERROR_EAGAIN;
      else
        would_block = r == LIBSSH2_ERROR_EAGAIN;
      if (!would_block || !go_on()) return r;
      wait(100);
    }
  }

  /// TCP, then the SSH handshake, its host-key methods limited to
  /// `methods` when given. The handshake's result: 0 when it went through.
  int handshake(const SshTarget& t, const ConnectClock& clock, const std::string& methods) {
    fd = tcp_connect(t, clock);
    if (!methods.empty()) libssh2_session_method_pref(session, LIBSSH2_METHOD_HOSTKEY, methods.c_str());
    return again([&] { return libssh2_session_handshake(session, fd); },
                 [&] { return clock.check("SSH handshake"), true; });
  }

  /// Channels closed early (a followed log read to its marker) whose close
  /// the server has not answered yet. sshd answers only once the command
  /// has ended (at its next write into the closed output), which the
  /// caller does not wait for: each is freed once its answer came in,
  /// while the session carries the next commands.
  std::vector<LIBSSH2_CHANNEL*> closing;

  /// Frees the closing channels the server has answered; false when too
  /// many are still unanswered.
  bool settle_closing() {
    for (auto it = closing.begin(); it != closing.end();) {
      if (libssh2_channel_close(*it) == LIBSSH2_ERROR_EAGAIN) {
        ++it;
        continue;
      }
      libssh2_channel_free(*it);
      it = closing.erase(it);
    }
    return closing.size() <= kMostClosing;
  }

  std::string host_key() const {
    size_t len = 0;
    int type = 0;
    const char* key = libssh2_session_hostkey(session, &len, &type);
    return key ? std::string(key, len) : std::string();
  }
};

SshSession::SshSession(SshTarget target) : target_(std::move(target)) {
  static const bool init = libssh2_init(0) == 0;
  (void)init;
}

SshSession::~SshSession() = default;

void SshSession::disconnect() { impl_.reset(); }

namespace {

using KnownHosts = std::unique_ptr<LIBSSH2_KNOWNHOSTS, decltype(&libssh2_knownhost_free)>;

/// known_hosts as the file says now (a file not there yet is empty).
KnownHosts read_known_hosts(LIBSSH2_SESSION* s, const SshTarget& t, bool* exists) {
  KnownHosts kh(libssh2_knownhost_init(s), libssh2_knownhost_free);
  if (!kh) throw SshError(Kind::HostKey, fmt::format("{}: cannot start a known_hosts check", t.name));
  *exists = ::access(t.known_hosts.c_str(), F_OK) == 0;
  if (*exists && libssh2_knownhost_readfile(kh.get(), t.known_hosts.c_str(), LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0)
    throw SshError(Kind::HostKey, fmt::format("{}: cannot read known_hosts {}: {} (one line it cannot parse stops "
                                              "the reading: fix or remove it)",
                                              t.name, t.known_hosts, session_error(s)));
  return kh;
}

/// Checks `key` of the host against every entry of it, plain or hashed
/// (`|1|salt|hash`), of every key type. MATCH, MISMATCH (with the entry
/// it contradicts in *known) or NOTFOUND (the host is in no entry).
int check_host_key(LIBSSH2_KNOWNHOSTS* kh, const SshTarget& t, const std::string& key, std::string* known) {
  const int base = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW;
  // First the key's own type, so that a mismatch shows the entry of that
  // type; then any type (0: libssh2 compares the host's every entry).
  int types[2] = {knownhost_key_type(blob_key_type(key)), 0};
  for (int type : types) {
    if (type < 0) continue;
    libssh2_knownhost* found = nullptr;
    int rc = libssh2_knownhost_checkp(kh, t.address.c_str(), t.port, key.data(), key.size(), base | type, &found);
    if (rc == LIBSSH2_KNOWNHOST_CHECK_MATCH) return rc;
    if (rc == LIBSSH2_KNOWNHOST_CHECK_MISMATCH) {
      std::string blob = found && found->key ? unbase64(found->key) : std::string();
      *known = blob.empty() ? "(unreadable)" : SshSession::fingerprint(blob) + " (" + blob_key_type(blob) + ")";
      return rc;
    }
  }
  return LIBSSH2_KNOWNHOST_CHECK_NOTFOUND;
}

/// The host-key methods of every key type known_hosts has for the host,
/// plain or hashed: the handshake may settle on no other, or a host (or
/// someone in between) could offer another type and pass for "unknown".
std::string known_methods(LIBSSH2_KNOWNHOSTS* kh, const SshTarget& t) {
  std::string methods;
  const char probe[] = "she-restore: no key is this";
  for (const auto& kt : kKnownTypes) {
    libssh2_knownhost* found = nullptr;
    int rc = libssh2_knownhost_checkp(kh, t.address.c_str(), t.port, probe, sizeof probe - 1,
                                      LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | kt.mask, &found);
    if (rc == LIBSSH2_KNOWNHOST_CHECK_MISMATCH && kt.methods)
      methods += (methods.empty() ? "" : ",") + std::string(kt.methods);
  }
  return methods;
}

}  // namespace

SshSession::KnownHostsReading SshSession::read_known_hosts_file(const std::string& path,
                                                                const std::vector<std::pair<std::string, int>>& hosts) {
  static const bool init = libssh2_init(0) == 0;
  (void)init;
  KnownHostsReading out;
  // libssh2 keeps known_hosts per session; this one never connects.
  std::unique_ptr<LIBSSH2_SESSION, int (*)(LIBSSH2_SESSION*)> s(libssh2_session_init(), libssh2_session_free);
  KnownHosts kh(s ? libssh2_knownhost_init(s.get()) : nullptr, libssh2_knownhost_free);
  if (!kh) {
    out.error = "cannot start a known_hosts check";
    return out;
  }
  if (libssh2_knownhost_readfile(kh.get(), path.c_str(), LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
    out.error = session_error(s.get());
    return out;
  }
  for (size_t i = 0; i < hosts.size(); ++i) {
    SshTarget t;
    t.address = hosts[i].first;
    t.port = hosts[i].second;
    out.methods.push_back(known_methods(kh.get(), t));
    if (out.methods.back().empty()) out.unknown.push_back(i);
  }
  return out;
}

std::string SshSession::known_host_key_methods(const SshTarget& t) {
  KnownHostsReading r = read_known_hosts_file(t.known_hosts, {{t.address, t.port}});
  return r.error.empty() ? r.methods.front() : std::string();
}

void SshSession::connect(const std::function<bool()>& should_stop) {
  const SshTarget& t = target_;
  if (t.known_hosts.empty())
    throw SshError(Kind::HostKey, fmt::format("{}: no known_hosts file is set for {}:{}, so its host key cannot be "
                                              "checked: set ssh.known_hosts (with accept_new_host_key: true a host "
                                              "not yet in it is added)",
                                              t.name, t.address, t.port));
  ConnectClock clock{t, should_stop, Clock::now() + t.connect_timeout};
  auto impl = std::make_unique<Impl>();
  LIBSSH2_SESSION* s = impl->session;
  bool file_exists = false;
  KnownHosts kh = read_known_hosts(s, t, &file_exists);
  std::string host_entry = t.port == 22 ? t.address : fmt::format("[{}]:{}", t.address, t.port);
  std::string methods = known_methods(kh.get(), t);

  auto mismatch = [&](const std::string& key, const std::string& known, const std::string& note) {
    return SshError(Kind::HostKey,
                    fmt::format("{}: the host key of {}:{} does not match known_hosts ({}){}: it offers {} ({}), "
                                "known_hosts has {}. Someone may be in between, or the host was reinstalled: check it "
                                "out of band, then fix the entry",
                                t.name, t.address, t.port, t.known_hosts, note, fingerprint(key), blob_key_type(key),
                                known));
  };

  int rc = impl->handshake(t, clock, methods);
  if (rc == LIBSSH2_ERROR_KEX_FAILURE && !methods.empty()) {
    // A key exchange held to known_hosts' key types failed. libssh2 says
    // the same whatever the cause (no key of those types, no answer in
    // time, a peer that hung up), so a key-type mismatch is claimed only on
    // evidence: the host fails again held to those types, and without the
    // limit offers a key of another type (a handshake only: no credential
    // is offered). A second attempt that goes through is simply used.
    auto again = std::make_unique<Impl>();
    if (again->handshake(t, clock, methods) == 0) {
      impl = std::move(again);
      s = impl->session;
      rc = 0;
    } else {
      std::string offered, known;
      try {
        Impl probe;
        if (probe.handshake(t, clock, "") == 0) offered = probe.host_key();
      } catch (const SshError&) {
        // The probe is evidence only; the handshake's own failure is reported.
      }
      if (!offered.empty() && !method_allowed(methods, blob_key_type(offered)) &&
          check_host_key(kh.get(), t, offered, &known) == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
        throw mismatch(offered, known, " (known_hosts allows only " + methods + ")");
    }
  }
  if (rc != 0) {
    std::string why = session_error(s);
    if (is_socket_error(rc))
      throw SshError(Kind::Connect, fmt::format("{}: {}:{} closed the connection during the SSH handshake ({}): is an "
                                                "sshd listening there, and does it accept this client?",
                                                t.name, t.address, t.port, why));
    throw SshError(Kind::Connect, fmt::format("{}: the SSH handshake with {}:{} failed: {}{}", t.name, t.address,
                                              t.port, why,
                                              rc == LIBSSH2_ERROR_KEX_FAILURE ? " (no key exchange or cipher in common?)"
                                                                              : ""));
  }

  // The host key, against known_hosts, before any credential is offered.
  std::string key = impl->host_key();
  std::string known;
  int check = check_host_key(kh.get(), t, key, &known);
  if (check == LIBSSH2_KNOWNHOST_CHECK_MISMATCH) throw mismatch(key, known, "");
  if (check != LIBSSH2_KNOWNHOST_CHECK_MATCH) {
    if (!t.accept_new_host_key)
      throw SshError(Kind::HostKey,
                     fmt::format("{}: the host key of {}:{} is not in known_hosts ({}{}); it offers {} ({}). Add it "
                                 "after checking it out of band (ssh-keyscan), or set accept_new_host_key: true",
                                 t.name, t.address, t.port, t.known_hosts, file_exists ? "" : ", which does not exist",
                                 fingerprint(key), blob_key_type(key)));
    record_host_key(host_entry, key);
  }

  // Credentials: the key file, else ssh-agent, else a password if allowed.
  auto go_on = [&] { return clock.check("authentication"), true; };
  const std::string& user = t.user;
  bool ok = false;
  std::string tried, why;
  auto result = [&](int rc) {
    if (is_socket_error(rc))
      throw SshError(Kind::Dropped, fmt::format("{}: {}:{} closed the connection during authentication ({})", t.name,
                                                t.address, t.port, session_error(s)));
    if (rc != 0) why += (why.empty() ? "" : "; ") + session_error(s);
    return rc == 0;
  };
  if (!t.key_file.empty()) {
    tried = "key " + t.key_file;
    ok = result(impl->again(
        [&] {
          return libssh2_userauth_publickey_fromfile_ex(s, user.c_str(), static_cast<unsigned>(user.size()), nullptr,
                                                        t.key_file.c_str(),
                                                        t.key_passphrase.empty() ? nullptr : t.key_passphrase.c_str());
        },
        go_on));
  } else {
    tried = "ssh-agent";
    LIBSSH2_AGENT* agent = libssh2_agent_init(s);
    if (agent && libssh2_agent_connect(agent) == 0 && libssh2_agent_list_identities(agent) == 0) {
      libssh2_agent_publickey* id = nullptr;
      for (libssh2_agent_publickey* prev = nullptr; !ok && libssh2_agent_get_identity(agent, &id, prev) == 0; prev = id)
        ok = result(impl->again([&] { return libssh2_agent_userauth(agent, user.c_str(), id); }, go_on));
      libssh2_agent_disconnect(agent);
    } else {
      why += "no ssh-agent to ask (SSH_AUTH_SOCK)";
    }
    if (agent) libssh2_agent_free(agent);
  }
  if (!ok && !t.password.empty()) {
    tried += " and a password";
    ok = result(impl->again([&] { return libssh2_userauth_password(s, user.c_str(), t.password.c_str()); }, go_on));
  }
  if (!ok)
    throw SshError(Kind::Auth, fmt::format("{}: authentication failed: {}@{}:{} refused the credentials ({}: {})",
                                           t.name, user, t.address, t.port, tried, why));
  libssh2_keepalive_config(s, 1, static_cast<unsigned>(t.keepalive_seconds));
  impl_ = std::move(impl);
}

void SshSession::record_host_key(const std::string& host_entry, const std::string& key) {
  const SshTarget& t = target_;
  auto failed = [&](const char* what, int err) {
    return SshError(Kind::HostKey,
                    fmt::format("{}: cannot record the host key of {}:{} ({}) in known_hosts {}: {} failed: {}. Nothing "
                                "was sent to the host; make the file writable, or add the key yourself (ssh-keyscan)",
                                t.name, t.address, t.port, fingerprint(key), t.known_hosts, what, std::strerror(err)));
  };
  // One line appended under a lock (loop threads may add at once), in the
  // form OpenSSH writes: "[addr]:port type base64" ("addr ..." on port 22).
  int fd = ::open(t.known_hosts.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw failed("opening it", errno);
  std::unique_ptr<int, void (*)(int*)> guard(&fd, [](int* f) {
    if (*f >= 0) ::close(*f);
  });
  if (::flock(fd, LOCK_EX) != 0) throw failed("locking it", errno);
  // Another thread or process may have added it meanwhile: check again.
  LIBSSH2_SESSION* s = libssh2_session_init();
  std::unique_ptr<LIBSSH2_SESSION, int (*)(LIBSSH2_SESSION*)> s_guard(s, libssh2_session_free);
  bool exists = false;
  KnownHosts kh = read_known_hosts(s, t, &exists);
  std::string known;
  int check = check_host_key(kh.get(), t, key, &known);
  if (check == LIBSSH2_KNOWNHOST_CHECK_MATCH) return;
  if (check == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
    throw SshError(Kind::HostKey, fmt::format("{}: the host key of {}:{} does not match known_hosts ({}): it offers {} "
                                              "({}), known_hosts has {} (added meanwhile). Check it out of band",
                                              t.name, t.address, t.port, t.known_hosts, fingerprint(key),
                                              blob_key_type(key), known));
  std::string line = host_entry + " " + blob_key_type(key) + " " + base64_padded(key) + "\n";
  struct stat st {};
  char last = '\n';
  if (::fstat(fd, &st) == 0 && st.st_size > 0 && ::pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n')
    line = "\n" + line;  // the file's last line had no end
  for (size_t off = 0; off < line.size();) {
    ssize_t n = ::write(fd, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw failed("writing to it", n < 0 ? errno : EIO);
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) throw failed("syncing it", errno);
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) throw failed("closing it", errno);
}

ExecResult SshSession::exec_now(const std::string& command, const ExecOptions& opts) {
  const bool kept = impl_ != nullptr;  // a session from before, which may have died meanwhile
  if (impl_ && !impl_->settle_closing()) impl_.reset();
  if (!impl_) connect(opts.should_stop);
  Impl* imp = impl_.get();
  LIBSSH2_SESSION* s = imp->session;
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
      throw Interrupted(fmt::format("{}: stopped while running: {}", target_.name, command));
    }
    if (Clock::now() > deadline) {
      if (ch) libssh2_channel_free(ch);
      impl_.reset();  // the remote command may still run: the session goes
      throw SshError(Kind::Timeout, fmt::format("{}: no end after {} ms: {}", target_.name, opts.timeout.count(), command));
    }
  };
  LIBSSH2_CHANNEL* ch = nullptr;
  auto go_on = [&] { return check_time(ch), true; };

  // A wide window keeps the peer sending while this side is busy with
  // crypto; packets stay at the default 32 KiB, the most libssh2 accepts.
  static const char kSession[] = "session";
  auto open_channel = [&] {
    return imp->again([&] { return libssh2_channel_open_ex(s, kSession, sizeof kSession - 1, kChannelWindow,
                                                            LIBSSH2_CHANNEL_PACKET_DEFAULT, nullptr, 0); },
                      go_on);
  };
  ch = open_channel();
  if (!ch && kept) {
    // A kept session that cannot open a channel has died since its last
    // command (the host rebooted, say). The command has not started, so a
    // new connection carries it; nothing can happen twice.
    impl_.reset();
    connect(opts.should_stop);
    imp = impl_.get();
    s = imp->session;
    ch = open_channel();
  }
  if (!ch) throw dropped("before the command could start");
  if (imp->again([&] { return libssh2_channel_exec(ch, command.c_str()); }, go_on) != 0) {
    libssh2_channel_free(ch);
    throw dropped("while starting the command");
  }

  ExecResult result;
  std::string line[2];
  // Uninitialised: a page is mapped when first written, so a short
  // command's buffers cost a few pages, not half a megabyte zeroed.
  std::unique_ptr<char[]> in_buf(opts.stdin_source ? new char[kStreamBuffer] : nullptr);
  size_t in_len = 0, in_off = 0;
  bool in_done = !opts.stdin_source;
  if (in_done) imp->again([&] { return libssh2_channel_send_eof(ch); }, go_on);
  std::unique_ptr<char[]> out_owner(new char[kStreamBuffer]);
  char* out_buf = out_owner.get();
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
    // Input in runs of packets until the window or socket is full (each
    // libssh2 write sends one packet), then the output is read, which
    // also takes in the window adjustments that let more input go.
    for (size_t sent = 0; !in_done && sent < kStreamBuffer;) {
      if (in_off == in_len) {
        in_len = opts.stdin_source(in_buf.get(), kStreamBuffer);
        in_off = 0;
        if (in_len == 0) {
          in_done = true;
          imp->again([&] { return libssh2_channel_send_eof(ch); }, go_on);
          break;
        }
      }
      ssize_t n = libssh2_channel_write(ch, in_buf.get() + in_off, in_len - in_off);
      if (n == LIBSSH2_ERROR_EAGAIN) break;
      if (n < 0) {
        libssh2_channel_free(ch);
        throw dropped("while sending input");
      }
      in_off += static_cast<size_t>(n);
      sent += static_cast<size_t>(n);
      progress = true;
    }
    for (int which = 0; which < 2; ++which) {
      ssize_t n = which == 0 ? libssh2_channel_read(ch, out_buf, kStreamBuffer)
                             : libssh2_channel_read_stderr(ch, out_buf, kStreamBuffer);
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
    if (progress && opts.enough && opts.enough()) {
      result.cut_short = true;
      break;
    }
    if (libssh2_channel_eof(ch) && in_done && !progress) break;
    if (!progress) {
      check_time(ch);
      int seconds = 0;
      if (std::time(nullptr) >= next_keepalive) {
        libssh2_keepalive_send(s, &seconds);
        next_keepalive = std::time(nullptr) + std::max(1, seconds);
      }
      imp->wait(100);
    }
  }
  for (int which = 0; which < 2; ++which)
    if (!line[which].empty() && opts.on_line) opts.on_line(line[which], which == 1);
  if (result.cut_short) {
    // The close goes now and closes the command's output (its next write
    // ends it); the server's answer is taken in later (settle_closing).
    imp->closing.push_back(ch);
    if (!imp->settle_closing()) impl_.reset();
    return result;
  }
  imp->again([&] { return libssh2_channel_close(ch); }, go_on);
  imp->again([&] { return libssh2_channel_wait_closed(ch); }, go_on);
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
  if (!impl_) connect(should_stop);
  Impl& im = *impl_;
  LIBSSH2_SESSION* s = im.session;
  auto stopped = [&] { return should_stop && should_stop(); };
  LIBSSH2_CHANNEL* ch =
      im.again([&] { return libssh2_channel_direct_tcpip_ex(s, host.c_str(), port, "127.0.0.1", 0); },
               [&] { return !stopped(); });
  if (!ch) {
    int err = libssh2_session_last_errno(s);
    if (err == LIBSSH2_ERROR_EAGAIN) return;  // stopped
    std::string why = session_error(s);
    if (err != LIBSSH2_ERROR_CHANNEL_FAILURE) impl_.reset();
    throw SshError(Kind::Channel, fmt::format("{}: cannot open a tunnel to {}:{} through {}:{}: {} (does the "
                                              "host's sshd allow TCP forwarding, and does {} answer there?)",
                                              target_.name, host, port, target_.address, target_.port, why, host));
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
      pollfd local{fd, 0, 0};
      if (up_off == up_len && !local_eof) local.events |= POLLIN;
      if (down_off < down_len) local.events |= POLLOUT;
      im.wait(100, &local);
    }
  }
  // Closed to the end, so that the session can carry the next connection;
  // a peer that does not answer the close within 5 s takes the session.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  auto go_on = [&] { return !stopped() && std::chrono::steady_clock::now() < give_up; };
  im.again([&] { return libssh2_channel_send_eof(ch); }, go_on);
  if (im.again([&] { return libssh2_channel_close(ch); }, go_on) == 0 &&
      im.again([&] { return libssh2_channel_free(ch); }, go_on) == 0) {
    guard.release();
    return;
  }
  guard.release();
  impl_.reset();  // the session goes, freeing its unfinished channel
}

ExecResult SshSession::exec(const std::string& command, const ExecOptions& opts) {
  Operation op(Operation::Kind::Command, opts.writes, target_.name, command);
  if (!opts.shown_input.empty()) op.detail.push_back(opts.shown_input);
  op.expects = opts.expects;
  ExecResult r;
  if (perform_operation(opts.runner, op, [&] { r = exec_now(command, opts); })) return r;
  if (!op.writes) throw RehearsalUnknown(target_.name + ": " + command);
  r.exit_status = 0;  // a write not made answers as it does on success
  r.rehearsed = true;
  return r;
}

}  // namespace she
