// See postgres_server.h.
#include "lab/postgres_server.h"
#include "lab/child_process.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <nlohmann/json.hpp>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace she::lab {

namespace fs = std::filesystem;

namespace {

constexpr const char* kConfig = "etc/she-lab/postgresql.json";

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The postgres account, when running as root (the server refuses root).
bool postgres_account(uid_t* uid, gid_t* gid) {
  if (::geteuid() != 0) return false;
  const passwd* pw = ::getpwnam("postgres");
  if (!pw) return false;
  *uid = pw->pw_uid;
  *gid = pw->pw_gid;
  return true;
}

/// A directory the server account owns (mode 0700), and every ancestor
/// searchable by it: only the search bit is added, nothing becomes listable.
void own_dir(const fs::path& dir) {
  fs::create_directories(dir);
  uid_t uid;
  gid_t gid;
  if (!postgres_account(&uid, &gid)) return;
  if (::chown(dir.c_str(), uid, gid) != 0) throw std::runtime_error("cannot chown " + dir.string());
  ::chmod(dir.c_str(), 0700);
  for (fs::path p = dir.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) break;
    if (st.st_mode & S_IXOTH) continue;
    ::chmod(p.c_str(), (st.st_mode & 07777) | S_IXOTH);
  }
}

void replace_line_or_append(std::string* text, const std::string& key, const std::string& line) {
  std::istringstream in(*text);
  std::string out, l;
  bool done = false;
  while (std::getline(in, l)) {
    std::string t = l;
    t.erase(0, t.find_first_not_of(" \t#"));
    if (!done && t.rfind(key + " ", 0) == 0 && l.find('#') != 0) {
      out += line + "\n";
      done = true;
    } else {
      out += l + "\n";
    }
  }
  if (!done) out += line + "\n";
  *text = out;
}

}  // namespace

PostgresInstance PostgresInstance::of_sandbox(const fs::path& sandbox) {
  PostgresInstance pg;
  pg.sandbox = sandbox;
  pg.data_dir = sandbox / "var/lib/pgsql/data";
  pg.socket_dir = sandbox / "run/postgresql";
  const std::string text = read_text(sandbox / kConfig);
  if (text.empty()) return pg;
  try {
    const auto j = nlohmann::json::parse(text);
    pg.address = j.value("address", "");
    pg.port = j.value("port", 0);
  } catch (const nlohmann::json::exception&) {
    pg.port = 0;
  }
  return pg;
}

void PostgresInstance::install(const fs::path& sandbox, const std::string& address, int port) {
  fs::create_directories((sandbox / kConfig).parent_path());
  std::ofstream(sandbox / kConfig) << nlohmann::json{{"address", address}, {"port", port}}.dump() << "\n";
  own_dir(sandbox / "var/lib/pgsql");
  own_dir(sandbox / "run/postgresql");
}

std::string postgres_bin_dir() {
  // Looked up once: every client and server command of a process asks, and
  // the installed versions do not change under it.
  static const std::string dir = [] {
    std::string best;
    int best_major = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
      const int major = std::atoi(e.path().filename().string().c_str());
      if (major > best_major && fs::exists(e.path() / "bin/postgres")) {
        best_major = major;
        best = (e.path() / "bin").string();
      }
    }
    return best;
  }();
  return dir;
}

int run_postgres_tool(const std::vector<std::string>& argv, const std::string& input, std::string* output,
                      const std::vector<std::string>& env, bool as_server_account) {
  const std::string bin = postgres_bin_dir();
  if (bin.empty()) {
    *output = "PostgreSQL is not installed (no /usr/lib/postgresql/N/bin)\n";
    return 127;
  }
  uid_t uid = 0;
  gid_t gid = 0;
  const bool drop = as_server_account && postgres_account(&uid, &gid);
  ChildRun run;
  run.program = bin + "/" + argv.at(0);
  run.argv = argv;
  run.env = {"PATH=" + bin + ":/usr/bin:/bin", "LC_ALL=C.UTF-8", "HOME=/tmp"};
  run.env.insert(run.env.end(), env.begin(), env.end());
  run.input = input;
  run.merge_stderr = true;
  run.in_child = [&] {
    if (drop && (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)) return false;
    return ::chdir("/") == 0;
  };
  return run_child(run, output);
}

bool pg_initialised(const PostgresInstance& pg) { return fs::exists(pg.data_dir / "PG_VERSION"); }

bool pg_running(const PostgresInstance& pg) {
  if (!pg_initialised(pg)) return false;
  std::string out;
  return run_postgres_tool({"pg_ctl", "-D", pg.data_dir.string(), "status"}, "", &out) == 0;
}

int pg_initdb(const PostgresInstance& pg, std::string* output) {
  own_dir(pg.data_dir);
  const int rc = run_postgres_tool({"initdb", "-D", pg.data_dir.string(), "-U", "postgres", "-E", "UTF8",
                                    "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256"},
                                   "", output);
  if (rc != 0) return rc;
  const fs::path conf = pg.data_dir / "postgresql.conf";
  std::string text = read_text(conf);
  replace_line_or_append(&text, "listen_addresses", fmt::format("listen_addresses = '{}'", pg.address));
  replace_line_or_append(&text, "port", fmt::format("port = {}", pg.port));
  replace_line_or_append(&text, "unix_socket_directories",
                         fmt::format("unix_socket_directories = '{}'", pg.socket_dir.string()));
  std::ofstream(conf) << text;
  return 0;
}

int pg_start(const PostgresInstance& pg, std::string* output) {
  return run_postgres_tool({"pg_ctl", "-D", pg.data_dir.string(), "-l", (pg.data_dir.parent_path() / "logfile").string(),
                            "-w", "-t", "60", "start"},
                           "", output);
}

int pg_stop(const PostgresInstance& pg, std::string* output) {
  return run_postgres_tool({"pg_ctl", "-D", pg.data_dir.string(), "-w", "-t", "60", "-m", "fast", "stop"}, "",
                           output);
}

int pg_superuser_sql(const PostgresInstance& pg, const std::string& sql, std::string* output,
                     const std::string& database) {
  return run_postgres_tool({"psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", pg.socket_dir.string(), "-p",
                            std::to_string(pg.port), "-U", "postgres", "-d", database},
                           sql, output);
}

}  // namespace she::lab
