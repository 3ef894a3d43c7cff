#include "hosts/backup_scopes.h"

#include <fmt/format.h>
#include <algorithm>
#include <cstdlib>

namespace she {

namespace {

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

/// A version's major number; 0 when it does not start with one (then every
/// scope is taken to restore: the version rule speaks for odd versions).
long major_of(const std::string& version) {
  char* end = nullptr;
  long m = std::strtol(version.c_str(), &end, 10);
  return end == version.c_str() ? 0 : m;
}

}  // namespace

const std::vector<std::string>& known_backup_scopes() {
  static const std::vector<std::string> scopes = {"files",      "db",        "dwhdb",          "reportsdb",
                                                  "cinderlibdb", "keycloakdb", "managedblockdb", "grafanadb"};
  return scopes;
}

std::string backup_scope_description(const std::string& scope) {
  if (scope == "files") return "the engine's files (configuration, PKI)";
  if (scope == "db") return "the engine database";
  if (scope == "dwhdb") return "the DWH database (ovirt_engine_history)";
  if (scope == "reportsdb") return "the Reports database";
  if (scope == "cinderlibdb") return "the cinderlib database";
  if (scope == "keycloakdb") return "the Keycloak database";
  if (scope == "managedblockdb") return "the managed block storage database";
  if (scope == "grafanadb") return "the Grafana database";
  return "scope " + scope;
}

std::vector<std::string> restored_scopes(const std::vector<std::string>& present, const std::string& target_version) {
  std::vector<std::string> out;
  for (const auto& s : present)
    if (!(s == "reportsdb" && major_of(target_version) >= 4)) out.push_back(s);
  return out;
}

std::vector<std::string> missing_scope_problems(const std::vector<std::string>& present,
                                                const std::vector<std::string>& required,
                                                const std::string& target_version) {
  std::vector<std::string> problems;
  const std::vector<std::string> restored = restored_scopes(present, target_version);
  for (const auto& s : required) {
    if (!has(known_backup_scopes(), s)) {
      problems.push_back(fmt::format("'{}' is not an engine-backup scope (one of {})", s,
                                     fmt::join(known_backup_scopes(), ", ")));
    } else if (has(present, s) && !has(restored, s)) {
      problems.push_back(fmt::format("the archive holds {} (scope {}), which engine-backup {} no longer restores "
                                     "(Reports left oVirt in 4.0); remedy: restore without it, or on a 3.x engine",
                                     backup_scope_description(s), s, target_version));
    } else if (!has(present, s)) {
      problems.push_back(fmt::format("the archive lacks {} (scope {}); remedy: take the backup again with "
                                     "engine-backup --scope=all (or add --scope={}), or restore without it",
                                     backup_scope_description(s), s, s));
    }
  }
  return problems;
}

}  // namespace she
