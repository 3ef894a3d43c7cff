// she-lab-agent: the ForceCommand of every lab host's sshd (lab/host_fleet.h).
// It reads the client's command from SSH_ORIGINAL_COMMAND, splits it into
// words as sh would (wordexp(3) with WRDE_NOCMD: quotes removed, command
// substitution refused, never a shell), logs it, applies the host's faults,
// and runs the one command it names, inside the host's sandbox directory
// (absolute paths map into it, `..` never leaves it) and against the lab
// engine's world (its /lab/ control endpoints). Exit codes and messages are
// those of the real tools; anything else is "command not found" (127).
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace she::lab::agent {

namespace fs = std::filesystem;
using Args = std::vector<std::string>;

struct Agent {
  std::string host;  // the lab host's name (the engine's name for it)
  fs::path sandbox;  // the host's "/"
  fs::path lab_socket;  // the lab engine's socket for its agents (empty: no engine)
  fs::path log_file;
  fs::path faults_file;

  /// A host path (absolute, or relative to /root) inside the sandbox.
  fs::path map(const std::string& host_path) const;
  /// Appends one JSON line to the agent log (one write, O_APPEND).
  void log(const nlohmann::json& entry) const;
};

// Output, unbuffered (the connection may be dropped at any moment).
void out(const std::string& s);
void err(const std::string& s);

/// Kills the sshd session this agent runs under (SIGKILL), so that the
/// client sees its connection reset, then exits.
[[noreturn]] void drop_connection();

/// Runs one command (argv[0] is its name); returns its exit code.
int run_command(Agent& a, const Args& argv);

// The commands, by family. Each gets the full argv.
int file_command(Agent& a, const Args& argv, bool* handled);
int engine_backup(Agent& a, const Args& argv);
int engine_setup(Agent& a, const Args& argv);
/// The appliance's engine version a test gives the host (the sandbox's
/// /etc/she-lab/engine-version), empty when none: then the lab engine's is
/// the installed one.
std::string appliance_version(const Agent& a);
int hosted_engine(Agent& a, const Args& argv);
/// `hosted-engine --deploy --noansible`: the 4.0-4.2 dialog (legacy_deploy.cpp).
int legacy_deploy(Agent& a, const std::vector<std::string>& appends);
/// `screen`: detached sessions, stuff, quit, -ls (screen.cpp).
int screen(Agent& a, const Args& argv);
/// The legacy engine VM (engine_vm.cpp): whether its machine is off, what
/// a command meets then, and `shutdown -h now` inside it.
bool powered_off(const Agent& a);
int unreachable_machine(const Agent& a);
int shutdown(Agent& a, const Args& argv);
int systemd_run(Agent& a, const Args& argv);
int systemctl(Agent& a, const Args& argv);
int engine_cleanup(Agent& a, const Args& argv);
/// The database host's PostgreSQL (lab/postgres_server.h): `postgresql-setup
/// --initdb`, `runuser -u postgres -- psql ...`, and `systemctl
/// start|stop|restart|is-active postgresql` (handled: false for other units).
int postgresql_setup(Agent& a, const Args& argv);
int runuser(Agent& a, const Args& argv);
int postgresql_service(Agent& a, const Args& argv, bool* handled);

/// The engine's database settings, as engine-setup writes them
/// (/etc/ovirt-engine/engine.conf.d/10-setup-database.conf, 0600).
struct EngineDbConf {
  std::string host = "localhost", port = "5432", user = "engine", password, database = "engine";
};
bool read_engine_db_conf(const Agent& a, EngineDbConf* conf);
std::string engine_db_conf_text(const EngineDbConf& conf);
bool write_engine_db_conf(const Agent& a, const EngineDbConf& conf);
bool remove_engine_db_conf(const Agent& a);
/// DWH's database settings, as engine-setup writes them when DWH is set up
/// (/etc/ovirt-engine-dwh/ovirt-engine-dwhd.conf.d/10-setup-database.conf,
/// DWH_DB_* keys): the same fields, another database and role.
extern const char* const kDwhDbConf;
bool read_dwh_db_conf(const Agent& a, EngineDbConf* conf);
std::string dwh_db_conf_text(const EngineDbConf& conf);
bool write_dwh_db_conf(const Agent& a, const EngineDbConf& conf);
bool remove_dwh_db_conf(const Agent& a);
/// Runs a PostgreSQL client program (pg_dump, pg_restore, psql) against
/// `db` as this host reaches it: the server's pg_hba.conf and the role's
/// password decide, for real. Output and errors in `*output`.
int db_client(const Agent& a, const EngineDbConf& db, const std::vector<std::string>& argv, const std::string& input,
              std::string* output);
/// psql -A -t with `sql` on stdin.
int db_query(const Agent& a, const EngineDbConf& db, const std::string& sql, std::string* output);

/// Oracle VM servers' and manager's tools (ovm_server_tools.cpp,
/// ovm_manager_tools.cpp): `handled` false when argv names none of them.
int ovm_server_command(Agent& a, const Args& argv, bool* handled);
/// Whether argv[0] names one of `tools` (name, the file that marks it
/// installed) and it is installed on this host: false with `*code` set (127
/// and bash's message when it is not installed; 127 when it is none of them,
/// `*handled` false).
bool installed_tool(const Agent& a, const Args& argv, const std::vector<std::pair<std::string, std::string>>& tools,
                    bool* handled, int* code);
int ovm_manager_command(Agent& a, const Args& argv, bool* handled);
/// `sh -c SCRIPT`, SCRIPT a pipeline of the commands above.
int shell(Agent& a, const Args& argv);

/// The lab engine's /lab/ endpoints over HTTPS (the lab CA).
struct LabReply {
  int status = 0;  // 0: no answer
  std::string body;
  std::string error;  // transport error
  nlohmann::json json() const;
};
LabReply lab_get(const Agent& a, const std::string& path);
LabReply lab_post(const Agent& a, const std::string& path, const nlohmann::json& body);

// Small helpers shared by the commands.
bool read_file(const fs::path& p, std::string* out);
bool write_file_atomic(const fs::path& p, const std::string& data, unsigned mode = 0644);
std::string now_stamp();  // YYYYmmddHHMMSS, UTC
std::string trim(std::string s);

/// Faults (the host's faults file, re-read at each command): whether
/// `command_line` must fail now (message and exit code), counting one use
/// of a rule with "times".
bool take_fail_fault(const Agent& a, const std::string& command_line, std::string* message, int* exit_code,
                     const std::string& deferred = {});
/// The host's faults as they stand (read, not counted).
nlohmann::json read_faults(const Agent& a);
/// The dd transfer fault: drop the connection after this many bytes (-1:
/// none), counting one use when the faults limit them (drop_times).
long long take_drop_after_bytes(const Agent& a);

}  // namespace she::lab::agent
