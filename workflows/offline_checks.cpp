#include "workflows/offline_checks.h"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <memory>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <regex>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include "hosts/ssh_session.h"
#include "workflows/secret_ref.h"
#include "workflows/secret_store.h"
#include "workflows/step_expansion.h"

namespace she {

namespace {

// A CA bundle or a key is a few KiB; anything this big is the wrong file,
// and reading it whole would let a stray path cost memory.
constexpr off_t kMaxSettingFileBytes = 1 << 20;

/// Roles a procedure takes one host of: giving one to two hosts leaves the
/// run to guess which is meant (the first listed would silently win).
const std::vector<std::string> kSingularRoles = {"failover"};

/// "" when `path` is a regular file this process can read, else what is
/// wrong with it. Never opens it: a FIFO would block.
std::string file_problem(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return errno == ENOENT ? "does not exist" : fmt::format("cannot be examined: {}", std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return "is a directory, not a file";
  if (!S_ISREG(st.st_mode)) return "is not a regular file (a FIFO, device or socket)";
  if (::access(path.c_str(), R_OK) != 0) return fmt::format("cannot be read: {}", std::strerror(errno));
  if (st.st_size > kMaxSettingFileBytes) return fmt::format("is {} bytes, far too big for what it should hold", st.st_size);
  return {};
}

std::string read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text;
  text.resize(static_cast<size_t>(kMaxSettingFileBytes));
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;

Bio memory_bio(const std::string& text) {
  return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), BIO_free);
}

/// X.509 certificates in PEM form, as libcurl reads a CA file.
int count_pem_certificates(const std::string& text) {
  Bio bio = memory_bio(text);
  int n = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_free(cert);
    ++n;
  }
  ERR_clear_error();
  return n;
}

/// Whether the text holds a PEM block labelled "... PRIVATE KEY" (OpenSSH,
/// PKCS#8, RSA, EC): what libssh2 reads as a key file. A public key or a
/// known_hosts line is not one.
bool holds_pem_private_key(const std::string& text) {
  Bio bio = memory_bio(text);
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  bool found = false;
  while (!found && PEM_read_bio(bio.get(), &name, &header, &data, &len) == 1) {
    std::string label = name;
    found = label.size() >= 11 && label.compare(label.size() - 11, 11, "PRIVATE KEY") == 0;
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
  }
  ERR_clear_error();
  return found;
}

/// What the steps that run in this mode reach.
struct Needs {
  bool engine = false;  // engine.* steps talk to the engine's REST API
  bool ssh = false;     // a step names an SSH target (or may default to one)
};

Needs needs_of(const Plan& plan) {
  Needs n;
  for (auto& s : plan.steps) {
    if (!s.type || !runs_in_mode(plan, s)) continue;
    if (s.uses.rfind("engine.", 0) == 0) n.engine = true;
    for (auto& p : s.type->params()) {
      if (p.type != ParamType::SshTarget && p.type != ParamType::FileEndpoint) continue;
      const YAML::Node* given = s.param(p.name);
      if (given && given->IsScalar() && given->Scalar() == "local") continue;
      if (given || !p.default_value.is_null()) n.ssh = true;
    }
  }
  return n;
}

/// Each SSH target of the environment, with the settings it connects with.
struct SshUse {
  std::string name;
  std::string address;
  int port = 22;
  const SshSettings* ssh;
  SourcePos pos;
};

std::vector<SshUse> ssh_uses(const Environment& env) {
  std::vector<SshUse> out;
  int default_port = env.ssh_defaults.port ? env.ssh_defaults.port : 22;
  auto add = [&](const HostSpec& h) {
    std::string address = h.ssh.address.empty() ? h.address : h.ssh.address;
    out.push_back({h.name, address, h.ssh.port ? h.ssh.port : default_port, &h.ssh, h.pos});
  };
  for (auto& h : env.hosts) add(h);
  if (env.engine.has_vm) add(env.engine.vm);
  if (env.backup_storage.configured) add(env.backup_storage.host);
  return out;
}

SourcePos at_key(const WrittenAt& w, const std::string& key, const SourcePos& otherwise) {
  auto it = w.find(key);
  return it == w.end() ? otherwise : it->second;
}

/// The first scalar under `n` that `re` matches.
const YAML::Node* find_scalar(const YAML::Node& n, const std::regex& re, YAML::Node* holder) {
  if (!n.IsDefined()) return nullptr;
  if (n.IsScalar()) {
    if (!std::regex_search(n.Scalar(), re)) return nullptr;
    *holder = n;
    return holder;
  }
  for (auto it = n.begin(); it != n.end(); ++it) {
    const YAML::Node& child = n.IsMap() ? it->second : *it;
    if (auto found = find_scalar(child, re, holder)) return found;
  }
  return nullptr;
}

class Checker {
 public:
  Checker(const Plan& plan, const SecretStore& secrets, Diagnostics& d) : plan_(plan), secrets_(secrets), d_(d) {}

  void run() {
    Needs needs = needs_of(plan_);
    const Environment& env = plan_.env;
    if (needs.engine) {
      SourcePos engine_at{env.file, 1, 1};
      secret(env.engine.password, at_key(env.engine.written_at, "password", engine_at), "the engine password");
      ca_file();
    }
    if (needs.ssh) ssh_settings();
    secret_params();
    roles();
    timeouts();
  }

 private:
  void secret(const std::string& reference, const SourcePos& at, const std::string& what) {
    auto ref = parse_secret_ref(reference);
    if (!ref || !seen_.insert(reference + " " + at.str()).second) return;  // a literal is refused when loading
    std::string problem;
    if (ref->scheme == SecretRef::Scheme::File) problem = file_problem(ref->name);
    if (problem.empty()) {
      try {
        // The store, not a second resolver: a run's store hands the value
        // to its redactor. Only whether there is one is used here.
        if (secrets_.value(reference).empty()) problem = "is empty";
      } catch (const SecretUnavailable&) {
        problem = ref->scheme == SecretRef::Scheme::Env ? "is not set" : "has no first line to read";
      }
    }
    if (problem.empty()) return;
    bool env_var = ref->scheme == SecretRef::Scheme::Env;
    d_.error(ErrorKind::UnresolvedSecret, at,
             fmt::format("{} cannot be read: {} {} {}", what, env_var ? "the environment variable" : "the file",
                         ref->name, problem),
             env_var ? fmt::format("export {} in the shell that runs she-restore, or point the reference at a "
                                   "file (file:PATH, the secret on its first line, mode 0600)",
                                   ref->name)
                     : "put the secret on the first line of that file (mode 0600); a relative path is taken from "
                       "the directory she-restore runs in");
  }

  void ca_file() {
    const EngineSpec& eng = plan_.env.engine;
    if (eng.ca_file.empty()) return;
    std::string path = plan_.env.path(eng.ca_file);
    SourcePos at = at_key(eng.written_at, "ca_file", {plan_.env.file, 1, 1});
    const char* hint =
        "ca_file names the engine's CA certificate in PEM form (the engine serves it at "
        "/ovirt-engine/services/pki-resource?resource=ca-certificate&format=X509-PEM-CA); a relative path is taken "
        "from the environment file's directory";
    if (std::string problem = file_problem(path); !problem.empty()) {
      d_.error(ErrorKind::WrongFileKind, at, fmt::format("the engine CA file {} {}", path, problem), hint);
      return;
    }
    if (count_pem_certificates(read_small_file(path)) == 0)
      d_.error(ErrorKind::WrongFileKind, at,
               fmt::format("the engine CA file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path), hint);
  }

  void ssh_settings() {
    const Environment& env = plan_.env;
    std::vector<SshUse> uses = ssh_uses(env);
    // A loop over live hosts reaches the ones the environment does not
    // list with the default settings.
    SshUse defaults{"", "", 0, &env.ssh_defaults, {env.file, 1, 1}};
    std::map<std::string, std::vector<const SshUse*>> by_known_hosts;
    std::vector<const SshUse*> all = {&defaults};
    for (auto& u : uses) all.push_back(&u);
    for (const SshUse* u : all) {
      const SshSettings& s = *u->ssh;
      if (!s.key.empty()) key_file(s, u->pos);
      secret(s.key_passphrase, at_key(s.written_at, "key_passphrase", u->pos), "the SSH key passphrase");
      secret(s.password, at_key(s.written_at, "password", u->pos), "the SSH password");
      if (u == &defaults) continue;
      if (s.known_hosts.empty()) {
        d_.error(ErrorKind::MissingKey, u->pos,
                 fmt::format("no known_hosts is set for {}: its host key could not be checked, so it would be "
                             "refused",
                             u->name),
                 "set ssh.known_hosts (under ssh: for every host, or in this host's ssh:)");
        continue;
      }
      by_known_hosts[env.path(s.known_hosts)].push_back(u);
    }
    for (auto& [path, users] : by_known_hosts) known_hosts(path, users);
  }

  void key_file(const SshSettings& s, const SourcePos& otherwise) {
    std::string path = plan_.env.path(s.key);
    SourcePos at = at_key(s.written_at, "key", otherwise);
    if (!seen_.insert("key " + at.str()).second) return;
    const char* hint = "ssh.key names the private key (e.g. ~/.ssh/id_ed25519, not the .pub file); leave it out to "
                       "use ssh-agent";
    if (std::string problem = file_problem(path); !problem.empty())
      d_.error(ErrorKind::WrongFileKind, at, fmt::format("the SSH key {} {}", path, problem), hint);
    else if (!holds_pem_private_key(read_small_file(path)))
      d_.error(ErrorKind::WrongFileKind, at,
               fmt::format("the SSH key {} is not a private key file (no '-----BEGIN ... PRIVATE KEY-----' block)", path),
               hint);
  }

  void known_hosts(const std::string& path, const std::vector<const SshUse*>& users) {
    const SshSettings& first = *users.front()->ssh;
    SourcePos at = at_key(first.written_at, "known_hosts", users.front()->pos);
    bool all_accept_new = true;
    for (auto* u : users) all_accept_new = all_accept_new && u->ssh->accept_new_host_key;
    std::string problem = file_problem(path);
    if (problem == "does not exist" && all_accept_new) return;  // created with the first key accepted
    if (!problem.empty()) {
      d_.error(ErrorKind::WrongFileKind, at, fmt::format("known_hosts {} {}", path, problem),
               "known_hosts holds the host keys she-restore checks (as OpenSSH writes it: ssh-keyscan HOST >> FILE, "
               "after checking the keys out of band)");
      return;
    }
    std::vector<std::pair<std::string, int>> hosts;
    for (auto* u : users) hosts.emplace_back(u->address, u->port);
    auto reading = SshSession::read_known_hosts_file(path, hosts);
    if (!reading.error.empty()) {
      d_.error(ErrorKind::WrongFileKind, at, fmt::format("known_hosts {} does not parse: {}", path, reading.error),
               "each line is 'HOST KEYTYPE BASE64KEY' (or a hashed |1|... host); fix or remove the line it stops at");
      return;
    }
    for (size_t i : reading.unknown) {
      const SshUse& u = *users[i];
      if (u.ssh->accept_new_host_key) continue;
      d_.error(ErrorKind::WrongFileKind, u.pos,
               fmt::format("known_hosts {} has no key for {} ({}:{}): it would be refused as unknown", path, u.name,
                           u.address, u.port),
               fmt::format("add its key after checking it out of band (ssh-keyscan -p {} {} >> {}), or set "
                           "accept_new_host_key: true in its ssh settings",
                           u.port, u.address, path));
    }
  }

  /// Secret parameters: each bound reference, where it was written, and
  /// literal references in a step's own secret parameters.
  void secret_params() {
    for (auto& decl : plan_.param_decls) {
      if (decl.type != "secret" || !plan_.params.contains(decl.name)) continue;
      const Value& v = plan_.params[decl.name];
      auto at = plan_.param_pos.find(decl.name);
      if (v.is_string())
        secret(v.get<std::string>(), at == plan_.param_pos.end() ? decl.pos : at->second,
               fmt::format("parameter '{}'", decl.name));
    }
    for (auto& s : plan_.steps) {
      if (!s.type || !runs_in_mode(plan_, s)) continue;
      for (auto& p : s.type->params()) {
        const YAML::Node* given = s.param(p.name);
        if (p.type != ParamType::Secret || !given || !given->IsScalar()) continue;
        if (given->Scalar().find("${") != std::string::npos) continue;  // a parameter, checked above
        secret(given->Scalar(), source_pos(*given, plan_.procedure_file),
               fmt::format("step '{}' parameter '{}'", s.id, p.name));
      }
    }
  }

  void roles() {
    for (auto& role : kSingularRoles) {
      std::regex use("hosts_by_role\\s*(\\.\\s*" + role + "\\b|\\[\\s*['\"]" + role + "['\"]\\s*\\])");
      YAML::Node holder;
      const YAML::Node* found = nullptr;
      for (auto& [name, node] : plan_.vars)
        if (!found) found = find_scalar(node, use, &holder);
      for (auto& s : plan_.steps) {
        for (auto& [name, node] : s.with)
          if (!found) found = find_scalar(node, use, &holder);
        if (!found && std::regex_search(s.when, use)) return report_role(role, s.when_pos);
      }
      if (!found) continue;
      report_role(role, source_pos(*found, plan_.procedure_file));
    }
  }

  void report_role(const std::string& role, const SourcePos& used_at) {
    std::vector<const HostSpec*> holders;
    for (auto& h : plan_.env.hosts)
      if (h.has_role(role)) holders.push_back(&h);
    // None is reported where the procedure takes it ("does not exist").
    for (size_t i = 1; i < holders.size(); ++i)
      d_.error(ErrorKind::RoleCardinality, at_key(holders[i]->written_at, "roles", holders[i]->pos),
               fmt::format("{} hosts have the role '{}', and the procedure takes one ({}): {} also has it", holders.size(),
                           role, used_at.str(), holders[i]->name),
               fmt::format("give '{}' to exactly one host; {} has it at {}", role, holders[0]->name,
                           at_key(holders[0]->written_at, "roles", holders[0]->pos).str()));
  }

  /// A zero timeout fails every attempt at once, and a zero poll interval
  /// would hammer the engine. (Negative durations do not parse.)
  void timeouts() {
    for (auto& s : plan_.steps) {
      auto at = s.written_at.find("timeout");
      if (at != s.written_at.end() && s.timeout.count() <= 0)
        d_.error(ErrorKind::InvalidDuration, at->second, fmt::format("step '{}' has a timeout of 0: every attempt would time out at once", s.id),
                 "give the longest one attempt may take, e.g. timeout: 30m, or leave it out for the default 30m");
      for (auto& p : s.type ? s.type->params() : std::vector<ParamSchema>{}) {
        const YAML::Node* given = s.param(p.name);
        if (p.type != ParamType::Duration || !given || !given->IsScalar() ||
            p.name.find("timeout") == std::string::npos)
          continue;
        auto d = parse_duration(given->Scalar());
        if (d && d->count() <= 0)
          d_.error(ErrorKind::InvalidDuration, source_pos(*given, plan_.procedure_file),
                   fmt::format("step '{}' parameter '{}' is 0: the wait would give up at once", s.id, p.name),
                   "give how long to wait, e.g. 20m");
      }
    }
    const EngineSpec& eng = plan_.env.engine;
    if (eng.poll_interval.count() <= 0 && eng.written_at.count("poll_interval"))
      d_.error(ErrorKind::InvalidDuration, eng.written_at.at("poll_interval"),
               "engine.poll_interval is 0: waits would poll the engine without a pause",
               "e.g. poll_interval: 1s (it grows to 10s), or leave it out");
  }

  const Plan& plan_;
  const SecretStore& secrets_;
  Diagnostics& d_;
  std::set<std::string> seen_;  // settings shared by several hosts are reported once
};

}  // namespace

void check_offline(const Plan& plan, const SecretStore& secrets, Diagnostics& diags) {
  Checker(plan, secrets, diags).run();
}

std::vector<std::string> checks_needing_live_environment(const Plan& plan) {
  Needs needs = needs_of(plan);
  const EngineSpec& eng = plan.env.engine;
  std::vector<std::string> out;
  if (needs.engine) {
    out.push_back(fmt::format("the engine answers at {}", eng.api_url));
    out.push_back(!eng.ca_file.empty() ? fmt::format("the engine's certificate is signed by {}", eng.ca_file)
                  : !eng.ca_fingerprint.empty() ? "the CA the engine serves matches ca_fingerprint"
                                                : "the CA the engine serves (trusted on first use)");
    out.push_back(fmt::format("the engine accepts {} and its password", eng.user));
  }
  if (needs.ssh) {
    out.push_back("each host answers over SSH with the key known_hosts has for it");
    out.push_back("each host accepts the SSH login (key, ssh-agent or password)");
  }
  if (needs.engine || needs.ssh) out.push_back("hosts, VMs, files and names the steps read are there");
  return out;
}

}  // namespace she
