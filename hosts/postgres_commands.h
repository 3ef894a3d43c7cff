// Builders for the PostgreSQL preparation the seeds do by hand on a
// database host before an engine restore (seed 003: initdb, a role, the
// database with template0/UTF8 and a collation, a pg_hba.conf entry, a
// restart), each a command line or an SQL script. Names are checked to be
// plain identifiers, so nothing a plan says can change the SQL's meaning;
// passwords appear only in scripts meant for a 0600 file, never in argv.
#pragma once

#include <string>
#include <vector>

namespace she {

/// Where the seeds' hosts keep the cluster (RHEL's postgresql-server).
constexpr const char* kPostgresDataDir = "/var/lib/pgsql/data";

/// "" when `name` is a role or database name these steps accept (a
/// lower-case identifier: letters, digits, '_', not starting with a digit,
/// at most 63 characters), else why not.
std::string postgres_identifier_problem(const std::string& name);
/// "" when `locale` is a locale name (letters, digits, '_', '-', '.', '@').
std::string postgres_locale_problem(const std::string& locale);

/// `runuser -u postgres -- psql -X -A -t -v ON_ERROR_STOP=1 -c SQL`: the
/// superuser's psql, for SQL holding no secret.
std::vector<std::string> postgres_psql_argv(const std::string& sql);
/// The same reading its SQL from standard input (`-f -`): SQL holding a
/// secret goes through the channel, never on a command line or on disk
/// (a file psql could read as postgres would be one others could read).
std::vector<std::string> postgres_psql_stdin_argv();

/// Probes (answer "1" when present).
std::string postgres_role_exists_sql(const std::string& role);
/// One line "owner|encoding|collate|ctype" for `database`, none when absent.
std::string postgres_database_settings_sql(const std::string& database);
/// "" when `settings` (that line) is the database postgres_database_sql
/// makes, else what differs ("owner is x, not engine; ...").
std::string postgres_database_difference(const std::string& settings, const std::string& owner,
                                         const std::string& locale);

/// Creates the login role, or sets its password when it exists (the seeds'
/// `create role` on a fresh server, `alter role` when credentials change).
std::string postgres_role_script(const std::string& role, const std::string& password);
/// The seed's create database: owner, template0, UTF8, collation and ctype.
std::string postgres_database_sql(const std::string& database, const std::string& owner, const std::string& locale);

/// The pg_hba.conf line letting `user` reach `database` from `address`
/// (an IPv4 or IPv6 address, with or without /prefix) by `method`.
std::string postgres_hba_line(const std::string& database, const std::string& user, const std::string& address,
                              const std::string& method);
/// Whether `hba` (a pg_hba.conf's text) already has that entry (fields
/// compared, whitespace and comments aside).
bool postgres_hba_has(const std::string& hba, const std::string& line);
/// Answers "1" when the server has read its pg_hba.conf since the file last
/// changed (a line appended but not yet restarted over is not in force).
std::string postgres_hba_loaded_sql();

}  // namespace she
