#include "hosts/postgres_commands.h"

#include <fmt/format.h>

#include <sstream>

namespace she {

namespace {

std::string literal(const std::string& v) {
  std::string out = "'";
  for (char c : v) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::vector<std::string> fields(const std::string& line) {
  std::istringstream in(line.substr(0, line.find('#')));
  std::vector<std::string> out;
  for (std::string f; in >> f;) out.push_back(f);
  return out;
}

std::string with_prefix(const std::string& address) {
  if (address.find('/') != std::string::npos) return address;
  return address + (address.find(':') != std::string::npos ? "/128" : "/32");
}

}  // namespace

std::string postgres_identifier_problem(const std::string& name) {
  if (name.empty()) return "the name is empty";
  if (name.size() > 63) return "the name is longer than 63 characters";
  if (name[0] >= '0' && name[0] <= '9') return "the name starts with a digit";
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return fmt::format("'{}' is not a lower-case identifier (letters, digits, '_')", name);
  return "";
}

std::string postgres_locale_problem(const std::string& locale) {
  if (locale.empty()) return "the locale is empty";
  for (char c : locale)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
          c == '.' || c == '@'))
      return fmt::format("'{}' is not a locale name", locale);
  return "";
}

std::vector<std::string> postgres_psql_argv(const std::string& sql) {
  return {"runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql};
}

std::vector<std::string> postgres_psql_stdin_argv() {
  return {"runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"};
}

std::string postgres_role_exists_sql(const std::string& role) {
  return "select 1 from pg_roles where rolname = " + literal(role);
}

std::string postgres_database_settings_sql(const std::string& database) {
  return "select pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype from pg_database "
         "where datname = " + literal(database);
}

std::string postgres_database_difference(const std::string& settings, const std::string& owner,
                                         const std::string& locale) {
  std::vector<std::string> have;
  std::istringstream in(settings.substr(0, settings.find('\n')));
  for (std::string f; std::getline(in, f, '|');) have.push_back(f);
  have.resize(4);
  const std::string want[4] = {owner, "UTF8", locale, locale};
  const char* what[4] = {"owner", "encoding", "lc_collate", "lc_ctype"};
  std::string out;
  for (int i = 0; i < 4; ++i)
    if (have[i] != want[i]) out += fmt::format("{}{} is '{}', not '{}'", out.empty() ? "" : "; ", what[i], have[i], want[i]);
  return out;
}

std::string postgres_role_script(const std::string& role, const std::string& password) {
  // psql's \gexec runs the statement the query chose: one script, whether
  // the role exists or not, so a repeat only sets the password again.
  return fmt::format(
      "select case when exists (select 1 from pg_roles where rolname = {0})\n"
      "  then format('alter role %I with login encrypted password %L', {0}, {1})\n"
      "  else format('create role %I with login encrypted password %L', {0}, {1}) end\n\\gexec\n",
      literal(role), literal(password));
}

std::string postgres_database_sql(const std::string& database, const std::string& owner, const std::string& locale) {
  return fmt::format("create database {} owner {} template template0 encoding 'UTF8' lc_collate {} lc_ctype {}",
                     database, owner, literal(locale), literal(locale));
}

std::string postgres_hba_line(const std::string& database, const std::string& user, const std::string& address,
                              const std::string& method) {
  return fmt::format("host    {}    {}    {}    {}", database, user, with_prefix(address), method);
}

bool postgres_hba_has(const std::string& hba, const std::string& line) {
  const auto want = fields(line);
  std::istringstream in(hba);
  for (std::string l; std::getline(in, l);)
    if (fields(l) == want) return true;
  return false;
}

std::string postgres_hba_loaded_sql() {
  // The file's time has whole seconds: a load in a later second than the
  // change is after it for certain; one in the same second counts as not
  // yet, which costs only a repeated restart.
  return "select 1 where date_trunc('second', pg_conf_load_time()) > "
         "(pg_stat_file(current_setting('hba_file'))).modification";
}

}  // namespace she
