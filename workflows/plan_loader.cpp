// Reading plan, procedure and environment files into the plan model. Every
// structural problem becomes a positioned diagnostic and loading carries on,
// so one run reports all of them. Reference checks and typing of values
// happen afterwards in plan_validator.cpp.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <regex>

#include "base/install_layout.h"
#include "base/yaml_reader.h"
#include "engine_api/requests.h"
#include "workflows/plan.h"
#include "workflows/plan_validator.h"
#include "workflows/secret_ref.h"
#include "workflows/typed_value.h"

namespace fs = std::filesystem;

namespace she {

namespace {

SourcePos pos_of(const YAML::Node& n, const std::string& file) { return source_pos(n, file); }

std::string display_path(const fs::path& p) { return p.lexically_normal().string(); }

/// A path found on the search path, shown relative to the working directory
/// when it lies below it (shorter, and the same on every checkout).
std::string shown_path(const fs::path& p) {
  std::error_code ec;
  fs::path rel = fs::proximate(p, fs::current_path(ec), ec);
  if (!ec && !rel.empty() && *rel.begin() != "..") return rel.string();
  return p.string();
}

std::string relative_to(const std::string& from_file, const std::string& path) {
  fs::path p(path);
  if (p.is_absolute()) return path;
  return display_path(fs::path(from_file).parent_path() / p);
}

/// `uses: ../x/my.yaml` names a file; `uses: she-backup` a shipped procedure.
bool names_a_path(const std::string& uses) {
  return uses.find('/') != std::string::npos || (uses.size() > 5 && uses.substr(uses.size() - 5) == ".yaml");
}

class Loader {
 public:
  Loader(const LoadOptions& opts, Diagnostics& d) : opts_(opts), d_(d) {}

  std::optional<Plan> load(const std::string& file) {
    Plan plan;
    plan.file = file;
    YAML::Node root = read(file, {"command line", 0, 0});
    if (!root.IsDefined() || root.IsNull()) return std::nullopt;
    if (!is_map(root, file, "a plan")) return std::nullopt;

    bool is_procedure = root["procedure"].IsDefined();
    std::vector<std::string> keys = {"plan", "procedure", "description", "uses", "environment", "lab",
                                     "with", "params", "vars", "steps"};
    check_keys(root, file, keys, is_procedure ? "a procedure" : "a plan");
    plan.name = text(root[is_procedure ? "procedure" : "plan"], file, "name");
    plan.description = text(root["description"], file, "description");

    // Environment: --env wins over the plan's own. A plan on a lab scenario
    // gets the lab's from she-restore (orchestrator/lab_session.h).
    size_t errors_before_env = d_.all().size();
    if (root["lab"] && root["environment"])
      d_.error(ErrorKind::InvalidValue, pos_of(root["lab"], file), "a plan names a lab scenario or an environment, not both",
               "keep 'lab:' to rehearse on the lab she-restore starts, or 'environment:' to run on it");
    if (root["lab"] && !root["lab"].IsScalar())
      d_.error(ErrorKind::WrongType, pos_of(root["lab"], file), "'lab' names a scenario file",
               "e.g. lab: ../lab/three-hosts.yaml");
    if (!opts_.env_file.empty()) {
      load_environment_file(opts_.env_file, {"command line (--env)", 0, 0}, plan.env);
    } else if (root["environment"]) {
      YAML::Node e = root["environment"];
      if (e.IsScalar())
        load_environment_file(relative_to(file, e.Scalar()), pos_of(e, file), plan.env);
      else
        parse_environment(e, file, plan.env);
    } else if (root["lab"]) {
      d_.error(ErrorKind::MissingKey, pos_of(root["lab"], file), "the lab scenario's environment is not there",
               "run the plan with she-restore, which starts the lab and hands its environment over");
    } else {
      d_.error(ErrorKind::MissingKey, pos_of(root, file), "the plan names no environment",
               "add 'environment: FILE' (or an inline mapping), or pass --env FILE");
    }
    bool env_ok = d_.all().size() == errors_before_env;

    // yaml-cpp's Node::operator= writes through to the node it refers to, so
    // the procedure gets a node of its own instead of reassigning `root`.
    std::string procedure_file = file;
    YAML::Node procedure = root["uses"] ? YAML::Node() : root;
    if (root["uses"]) {
      for (const char* k : {"steps", "params", "vars"})
        if (root[k])
          d_.error(ErrorKind::UnknownKey, pos_of(key_node(root, k), file),
                   fmt::format("'{}' cannot stand beside 'uses': the steps come from the procedure", k),
                   "put them in the procedure, or drop 'uses' and write the steps here");
      procedure_file = find_procedure(file, root["uses"]);
      if (procedure_file.empty()) return std::nullopt;
      procedure = read(procedure_file, pos_of(root["uses"], file));
      if (!procedure.IsDefined() || procedure.IsNull() || !is_map(procedure, procedure_file, "a procedure"))
        return std::nullopt;
      check_keys(procedure, procedure_file, {"procedure", "description", "params", "vars", "steps"},
                 "a procedure");
      plan.procedure_name = text(procedure["procedure"], procedure_file, "procedure");
      if (plan.description.empty()) plan.description = text(procedure["description"], procedure_file, "description");
    } else {
      plan.procedure_name = plan.name;
    }
    plan.procedure_file = procedure_file;
    if (plan.name.empty()) plan.name = plan.procedure_name;
    if (plan.name.empty()) plan.name = fs::path(file).stem().string();

    parse_param_decls(procedure["params"], procedure_file, plan);
    parse_vars(procedure["vars"], procedure_file, plan);
    parse_steps(procedure["steps"], procedure_file, pos_of(procedure, procedure_file), plan);
    given_params_ = root["with"];
    given_file_ = file;
    if (given_params_ && !given_params_.IsMap())
      d_.error(ErrorKind::WrongType, pos_of(given_params_, file), "'with' must be a mapping of parameter values",
               "write 'with:' followed by 'name: value' lines");

    // References are checked even after other errors, so one run reports
    // everything; without a sound environment they would only echo its
    // errors.
    if (env_ok) bind_and_validate(plan, given_params_, given_file_, opts_.params, d_);
    if (!d_.ok()) return std::nullopt;
    return plan;
  }

 private:
  YAML::Node read(const std::string& file, const SourcePos& from) {
    std::optional<YAML::Node> n = read_yaml_file(file, from, d_);
    if (!n) return {};
    if (!*n || n->IsNull()) {
      d_.error(ErrorKind::WrongType, {file, 1, 1}, "the file is empty", "see the README for a plan example");
      return {};
    }
    return *n;
  }


  std::string find_procedure(const std::string& plan_file, const YAML::Node& uses) {
    if (!uses.IsScalar()) {
      d_.error(ErrorKind::WrongType, pos_of(uses, plan_file), "'uses' must name a procedure",
               "e.g. uses: she-restore-failover, or a path such as uses: ../plans/my-procedure.yaml");
      return {};
    }
    std::string name = uses.Scalar();
    if (std::string found = find_procedure_file(plan_file, name); !found.empty()) return found;
    if (names_a_path(name)) {
      std::string p = relative_to(plan_file, name);
      d_.error(ErrorKind::FileNotFound, pos_of(uses, plan_file), fmt::format("procedure file '{}' not found", p),
               "paths in 'uses' are relative to the plan file");
      return {};
    }
    std::vector<std::string> known;
    for (auto& dir : procedure_search_path()) {
      std::error_code ec;
      for (auto& entry : fs::directory_iterator(dir, ec))
        if (entry.path().extension() == ".yaml") known.push_back(entry.path().stem().string());
    }
    std::string hint = did_you_mean(name, known);
    if (hint.empty() && !known.empty()) {
      std::sort(known.begin(), known.end());
      known.erase(std::unique(known.begin(), known.end()), known.end());
      hint = "shipped procedures: " + fmt::format("{}", fmt::join(known, ", "));
    }
    d_.error(ErrorKind::FileNotFound, pos_of(uses, plan_file), fmt::format("no procedure named '{}'", name), hint);
    return {};
  }

  bool is_map(const YAML::Node& n, const std::string& file, const char* what) {
    if (n.IsMap()) return true;
    d_.error(ErrorKind::WrongType, pos_of(n, file), fmt::format("{} must be a mapping", what),
             "write 'key: value' lines");
    return false;
  }

  static YAML::Node key_node(const YAML::Node& map, const std::string& key) {
    for (auto it = map.begin(); it != map.end(); ++it)
      if (it->first.Scalar() == key) return it->first;
    return map;
  }

  /// yaml-cpp keeps duplicate keys and lookups then pick one of them; a
  /// plan that says two things at once is refused instead.
  void check_duplicates(const YAML::Node& map, const std::string& file, const std::string& what) {
    std::map<std::string, SourcePos> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string k = it->first.as<std::string>("");
      auto [at, fresh] = seen.emplace(k, pos_of(it->first, file));
      if (!fresh)
        d_.error(ErrorKind::DuplicateKey, pos_of(it->first, file), fmt::format("'{}' is given twice in {}", k, what),
                 fmt::format("keep one; the other is at {}", at->second.str()));
    }
  }

  void check_keys(const YAML::Node& map, const std::string& file, const std::vector<std::string>& allowed,
                  const std::string& what) {
    check_duplicates(map, file, what);
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string k = it->first.as<std::string>("");
      if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
      std::string hint = did_you_mean(k, allowed);
      if (hint.empty()) hint = "keys of " + what + ": " + fmt::format("{}", fmt::join(allowed, ", "));
      d_.error(ErrorKind::UnknownKey, pos_of(it->first, file),
               fmt::format("unknown key '{}' in {}", k, what), hint);
    }
  }

  std::string text(const YAML::Node& n, const std::string& file, const std::string& what) {
    if (!n) return {};
    if (!n.IsScalar()) {
      d_.error(ErrorKind::WrongType, pos_of(n, file), fmt::format("'{}' must be a single value", what),
               "write it on one line, not as a list or mapping");
      return {};
    }
    return n.Scalar();
  }

  /// A value of a typed kind (workflows/typed_value.h); refused ones are
  /// reported at their line and read as empty, so they go no further.
  std::string typed(const YAML::Node& n, const std::string& file, const std::string& what, TextKind kind) {
    std::string v = text(n, file, what);
    if (!n || v.empty()) return v;
    if (auto why = text_problem(kind, v)) {
      d_.error(error_kind(kind), pos_of(n, file), fmt::format("'{}' is not a {}: {}", what, text_kind_name(kind), *why),
               text_kind_hint(kind));
      return {};
    }
    return v;
  }

  std::string required_typed(const YAML::Node& map, const std::string& key, const std::string& file,
                             const std::string& what, const std::string& hint, TextKind kind) {
    if (!map[key]) return required_text(map, key, file, what, hint);
    return typed(map[key], file, key, kind);
  }

  std::string required_text(const YAML::Node& map, const std::string& key, const std::string& file,
                            const std::string& what, const std::string& hint) {
    if (!map[key]) {
      d_.error(ErrorKind::MissingKey, pos_of(map, file), fmt::format("{} needs '{}'", what, key), hint);
      return {};
    }
    return text(map[key], file, key);
  }

  bool boolean(const YAML::Node& n, const std::string& file, const std::string& what, bool def) {
    if (!n) return def;
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      if (s == "true") return true;
      if (s == "false") return false;
    }
    d_.error(ErrorKind::WrongType, pos_of(n, file), fmt::format("'{}' must be true or false", what));
    return def;
  }

  int integer(const YAML::Node& n, const std::string& file, const std::string& what, int def, int min, int max) {
    if (!n) return def;
    static const std::regex number("-?[0-9]+");
    if (n.IsScalar() && std::regex_match(n.Scalar(), number)) {
      long long v = std::stoll(n.Scalar().substr(0, 12));
      if (v >= min && v <= max) return static_cast<int>(v);
      d_.error(ErrorKind::InvalidValue, pos_of(n, file),
               fmt::format("'{}' is {}, outside {}..{}", what, n.Scalar(), min, max));
      return def;
    }
    d_.error(ErrorKind::WrongType, pos_of(n, file), fmt::format("'{}' must be a whole number", what));
    return def;
  }

  Duration duration(const YAML::Node& n, const std::string& file, const std::string& what, Duration def) {
    if (!n) return def;
    if (n.IsScalar())
      if (auto d = parse_duration(n.Scalar())) return *d;
    d_.error(ErrorKind::InvalidDuration, pos_of(n, file),
             fmt::format("'{}' is not a duration: '{}'", what, n.IsScalar() ? n.Scalar() : "(not a value)"),
             duration_hint());
    return def;
  }

  std::vector<std::string> text_list(const YAML::Node& n, const std::string& file, const std::string& what) {
    std::vector<std::string> out;
    if (!n) return out;
    if (n.IsScalar()) return {n.Scalar()};
    if (!n.IsSequence()) {
      d_.error(ErrorKind::WrongType, pos_of(n, file), fmt::format("'{}' must be a list", what),
               "write [a, b] or one '- item' per line");
      return out;
    }
    for (auto item : n) out.push_back(text(item, file, what));
    return out;
  }

  std::string secret(const YAML::Node& n, const std::string& file, const std::string& what) {
    std::string v = text(n, file, what);
    if (v.empty() || parse_secret_ref(v)) return v;
    // Never echo the value: it may be the password itself.
    d_.error(ErrorKind::InvalidSecret, pos_of(n, file),
             fmt::format("'{}' must be a secret reference, not a literal value", what), secret_ref_hint());
    return {};
  }

  // --- environment -------------------------------------------------------

  void load_environment_file(const std::string& path, const SourcePos& from, Environment& env) {
    YAML::Node n = read(path, from);
    if (!n.IsDefined() || n.IsNull()) return;
    parse_environment(n, path, env);
  }

  /// `per_host` settings may also name the address to connect to (like
  /// ssh_config's HostName), for hosts the engine knows by another address.
  void parse_ssh(const YAML::Node& n, const std::string& file, SshSettings& ssh, bool per_host) {
    if (!n) return;
    if (!is_map(n, file, "'ssh'")) return;
    std::vector<std::string> keys = {"user", "port", "key", "key_passphrase", "known_hosts", "password", "accept_new_host_key"};
    if (per_host) keys.push_back("address");
    check_keys(n, file, keys, per_host ? "a host's ssh settings" : "ssh settings");
    if (per_host && n["address"]) ssh.address = typed(n["address"], file, "address", TextKind::HostAddress);
    if (n["user"]) ssh.user = typed(n["user"], file, "user", TextKind::SshUser);
    if (n["port"]) ssh.port = integer(n["port"], file, "port", 22, 1, 65535);
    if (n["key"]) ssh.key = typed(n["key"], file, "key", TextKind::LocalPath);
    if (n["key_passphrase"]) ssh.key_passphrase = secret(n["key_passphrase"], file, "key_passphrase");
    if (n["known_hosts"]) ssh.known_hosts = typed(n["known_hosts"], file, "known_hosts", TextKind::LocalPath);
    if (n["password"]) ssh.password = secret(n["password"], file, "password");
    ssh.accept_new_host_key = boolean(n["accept_new_host_key"], file, "accept_new_host_key", ssh.accept_new_host_key);
    for (auto& [key, at] : written_at(n, file)) ssh.written_at[key] = at;
  }

  HostSpec parse_host(const YAML::Node& n, const std::string& file, const SshSettings& defaults,
                      const std::string& what, bool need_name) {
    HostSpec h;
    h.pos = pos_of(n, file);
    h.ssh = defaults;
    if (!is_map(n, file, what.c_str())) return h;
    check_keys(n, file, {"name", "address", "hardware_id", "roles", "ssh", "path"}, what);
    h.written_at = written_at(n, file);
    if (need_name)
      h.name = required_typed(n, "name", file, what, "every host needs the name the engine knows it by",
                              TextKind::EngineName);
    h.address = required_typed(n, "address", file, what, "the FQDN or IP address to reach it at", TextKind::HostAddress);
    h.hardware_id = text(n["hardware_id"], file, "hardware_id");
    h.roles = text_list(n["roles"], file, "roles");
    YAML::Node roles = n["roles"];
    for (size_t i = 0; i < h.roles.size(); ++i) {
      const auto& known = known_host_roles();
      if (std::find(known.begin(), known.end(), h.roles[i]) != known.end()) continue;
      YAML::Node at = roles.IsSequence() ? roles[i] : roles;
      std::string hint = did_you_mean(h.roles[i], known);
      d_.error(ErrorKind::InvalidValue, pos_of(at, file), fmt::format("unknown role '{}'", h.roles[i]),
               hint.empty() ? one_of(known) : hint);
    }
    parse_ssh(n["ssh"], file, h.ssh, true);
    return h;
  }

  static bool names_ovm_manager(const YAML::Node& hosts) {
    if (!hosts || !hosts.IsSequence()) return false;
    for (auto h : hosts) {
      YAML::Node roles = h.IsMap() ? h["roles"] : YAML::Node();
      if (roles && roles.IsSequence())
        for (auto r : roles)
          if (r.IsScalar() && r.Scalar() == "ovm_manager") return true;
    }
    return false;
  }

  void parse_environment(const YAML::Node& n, const std::string& file, Environment& env) {
    env.file = file;
    env.base_dir = fs::path(file).parent_path().string();
    if (!is_map(n, file, "an environment")) return;
    check_keys(n, file, {"environment", "description", "mode", "engine", "ssh", "hosts", "backup_storage"},
               "an environment");
    env.name = text(n["environment"], file, "environment");
    if (n["mode"]) {
      env.mode = text(n["mode"], file, "mode");
      if (env.mode != "real" && env.mode != "rehearsal")
        d_.error(ErrorKind::InvalidValue, pos_of(n["mode"], file), fmt::format("unknown mode '{}'", env.mode),
                 "real (a production engine) or rehearsal (a lab)");
    }
    parse_ssh(n["ssh"], file, env.ssh_defaults, false);

    YAML::Node e = n["engine"];
    if (!e && names_ovm_manager(n["hosts"])) {
      // An Oracle VM environment: its manager is reached over SSH (ovm.cli), no oVirt engine.
    } else if (!e) {
      d_.error(ErrorKind::MissingKey, pos_of(n, file), "the environment has no 'engine'",
               "add engine: with fqdn, user, password (env:NAME) and ca_file or ca_fingerprint");
    } else if (is_map(e, file, "'engine'")) {
      check_keys(e, file, {"fqdn", "api_url", "user", "password", "ca_file", "ca_fingerprint",
                           "trust_on_first_use", "datacenter", "cluster", "poll_interval", "vm"},
                 "'engine'");
      auto& eng = env.engine;
      eng.written_at = written_at(e, file);
      eng.fqdn = required_typed(e, "fqdn", file, "'engine'", "the engine's FQDN, e.g. engine.example.com",
                                TextKind::HostAddress);
      eng.api_url = e["api_url"] ? typed(e["api_url"], file, "api_url", TextKind::Url)
                                 : "https://" + eng.fqdn + "/ovirt-engine/api";
      eng.user = e["user"] ? text(e["user"], file, "user") : "admin@internal";
      if (!e["password"])
        d_.error(ErrorKind::MissingKey, pos_of(e, file), "'engine' needs 'password'",
                 "a secret reference such as password: env:ENGINE_PASSWORD");
      else
        eng.password = secret(e["password"], file, "password");
      eng.ca_file = typed(e["ca_file"], file, "ca_file", TextKind::LocalPath);
      eng.ca_fingerprint = text(e["ca_fingerprint"], file, "ca_fingerprint");
      eng.trust_on_first_use = boolean(e["trust_on_first_use"], file, "trust_on_first_use", false);
      if (!eng.ca_fingerprint.empty()) {
        static const std::regex fp("SHA256:([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}|SHA256:[0-9A-Fa-f]{64}");
        if (!std::regex_match(eng.ca_fingerprint, fp))
          d_.error(ErrorKind::InvalidValue, pos_of(e["ca_fingerprint"], file), "ca_fingerprint is not a SHA-256 fingerprint",
                   "write SHA256: followed by 64 hex digits (colons allowed), as `openssl x509 -fingerprint -sha256` prints");
      }
      if (eng.ca_file.empty() && eng.ca_fingerprint.empty() && !eng.trust_on_first_use)
        d_.error(ErrorKind::MissingKey, pos_of(e, file), "'engine' says nothing about how to trust its TLS certificate",
                 "give ca_file (the engine CA), or ca_fingerprint to pin the CA fetched from the engine, "
                 "or trust_on_first_use: true to fetch it once and print its fingerprint");
      eng.datacenter = e["datacenter"] ? text(e["datacenter"], file, "datacenter") : "Default";
      eng.cluster = e["cluster"] ? text(e["cluster"], file, "cluster") : "Default";
      eng.poll_interval = duration(e["poll_interval"], file, "poll_interval", eng.poll_interval);
      if (e["vm"]) {
        eng.has_vm = true;
        eng.vm = parse_host(e["vm"], file, env.ssh_defaults, "'engine.vm'", false);
        eng.vm.name = "engine";
      }
    }

    YAML::Node hosts = n["hosts"];
    if (hosts && !hosts.IsSequence()) {
      d_.error(ErrorKind::WrongType, pos_of(hosts, file), "'hosts' must be a list", "one '- name: ...' entry per host");
    } else if (hosts) {
      for (auto h : hosts) {
        HostSpec spec = parse_host(h, file, env.ssh_defaults, "a host", true);
        if (spec.name == "engine" || spec.name == "backup_storage" || spec.name == "local")
          d_.error(ErrorKind::InvalidValue, pos_of(h["name"], file),
                   fmt::format("'{}' is reserved as an SSH target name", spec.name), "name the host as the engine knows it");
        if (!spec.name.empty() && env.find_host(spec.name))
          d_.error(ErrorKind::DuplicateHost, pos_of(h["name"], file), fmt::format("host '{}' is listed twice", spec.name),
                   fmt::format("first listed at {}", env.find_host(spec.name)->pos.str()));
        env.hosts.push_back(std::move(spec));
      }
    }

    YAML::Node b = n["backup_storage"];
    if (b && is_map(b, file, "'backup_storage'")) {
      env.backup_storage.configured = true;
      env.backup_storage.host = parse_host(b, file, env.ssh_defaults, "'backup_storage'", false);
      env.backup_storage.host.name = "backup_storage";
      env.backup_storage.path =
          required_typed(b, "path", file, "'backup_storage'", "the directory backups go to", TextKind::RemotePath);
    }
  }

  // --- procedure ---------------------------------------------------------

  void parse_param_decls(const YAML::Node& n, const std::string& file, Plan& plan) {
    if (!n) return;
    if (!is_map(n, file, "'params'")) return;
    check_duplicates(n, file, "'params'");
    static const std::vector<std::string> types = {"string", "int", "bool", "list", "map", "duration", "secret",
                                                    "address", "hostname", "user", "path", "filename", "url"};
    for (auto it = n.begin(); it != n.end(); ++it) {
      ParamDecl p;
      p.name = it->first.as<std::string>("");
      p.pos = pos_of(it->first, file);
      YAML::Node spec = it->second;
      if (spec.IsMap()) {
        check_keys(spec, file, {"type", "required", "default", "description"}, "a parameter");
        if (spec["type"]) {
          p.type = text(spec["type"], file, "type");
          if (std::find(types.begin(), types.end(), p.type) == types.end()) {
            std::string hint = did_you_mean(p.type, types);
            d_.error(ErrorKind::InvalidValue, pos_of(spec["type"], file), fmt::format("unknown parameter type '{}'", p.type),
                     hint.empty() ? one_of(types) : hint);
          }
        }
        p.required = boolean(spec["required"], file, "required", false);
        p.default_value = spec["default"];
        p.description = text(spec["description"], file, "description");
      } else {
        p.default_value = spec;  // `name: value` is a parameter with a default
      }
      plan.param_decls.push_back(std::move(p));
    }
  }

  void parse_vars(const YAML::Node& n, const std::string& file, Plan& plan) {
    if (!n) return;
    if (!is_map(n, file, "'vars'")) return;
    check_duplicates(n, file, "'vars'");
    for (auto it = n.begin(); it != n.end(); ++it) {
      plan.vars.emplace_back(it->first.as<std::string>(""), it->second);
      plan.var_pos.push_back(pos_of(it->first, file));
    }
  }

  void parse_steps(const YAML::Node& n, const std::string& file, const SourcePos& doc_pos, Plan& plan) {
    if (!n) {
      d_.error(ErrorKind::MissingKey, doc_pos, "the procedure has no 'steps'", "add steps: with one '- id: ...' entry per step");
      return;
    }
    if (!n.IsSequence()) {
      d_.error(ErrorKind::WrongType, pos_of(n, file), "'steps' must be a list", "one '- id: ...' entry per step");
      return;
    }
    for (auto s : n) {
      if (s.IsMap() && s["steps"] && s["parallel"])
        d_.error(ErrorKind::RuleViolation, pos_of(s, file),
                 "a block has 'steps' (a pipeline) or 'parallel' (a group), not both",
                 "keep foreach + steps to run each item through the steps, or parallel to run the steps side by side");
      else if (s.IsMap() && s["steps"]) parse_block(s, file, plan);
      else if (s.IsMap() && s["parallel"]) parse_group(s, file, plan);
      else plan.steps.push_back(parse_step(s, file));
    }
  }

  /// The `id` of a step or block: required, and only characters the
  /// journal, --from and the reports can name it by.
  std::string stable_id(const YAML::Node& n, const std::string& file, const std::string& what, const char* example) {
    std::string id = required_text(n, "id", file, "a " + what,
                                   fmt::format("every {} needs a stable id, e.g. id: {}", what, example));
    static const std::regex id_re("[a-z0-9][a-z0-9_-]*");
    if (!id.empty() && !std::regex_match(id, id_re))
      d_.error(ErrorKind::InvalidId, pos_of(n["id"], file), fmt::format("{} id '{}' has characters ids cannot have", what, id),
               "use lowercase letters, digits, '-' and '_', starting with a letter or digit");
    return id;
  }

  /// A block: its steps join the plan's, each carrying the block's loop and
  /// concurrency, so everything that reads steps (journal, status, reports,
  /// --from) reads a block's without knowing about blocks.
  void parse_block(const YAML::Node& n, const std::string& file, Plan& plan) {
    Block b;
    b.pos = pos_of(n, file);
    check_keys(n, file, {"id", "name", "foreach", "concurrency", "steps"}, "a block (a step with 'steps')");
    b.id = stable_id(n, file, "block", "replace-dead-hosts");
    b.name = n["name"] ? text(n["name"], file, "name") : b.id;
    Foreach loop = parse_foreach(n["foreach"], file);
    if (loop.kind == Foreach::Kind::None && !n["foreach"])
      d_.error(ErrorKind::MissingKey, b.pos, fmt::format("block '{}' has no 'foreach'", b.id),
               "a block runs its steps for each item of a list: add foreach: {items: ..., as: NAME}");
    int concurrency = 1;
    YAML::Node concurrency_expr;
    if (n["concurrency"]) {
      if (n["concurrency"].IsScalar() && n["concurrency"].Scalar().find("${") != std::string::npos)
        concurrency_expr = n["concurrency"];
      else
        concurrency = integer(n["concurrency"], file, "concurrency", 1, 1, 64);
    }
    YAML::Node steps = n["steps"];
    if (!steps.IsSequence() || steps.size() == 0) {
      d_.error(ErrorKind::WrongType, pos_of(steps, file), "a block's 'steps' must be a list of steps",
               "one '- id: ...' entry per step each item goes through, in order");
      return;
    }
    b.first = plan.steps.size();
    for (auto inner : steps) {
      if (inner.IsMap() && (inner["steps"] || inner["parallel"])) {
        d_.error(ErrorKind::RuleViolation, pos_of(inner, file), "a block cannot hold another block",
                 "list the inner block's steps in this block: each item goes through all of them in order");
        continue;
      }
      for (const char* key : {"foreach", "concurrency"})
        if (inner.IsMap() && inner[key])
          d_.error(ErrorKind::RuleViolation, pos_of(inner[key], file),
                   fmt::format("'{}' of a step inside block '{}': the block's own applies", key, b.id),
                   "remove it; the block's foreach and concurrency apply to each of its steps");
      Step s = parse_step(inner, file, true);
      s.block = static_cast<int>(plan.blocks.size());
      s.foreach = loop;
      s.concurrency = concurrency;
      s.concurrency_expr = concurrency_expr;
      plan.steps.push_back(std::move(s));
    }
    b.count = plan.steps.size() - b.first;
    plan.blocks.push_back(std::move(b));
  }

  /// A group: its steps run side by side, each once. A loop stays a step
  /// of its own (its items already run side by side, `concurrency` at a
  /// time); what one step of the group yields, the others cannot use
  /// (checked with the references).
  void parse_group(const YAML::Node& n, const std::string& file, Plan& plan) {
    Block g;
    g.kind = Block::Kind::Parallel;
    g.pos = pos_of(n, file);
    check_keys(n, file, {"id", "name", "parallel"}, "a group (a step with 'parallel')");
    g.id = stable_id(n, file, "group", "preflight");
    g.name = n["name"] ? text(n["name"], file, "name") : g.id;
    YAML::Node steps = n["parallel"];
    if (!steps.IsSequence() || steps.size() == 0) {
      d_.error(ErrorKind::WrongType, pos_of(steps, file), "a group's 'parallel' must be a list of steps",
               "one '- id: ...' entry per step to run side by side");
      return;
    }
    g.first = plan.steps.size();
    for (auto inner : steps) {
      if (inner.IsMap() && (inner["steps"] || inner["parallel"])) {
        d_.error(ErrorKind::RuleViolation, pos_of(inner, file), "a group cannot hold a block",
                 "put the block before or after the group");
        continue;
      }
      if (inner.IsMap() && (inner["foreach"] || inner["concurrency"])) {
        d_.error(ErrorKind::RuleViolation, pos_of(inner["foreach"] ? inner["foreach"] : inner["concurrency"], file),
                 fmt::format("a loop inside group '{}'", g.id),
                 "a step of a group runs once; put the loop in a step of its own (its items run side by side, "
                 "'concurrency' at a time)");
        continue;
      }
      Step s = parse_step(inner, file);
      s.block = static_cast<int>(plan.blocks.size());
      plan.steps.push_back(std::move(s));
    }
    g.count = plan.steps.size() - g.first;
    plan.blocks.push_back(std::move(g));
  }

  /// `in_block`: its loop and concurrency are the block's (checked there).
  Step parse_step(const YAML::Node& n, const std::string& file, bool in_block = false) {
    Step s;
    s.pos = pos_of(n, file);
    if (!is_map(n, file, "a step")) return s;
    check_keys(n, file, {"id", "name", "uses", "with", "when", "foreach", "concurrency", "timeout", "retry",
                         "on_failure", "runs_in"},
               "a step");
    s.id = stable_id(n, file, "step", "fence-dead-hosts");
    s.name = n["name"] ? text(n["name"], file, "name") : s.id;
    s.uses = required_text(n, "uses", file, "a step", "name its step type, e.g. uses: engine.host.maintenance");
    if (!s.uses.empty()) {
      s.type = StepCatalog::builtin().find(s.uses);
      if (!s.type) {
        std::string hint = did_you_mean(s.uses, StepCatalog::builtin().names());
        d_.error(ErrorKind::UnknownStepType, pos_of(n["uses"], file), fmt::format("unknown step type '{}'", s.uses),
                 hint.empty() ? "`she-restore steps` lists the step types" : hint);
      }
    }
    YAML::Node with = n["with"];
    if (with && !with.IsMap()) {
      d_.error(ErrorKind::WrongType, pos_of(with, file), "'with' must be a mapping of parameters",
               "write 'with:' followed by 'name: value' lines");
    } else if (with) {
      check_duplicates(with, file, "'with'");
      for (auto it = with.begin(); it != with.end(); ++it) {
        std::string key = it->first.as<std::string>("");
        if (s.type && !s.type->param(key)) {
          std::vector<std::string> names;
          for (auto& p : s.type->params()) names.push_back(p.name);
          std::string hint = did_you_mean(key, names);
          d_.error(ErrorKind::UnknownParam, pos_of(it->first, file),
                   fmt::format("step type {} has no parameter '{}'", s.uses, key),
                   hint.empty() ? (names.empty() ? std::string("it takes no parameters")
                                                 : "its parameters: " + fmt::format("{}", fmt::join(names, ", ")))
                                : hint);
        }
        s.with.emplace_back(key, it->second);
      }
    }
    if (s.type && (!with || with.IsMap()))
      for (auto& p : s.type->params())
        if (p.required && !s.param(p.name))
          d_.error(ErrorKind::MissingParam, pos_of(with ? with : n, file),
                   fmt::format("step '{}' ({}) needs parameter '{}'", s.id, s.uses, p.name),
                   fmt::format("{}: {}", p.name, p.help));
    if (n["when"]) {
      s.when = text(n["when"], file, "when");
      s.when_pos = pos_of(n["when"], file);
      if (n["when"].Tag() == "!") s.when_pos.column += 1;  // inside the quote
      // `when` is a bare expression; one `${...}` around all of it is tolerated.
      std::string expr = s.when;
      if (expr.size() > 3 && expr.rfind("${", 0) == 0 && expr.back() == '}' &&
          expr.find("${", 2) == std::string::npos) {
        expr = expr.substr(2, expr.size() - 3);
        s.when_pos.column += 2;
      }
      ExprError err;
      if (expr.find("${") != std::string::npos) {
        d_.error(ErrorKind::InvalidExpression, s.when_pos, "'when' is an expression, not a string with ${...} in it",
                 "write it bare, e.g. when: params.count == 1");
      } else if (!(s.when_expr = parse_expression(expr, &err))) {
        SourcePos at = s.when_pos;
        at.column += static_cast<int>(err.offset);
        d_.error(ErrorKind::InvalidExpression, at, fmt::format("'when' is not a valid expression: {}", err.message),
                 "e.g. when: params.deploy_flow == 'automated' and steps.find-stale.found");
      }
    }
    if (!in_block) s.foreach = parse_foreach(n["foreach"], file);
    if (n["concurrency"] && !in_block) {
      if (n["concurrency"].IsScalar() && n["concurrency"].Scalar().find("${") != std::string::npos)
        s.concurrency_expr = n["concurrency"];
      else
        s.concurrency = integer(n["concurrency"], file, "concurrency", 1, 1, 64);
      if (s.foreach.kind == Foreach::Kind::None)
        d_.error(ErrorKind::RuleViolation, pos_of(n["concurrency"], file), "'concurrency' only applies to a step with 'foreach'",
                 "remove it, or add foreach:");
    }
    s.written_at = written_at(n, file);
    s.timeout = duration(n["timeout"], file, "timeout", s.timeout);
    s.retry = parse_retry(n["retry"], file);
    if (n["on_failure"]) {
      std::string f = text(n["on_failure"], file, "on_failure");
      static const std::vector<std::string> choices = {"stop", "continue", "pause"};
      if (f == "stop") s.on_failure = OnFailure::Stop;
      else if (f == "continue") s.on_failure = OnFailure::Continue;
      else if (f == "pause") s.on_failure = OnFailure::Pause;
      else {
        std::string hint = did_you_mean(f, choices);
        d_.error(ErrorKind::InvalidValue, pos_of(n["on_failure"], file), fmt::format("unknown on_failure '{}'", f),
                 hint.empty() ? one_of(choices) : hint);
      }
    }
    if (n["runs_in"]) {
      s.in_rehearsal = s.in_real = false;
      auto modes = text_list(n["runs_in"], file, "runs_in");
      if (modes.empty())
        d_.error(ErrorKind::InvalidValue, pos_of(n["runs_in"], file), "'runs_in' is empty: the step would never run",
                 "rehearsal, real, or both; or remove the key to run in both");
      for (auto& m : modes) {
        if (m == "rehearsal") s.in_rehearsal = true;
        else if (m == "real") s.in_real = true;
        else {
          std::string hint = did_you_mean(m, {"rehearsal", "real"});
          d_.error(ErrorKind::InvalidValue, pos_of(n["runs_in"], file), fmt::format("unknown run mode '{}'", m),
                   hint.empty() ? "rehearsal, real, or both as a list" : hint);
        }
      }
    }
    return s;
  }

  Foreach parse_foreach(const YAML::Node& n, const std::string& file) {
    Foreach f;
    if (!n) return f;
    f.pos = pos_of(n, file);
    if (n.IsSequence() || n.IsScalar()) {
      f.kind = Foreach::Kind::Items;
      f.items = n;
      return f;
    }
    if (!is_map(n, file, "'foreach'")) return f;
    check_keys(n, file, {"items", "hosts", "as"}, "'foreach'");
    if (n["as"]) {
      f.as = text(n["as"], file, "as");
      static const std::regex name_re("[a-z_][a-z0-9_]*");
      static const std::vector<std::string> reserved = {"params", "vars", "env", "steps", "run", "and", "or", "not", "in"};
      if (!std::regex_match(f.as, name_re) || std::find(reserved.begin(), reserved.end(), f.as) != reserved.end())
        d_.error(ErrorKind::InvalidId, pos_of(n["as"], file), fmt::format("'{}' cannot name a loop variable", f.as),
                 "use a lowercase name that is not params, vars, env, steps or run");
    }
    if (n["items"] && n["hosts"]) {
      d_.error(ErrorKind::RuleViolation, f.pos, "'foreach' takes either 'items' or 'hosts', not both");
    } else if (n["items"]) {
      f.kind = Foreach::Kind::Items;
      f.items = n["items"];
    } else if (n["hosts"]) {
      f.kind = Foreach::Kind::HostQuery;
      YAML::Node q = n["hosts"];
      if (!is_map(q, file, "'foreach.hosts'")) return f;
      check_keys(q, file, {"status", "hosted_engine", "exclude"}, "a host query");
      f.statuses = text_list(q["status"], file, "status");
      const auto& known = engine_api::host_statuses();
      for (size_t i = 0; i < f.statuses.size(); ++i) {
        if (std::find(known.begin(), known.end(), f.statuses[i]) != known.end()) continue;
        YAML::Node at = q["status"].IsSequence() ? q["status"][i] : q["status"];
        std::string hint = did_you_mean(f.statuses[i], known);
        d_.error(ErrorKind::InvalidValue, pos_of(at, file), fmt::format("'{}' is not a host status", f.statuses[i]),
                 hint.empty() ? one_of(known) : hint);
      }
      if (q["hosted_engine"]) {
        f.hosted_engine = text(q["hosted_engine"], file, "hosted_engine");
        if (f.hosted_engine == "true") f.hosted_engine = "yes";
        if (f.hosted_engine == "false") f.hosted_engine = "no";
        if (f.hosted_engine != "yes" && f.hosted_engine != "no" && f.hosted_engine != "any")
          d_.error(ErrorKind::InvalidValue, pos_of(q["hosted_engine"], file), "hosted_engine must be yes, no or any");
      }
      f.exclude = q["exclude"];
    } else {
      d_.error(ErrorKind::MissingKey, f.pos, "'foreach' needs 'items' or 'hosts'",
               "items: a list or ${...}; hosts: a query such as {status: [non_responsive]}");
    }
    return f;
  }

  RetryPolicy parse_retry(const YAML::Node& n, const std::string& file) {
    RetryPolicy r;
    if (!n) return r;
    if (n.IsScalar()) {
      r.attempts = integer(n, file, "retry", 1, 1, 100);
      return r;
    }
    if (!is_map(n, file, "'retry'")) return r;
    check_keys(n, file, {"attempts", "backoff", "max_backoff", "total", "on"}, "'retry'");
    r.attempts = integer(n["attempts"], file, "attempts", 3, 1, 100);
    r.backoff = duration(n["backoff"], file, "backoff", r.backoff);
    r.max_backoff = duration(n["max_backoff"], file, "max_backoff", r.max_backoff);
    r.total = duration(n["total"], file, "total", r.total);
    r.on = text_list(n["on"], file, "on");
    const auto& known = retryable_error_classes();
    for (auto& c : r.on)
      if (std::find(known.begin(), known.end(), c) == known.end()) {
        std::string hint = did_you_mean(c, known);
        d_.error(ErrorKind::InvalidValue, pos_of(n["on"], file), fmt::format("'{}' is not an error class", c),
                 hint.empty() ? one_of(known) : hint);
      }
    return r;
  }

  const LoadOptions& opts_;
  Diagnostics& d_;
  YAML::Node given_params_;
  std::string given_file_;
};

}  // namespace

std::optional<Plan> load_plan(const std::string& file, const LoadOptions& opts, Diagnostics& diags) {
  return Loader(opts, diags).load(file);
}

std::string find_procedure_file(const std::string& plan_file, const std::string& uses) {
  std::error_code ec;
  if (names_a_path(uses)) {
    std::string p = relative_to(plan_file, uses);
    return fs::is_regular_file(p, ec) ? p : std::string();
  }
  for (auto& dir : procedure_search_path()) {
    fs::path candidate = fs::path(dir) / (uses + ".yaml");
    if (fs::is_regular_file(candidate, ec)) return shown_path(candidate);
  }
  return {};
}

std::vector<std::string> procedure_search_path() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("SHE_RESTORE_PLANS_PATH")) {
    std::string s = env;
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find(':', start);
      if (end == std::string::npos) end = s.size();
      if (end > start) dirs.push_back(s.substr(start, end - start));
      start = end + 1;
    }
  }
  // An installed she-restore uses the plans installed with it, found from
  // its own path (a package unpacked anywhere, or a second prefix, must not
  // pick up another install's or a source tree's procedures). A build tree
  // has none there and uses its source tree's plans, so editing a procedure
  // takes effect without reinstalling. The configured prefix comes last.
  if (fs::path installed = installed_data_dir(); !installed.empty())
    if (std::error_code ec; fs::is_directory(installed / "plans", ec)) dirs.push_back((installed / "plans").string());
  dirs.push_back(SHE_RESTORE_SOURCE_PLANS);
  dirs.push_back(SHE_RESTORE_INSTALLED_PLANS);
  return dirs;
}

}  // namespace she
