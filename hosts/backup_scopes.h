// What an engine-backup archive's scopes mean to a restore: which of them a
// target restores, and the stop (with its remedy) when a scope the restore
// needs is not in the archive. engine-backup restores whatever scopes the
// archive holds and never creates a database; a plan that restores DWH or
// the engine database must know up front that the backup has it.
#pragma once

#include <string>
#include <vector>

namespace she {

/// Every scope an archive can hold, as engine-backup names them.
const std::vector<std::string>& known_backup_scopes();

/// "the DWH database (ovirt_engine_history)" and the like, for messages.
std::string backup_scope_description(const std::string& scope);

/// The scopes a restore by engine-backup `target_version` brings back from an
/// archive holding `present`: all of them, except Reports on 4.0 and later
/// (Reports left oVirt in 4.0; its dump has nowhere to go).
std::vector<std::string> restored_scopes(const std::vector<std::string>& present, const std::string& target_version);

/// "" when the archive holds every scope of `required`; else one sentence per
/// missing scope naming it and the remedy (a backup with --scope=all, or that
/// scope). An unknown scope name in `required` is a problem of its own.
std::vector<std::string> missing_scope_problems(const std::vector<std::string>& present,
                                                const std::vector<std::string>& required,
                                                const std::string& target_version);

}  // namespace she
