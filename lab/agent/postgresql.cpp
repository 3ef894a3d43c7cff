// The database host's PostgreSQL server commands (lab/postgres_server.h):
// what the seeds run by hand on the machine that will hold the engine's
// database, each against the host's real server.
#include <algorithm>
#include <sys/stat.h>
#include <unistd.h>
#include <fmt/format.h>

#include "lab/agent/agent.h"
#include "lab/postgres_server.h"

namespace she::lab::agent {

namespace {

bool installed(const Agent& a, PostgresInstance* pg) {
  *pg = PostgresInstance::of_sandbox(a.sandbox);
  if (pg->port != 0 && !postgres_bin_dir().empty()) return true;
  err("bash: line 1: postgresql-setup: command not found\n");
  return false;
}

}  // namespace

int postgresql_setup(Agent& a, const Args& argv) {
  PostgresInstance pg;
  if (!installed(a, &pg)) return 127;
  if (argv.size() != 2 || argv[1] != "--initdb") {
    err("Usage: postgresql-setup --initdb\n");
    return 1;
  }
  out(" * Initializing database in '/var/lib/pgsql/data'\n");
  if (pg_initialised(pg)) {
    err("ERROR: Data directory /var/lib/pgsql/data is not empty!\n");
    return 1;
  }
  std::string output;
  if (pg_initdb(pg, &output) != 0) {
    err(output);
    err(" * Initializing database failed, see /var/lib/pgsql/initdb_postgresql.log\n");
    return 1;
  }
  out(" * Initialized, logs are in /var/lib/pgsql/initdb_postgresql.log\n");
  return 0;
}

int runuser(Agent& a, const Args& argv) {
  // runuser -u postgres -- psql ARGS: the superuser's psql over the host's
  // own socket. A script comes from standard input (-f -) or from a file
  // psql may read as postgres: one only root can read (a 0600 file of
  // root's, anything under /root) is refused as the real psql refuses it.
  if (argv.size() < 5 || argv[1] != "-u" || argv[2] != "postgres" || argv[3] != "--" || argv[4] != "psql") {
    err("she-lab-agent: runuser: the lab runs only `runuser -u postgres -- psql ...`\n");
    return 1;
  }
  PostgresInstance pg;
  if (!installed(a, &pg)) return 127;
  std::vector<std::string> args = {"psql", "-X", "-h", pg.socket_dir.string(), "-p", std::to_string(pg.port), "-U",
                                   "postgres"};
  std::string input, database = "postgres";
  for (std::size_t i = 5; i < argv.size(); ++i) {
    if (argv[i] == "-f" && i + 1 < argv.size() && argv[i + 1] == "-") {
      ++i;
      char buf[65536];
      for (ssize_t n; (n = ::read(0, buf, sizeof buf)) > 0;) input.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (argv[i] == "-f" && i + 1 < argv.size()) {
      struct stat st{};
      const std::string host_path = argv[i + 1];
      if (host_path.rfind("/root/", 0) == 0 ||
          (::stat(a.map(host_path).c_str(), &st) == 0 && !(st.st_mode & S_IROTH))) {
        err(fmt::format("psql: error: {}: Permission denied\n", host_path));
        return 1;
      }
      if (!read_file(a.map(argv[++i]), &input)) {
        err(fmt::format("psql: error: {}: No such file or directory\n", argv[i]));
        return 1;
      }
      continue;
    }
    if (argv[i] == "-d" && i + 1 < argv.size()) {
      database = argv[++i];
      continue;
    }
    args.push_back(argv[i]);
  }
  args.push_back("-d");
  args.push_back(database);
  std::string output;
  const int rc = run_postgres_tool(args, input, &output);
  (rc == 0 ? out : err)(output);
  return rc;
}

int postgresql_service(Agent& a, const Args& argv, bool* handled) {
  *handled = false;
  if (argv.size() < 3) return 1;
  std::string unit = argv.back();
  if (unit.size() > 8 && unit.compare(unit.size() - 8, 8, ".service") == 0) unit.resize(unit.size() - 8);
  if (unit != "postgresql") return 1;
  PostgresInstance pg = PostgresInstance::of_sandbox(a.sandbox);
  if (pg.port == 0) return 1;
  *handled = true;
  const std::string& verb = argv[1];
  std::string output;
  if (verb == "is-active") {
    const bool on = pg_running(pg);
    if (std::find(argv.begin(), argv.end(), "--quiet") == argv.end()) out(on ? "active\n" : "inactive\n");
    return on ? 0 : 3;
  }
  if (verb == "start" || verb == "restart" || verb == "enable") {
    if (verb == "enable" && std::find(argv.begin(), argv.end(), "--now") == argv.end()) return 0;
    if (!pg_initialised(pg)) {
      err("Job for postgresql.service failed because the control process exited with error code.\n"
          "See \"systemctl status postgresql.service\" and \"journalctl -xe\" for details.\n");
      err("\"/var/lib/pgsql/data\" is missing or empty. Use \"postgresql-setup --initdb\" to initialize the database cluster.\n");
      return 1;
    }
    if (pg_running(pg)) {
      if (verb != "restart") return 0;
      if (pg_stop(pg, &output) != 0) {
        err(output);
        return 1;
      }
    }
    if (pg_start(pg, &output) != 0) {
      err("Job for postgresql.service failed because the control process exited with error code.\n" + output);
      return 1;
    }
    return 0;
  }
  if (verb == "stop") {
    if (pg_running(pg) && pg_stop(pg, &output) != 0) {
      err(output);
      return 1;
    }
    return 0;
  }
  err("she-lab-agent: systemctl: the lab's postgresql unit knows is-active, start, restart, enable --now, stop\n");
  return 1;
}

}  // namespace she::lab::agent
