// Typed builder for `engine-backup` command lines, enforcing the tool's own
// rules before anything runs (reference: ovirt-he-automation.md section 3):
// scopes, the permissions rule for custom dumps, provisioning only on
// localhost and never with changed credentials, passfiles instead of
// passwords, HE cleaning options only in restore mode.
#pragma once

#include <string>
#include <vector>

namespace she {

struct EngineBackupOptions {
  enum class Mode { Backup, Restore };
  enum class Permissions { Unset, Restore, NoRestore };

  Mode mode = Mode::Backup;
  std::string file;
  std::string log;
  std::vector<std::string> scopes;      // empty means the tool's default, all
  std::string archive_compressor;       // gzip|bzip2|xz|None; empty = default
  std::string files_compressor;
  std::string db_compressor;
  std::string db_dump_format;           // plain|custom; for restore: the backup's
  int db_restore_jobs = 0;              // 0 = tool default
  bool provision_db = false;
  bool provision_dwh_db = false;
  bool provision_all_databases = false;
  Permissions permissions = Permissions::Unset;
  /// Restore into a database other than the backed-up one's settings
  /// (--change-db-credentials, --change-dwh-db-credentials).
  struct Credentials {
    bool change = false;
    std::string host, port, user, name;
    std::string passfile;               // remote path of a 0600 file, never a password
  };
  Credentials engine_db;                // --db-*
  Credentials dwh_db;                   // --dwh-db-*
  bool he_remove_hosts = false;
  bool he_remove_storage_vm = false;
  std::string tmpdir;
};

/// The argv of the command, or empty with `*error` set to the rule broken,
/// worded as engine-backup itself words it where it has a message.
std::vector<std::string> engine_backup_argv(const EngineBackupOptions& opts,
                                            std::string* error);

/// What the operator does about a failed engine-backup --mode=restore,
/// from the tool's own messages (and the database client's); "" when the
/// failure is not one the seeds describe.
std::string engine_backup_restore_remedy(const std::string& output);
/// The database client's own error in an engine-backup log ("psql: error:
/// ...", "pg_restore: error: ..."): the tool prints only its verdict ("Can't
/// connect to database ...") and appends the client's words to its log;
/// "" when the log has none.
std::string engine_backup_log_cause(const std::string& log);
}  // namespace she
