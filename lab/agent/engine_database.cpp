// The engine machine's PostgreSQL client side: the settings engine-setup
// writes (/etc/ovirt-engine/engine.conf.d/10-setup-database.conf) and the
// real client programs (pg_dump, pg_restore, psql) reaching a lab database
// server as this host would.
//
// The lab's servers all listen on loopback, where every connection would
// come from 127.0.0.1 and pg_hba.conf could not tell hosts apart. So the
// client programs connect to a relay (a Unix socket in a private temporary
// directory) that opens the TCP connection from this host's own address
// (the server side of SSH_CONNECTION): the server's pg_hba.conf then sees
// the engine host, and decides as it would in production. A database on
// this very host ("localhost") is reached from 127.0.0.1, as locally.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <thread>

#include "lab/agent/agent.h"
#include "lab/postgres_server.h"

namespace she::lab::agent {

namespace {

constexpr const char* kDbConf = "/etc/ovirt-engine/engine.conf.d/10-setup-database.conf";

std::string unquote(std::string v) {
  v = trim(v);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) ++i;
    out += v[i];
  }
  return out;
}

std::string quote(const std::string& v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\' || c == '$' || c == '`') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string own_address() {
  const char* c = std::getenv("SSH_CONNECTION");
  if (!c) return "127.0.0.1";
  std::istringstream in(c);
  std::string client, client_port, server;
  in >> client >> client_port >> server;
  return server.empty() ? "127.0.0.1" : server;
}

int connect_from(const std::string& source, const std::string& address, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &src.sin_addr);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, address.c_str(), &dst.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void pump(int a, int b) {
  char buf[16384];
  pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) break;
    bool done = false;
    for (int i = 0; i < 2 && !done; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        done = true;
        break;
      }
      for (ssize_t off = 0; off < n;) {
        const ssize_t w = ::write(fds[1 - i].fd, buf + off, static_cast<std::size_t>(n - off));
        if (w <= 0) {
          done = true;
          break;
        }
        off += w;
      }
    }
    if (done) break;
  }
  ::close(a);
  ::close(b);
}

struct Target {
  std::string address;
  int port = 0;
  std::string source;  // the client's address the server sees
};

/// Where `host` (as the engine names its database host) is in the lab.
bool resolve(const Agent& a, const std::string& host, Target* t, std::string* error) {
  std::string hostname;
  read_file(a.map("/etc/hostname"), &hostname);
  hostname = trim(hostname);
  if (host == "localhost" || host == "127.0.0.1" || host == hostname || host == a.host) {
    const PostgresInstance own = PostgresInstance::of_sandbox(a.sandbox);
    if (own.port == 0) {
      *error = "PostgreSQL is not installed on this host";
      return false;
    }
    *t = {own.address, own.port, "127.0.0.1"};
    return true;
  }
  std::string text;
  if (read_file(a.map("/etc/she-lab/databases.json"), &text)) {
    try {
      const auto j = nlohmann::json::parse(text);
      if (j.contains(host)) {
        *t = {j[host].value("address", ""), j[host].value("port", 0), own_address()};
        return true;
      }
    } catch (const nlohmann::json::exception&) {
    }
  }
  *error = fmt::format("could not translate host name \"{}\" to address: Name or service not known", host);
  return false;
}

}  // namespace

/// Reads KEY="value" lines of a settings file whose keys start with `prefix`.
static bool read_db_conf(const Agent& a, const char* path, const std::string& prefix, EngineDbConf* c) {
  std::string text;
  if (!read_file(a.map(path), &text)) return false;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq == std::string::npos || line.rfind('#', 0) == 0) continue;
    const std::string key = trim(line.substr(0, eq)), value = unquote(line.substr(eq + 1));
    if (key == prefix + "HOST") c->host = value;
    else if (key == prefix + "PORT") c->port = value;
    else if (key == prefix + "USER") c->user = value;
    else if (key == prefix + "PASSWORD") c->password = value;
    else if (key == prefix + "DATABASE") c->database = value;
  }
  return true;
}

/// engine-setup's KEY="value" lines for one database, its keys named by
/// `prefix` (ENGINE_DB_, DWH_DB_): the engine's and DWH's files differ in
/// the prefix and the engine's JDBC URL only.
static std::string db_conf_text(const std::string& prefix, const EngineDbConf& c) {
  return fmt::format(
      "{0}HOST={1}\n{0}PORT={2}\n{0}USER={3}\n{0}PASSWORD={4}\n{0}DATABASE={5}\n"
      "{0}SECURED=\"False\"\n{0}SECURED_VALIDATION=\"False\"\n{0}DRIVER=\"org.postgresql.Driver\"\n",
      prefix, quote(c.host), quote(c.port), quote(c.user), quote(c.password), quote(c.database));
}

static bool remove_conf(const Agent& a, const char* path) {
  std::error_code ec;
  return fs::remove(a.map(path), ec);
}

bool read_engine_db_conf(const Agent& a, EngineDbConf* c) { return read_db_conf(a, kDbConf, "ENGINE_DB_", c); }

std::string engine_db_conf_text(const EngineDbConf& c) {
  return db_conf_text("ENGINE_DB_", c) +
         "ENGINE_DB_URL=\"jdbc:postgresql://${ENGINE_DB_HOST}:${ENGINE_DB_PORT}/${ENGINE_DB_DATABASE}"
         "?sslfactory=org.postgresql.ssl.NonValidatingFactory\"\n";
}

bool write_engine_db_conf(const Agent& a, const EngineDbConf& c) {
  return write_file_atomic(a.map(kDbConf), engine_db_conf_text(c), 0600);
}

bool remove_engine_db_conf(const Agent& a) { return remove_conf(a, kDbConf); }

const char* const kDwhDbConf = "/etc/ovirt-engine-dwh/ovirt-engine-dwhd.conf.d/10-setup-database.conf";

bool read_dwh_db_conf(const Agent& a, EngineDbConf* c) { return read_db_conf(a, kDwhDbConf, "DWH_DB_", c); }

std::string dwh_db_conf_text(const EngineDbConf& c) { return db_conf_text("DWH_DB_", c); }

bool write_dwh_db_conf(const Agent& a, const EngineDbConf& c) {
  return write_file_atomic(a.map(kDwhDbConf), dwh_db_conf_text(c), 0600);
}

bool remove_dwh_db_conf(const Agent& a) { return remove_conf(a, kDwhDbConf); }

int db_client(const Agent& a, const EngineDbConf& db, const std::vector<std::string>& argv, const std::string& input,
              std::string* output) {
  Target t;
  std::string error;
  // The client's own words when it cannot connect, its name first.
  if (!resolve(a, db.host, &t, &error)) {
    *output = fmt::format("{}: error: {}\n", argv.at(0), error);
    return 2;
  }
  const int probe = connect_from(t.source, t.address, t.port);
  if (probe < 0) {
    *output = fmt::format("{}: error: connection to server at \"{}\" ({}), port {} failed: Connection refused\n",
                          argv.at(0), db.host, t.address, db.port);
    return 2;
  }
  ::close(probe);
  char dir_template[] = "/tmp/she-lab-pg.XXXXXX";
  if (!::mkdtemp(dir_template)) {
    *output = "cannot make a temporary directory\n";
    return 2;
  }
  const fs::path dir = dir_template;
  const fs::path sock = dir / fmt::format(".s.PGSQL.{}", t.port);
  const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 8) != 0) {
    *output = "cannot listen on " + sock.string() + "\n";
    return 2;
  }
  std::thread([listener, t] {
    for (;;) {
      const int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      const int s = connect_from(t.source, t.address, t.port);
      if (s < 0) {
        ::close(c);
        continue;
      }
      std::thread(pump, c, s).detach();
    }
  }).detach();
  // The password reaches the client through a 0600 file, as engine-backup's
  // own .pgpass does: never argv, never the environment of other processes.
  const fs::path pgpass = dir / ".pgpass";
  std::string escaped;
  for (char c : db.password) {
    if (c == ':' || c == '\\') escaped += '\\';
    escaped += c;
  }
  write_file_atomic(pgpass, "*:*:*:*:" + escaped + "\n", 0600);
  const int rc = run_postgres_tool(argv, input, output,
                                   {"PGHOST=" + dir.string(), fmt::format("PGPORT={}", t.port), "PGUSER=" + db.user,
                                    "PGDATABASE=" + db.database, "PGPASSFILE=" + pgpass.string(), "PGCONNECT_TIMEOUT=10"},
                                   false);
  ::shutdown(listener, SHUT_RDWR);
  ::close(listener);
  std::error_code ec;
  fs::remove_all(dir, ec);
  // What the client said names the relay's socket; the operator's view is
  // the host and port the engine was configured with.
  for (std::size_t at; (at = output->find(sock.string())) != std::string::npos;)
    output->replace(at, sock.string().size(), fmt::format("{}:{}", db.host, db.port));
  return rc;
}

int db_query(const Agent& a, const EngineDbConf& db, const std::string& sql, std::string* output) {
  return db_client(a, db, {"psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"}, sql, output);
}

}  // namespace she::lab::agent
