// A real PostgreSQL server (Debian's postgresql, /usr/lib/postgresql/N/bin)
// standing for the database server of a lab host: its cluster lives in the
// host's sandbox (/var/lib/pgsql/data, the path of the seeds' hosts), it
// listens on the host's own loopback address and a port of its own, and it
// runs as the unprivileged `postgres` user when the lab runs as root (the
// server refuses root). Nothing outside the sandbox is touched.
//
// The agent (lab/agent/) drives it for the host's `postgresql-setup
// --initdb`, `systemctl start|restart|stop postgresql` and `psql`; the fleet
// (lab/host_fleet.h) seeds an engine database at start and stops every
// server with the lab. The sandbox file /etc/she-lab/postgresql.json says
// where the server listens: {"address", "port"}.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace she::lab {

struct PostgresInstance {
  std::filesystem::path sandbox;     // the host's "/"
  std::filesystem::path data_dir;    // sandbox/var/lib/pgsql/data
  std::filesystem::path socket_dir;  // sandbox/run/postgresql
  std::string address;               // 127.0.0.N
  int port = 0;

  /// The instance of a host sandbox (reads /etc/she-lab/postgresql.json);
  /// port 0 when the host has no PostgreSQL server installed.
  static PostgresInstance of_sandbox(const std::filesystem::path& sandbox);
  /// Writes /etc/she-lab/postgresql.json (the server's address and port).
  static void install(const std::filesystem::path& sandbox, const std::string& address, int port);
};

/// Debian's PostgreSQL binaries (the newest /usr/lib/postgresql/N/bin), ""
/// when none is installed.
std::string postgres_bin_dir();

/// Runs a PostgreSQL program (`argv[0]` a name in postgres_bin_dir()), as
/// the `postgres` user when running as root and `as_server_account`, with
/// `input` on its stdin and the `env` additions (NAME=VALUE); output and
/// errors both in `*output`.
int run_postgres_tool(const std::vector<std::string>& argv, const std::string& input, std::string* output,
                      const std::vector<std::string>& env = {}, bool as_server_account = true);

bool pg_initialised(const PostgresInstance& pg);
bool pg_running(const PostgresInstance& pg);
/// initdb (UTF8, locale C.UTF-8: the lab machine has no en_US.UTF-8), then
/// the distribution's defaults made the host's: listen on its address and
/// port, socket in the sandbox, password authentication for TCP clients
/// (scram-sha-256; only 127.0.0.1 allowed until pg_hba.conf says more).
int pg_initdb(const PostgresInstance& pg, std::string* output);
int pg_start(const PostgresInstance& pg, std::string* output);
int pg_stop(const PostgresInstance& pg, std::string* output);
/// SQL as the superuser `postgres` over the host's own socket (psql -X -A
/// -t, ON_ERROR_STOP); the SQL goes through stdin, never argv.
int pg_superuser_sql(const PostgresInstance& pg, const std::string& sql, std::string* output,
                     const std::string& database = "postgres");

}  // namespace she::lab
