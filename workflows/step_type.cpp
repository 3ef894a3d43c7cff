#include "workflows/step_type.h"

#include "workflows/secret_store.h"
#include "workflows/typed_value.h"

#include <algorithm>
#include <fmt/format.h>


namespace she {

const char* kind_name(StepKind kind) {
  switch (kind) {
    case StepKind::Read: return "read";
    case StepKind::Idempotent: return "idempotent";
    case StepKind::Once: return "once";
  }
  return "?";
}

const char* type_name(ParamType type) {
  switch (type) {
    case ParamType::String: return "string";
    case ParamType::Int: return "integer";
    case ParamType::Bool: return "boolean";
    case ParamType::Duration: return "duration";
    case ParamType::StringList: return "list";
    case ParamType::Secret: return "secret reference";
    case ParamType::SshTarget: return "ssh target";
    case ParamType::FileEndpoint: return "ssh target or local";
    case ParamType::EngineHost: return "engine host";
    case ParamType::Choice: return "choice";
    case ParamType::Map: return "map";
    case ParamType::Any: return "any";
    case ParamType::HostAddress: return "host address";
    case ParamType::HostName: return "host name";
    case ParamType::RemotePath: return "remote path";
  }
  return "?";
}

std::string SshEndpoint::str() const {
  return fmt::format("{}@{} ({}:{})", user, name, address, port);
}

std::string EngineHostRef::id_or_placeholder() const {
  return id.empty() ? "<id of " + name + ">" : id;
}

StepContext::StepContext(const Environment& env, std::string step_id, Value params, const RunServices* services)
    : env_(env), step_id_(std::move(step_id)), params_(std::move(params)), services_(services) {}

const RunServices& StepContext::services() const {
  static const RunServices none;
  return services_ ? *services_ : none;
}

bool StepContext::has(const std::string& name) const {
  return params_.contains(name) && !params_[name].is_null() &&
         !(params_[name].is_string() && params_[name].get<std::string>().empty());
}

std::string StepContext::text(const std::string& name) const {
  return params_.contains(name) ? to_text(params_[name]) : std::string();
}

bool StepContext::flag(const std::string& name) const {
  return params_.contains(name) && truthy(params_[name]) && !is_deferred(params_[name]);
}

long long StepContext::number(const std::string& name) const {
  const Value& v = params_.contains(name) ? params_[name] : Value();
  return v.is_number() ? v.get<long long>() : 0;
}

std::vector<std::string> StepContext::texts(const std::string& name) const {
  std::vector<std::string> out;
  if (!params_.contains(name)) return out;
  const Value& v = params_[name];
  if (v.is_array())
    for (auto& item : v) out.push_back(to_text(item));
  else if (!v.is_null())
    out.push_back(to_text(v));
  return out;
}

SshEndpoint StepContext::ssh(const std::string& name) const {
  const Value& v = params_.contains(name) ? params_[name] : Value();
  SshEndpoint ep;
  ep.user = env_.ssh_defaults.user.empty() ? "root" : env_.ssh_defaults.user;
  ep.port = env_.ssh_defaults.port ? env_.ssh_defaults.port : 22;
  std::string target = v.is_object() && v.contains("name") ? to_text(v["name"]) : to_text(v);
  const SshSettings* ssh = &env_.ssh_defaults;
  if (is_deferred(v)) {
    // A live loop item known only at run time (a rehearsal): the run reaches
    // it by the environment's entry of that name, else at the address the
    // engine reports, with the default SSH settings.
    ep.name = to_text(deferred(deferred_text(v) + ".name"));
    ep.address = to_text(deferred(deferred_text(v) + ".address"));
  } else if (const HostSpec* h = env_.find_target(target)) {
    ep.name = h->name.empty() ? target : h->name;
    ep.address = h->ssh.address.empty() ? h->address : h->ssh.address;
    if (!h->ssh.user.empty()) ep.user = h->ssh.user;
    if (h->ssh.port) ep.port = h->ssh.port;
    ssh = &h->ssh;
    ep.settings_at = h->pos.file.empty() ? env_.file : h->pos.str();
  } else {
    ep.name = target;
    ep.address = v.is_object() && v.contains("address") ? to_text(v["address"]) : target;
  }
  ep.key = env_.path(ssh->key);
  ep.key_passphrase = ssh->key_passphrase;
  ep.password = ssh->password;
  ep.known_hosts = env_.path(ssh->known_hosts);
  ep.accept_new_host_key = ssh->accept_new_host_key;
  if (ep.settings_at.empty()) ep.settings_at = env_.file;
  return ep;
}

EngineHostRef StepContext::engine_host(const std::string& name) const {
  const Value& v = params_.contains(name) ? params_[name] : Value();
  EngineHostRef ref;
  if (v.is_object() && !is_deferred(v)) {
    ref.name = v.contains("name") ? to_text(v["name"]) : std::string();
    ref.id = v.contains("id") ? to_text(v["id"]) : std::string();
  } else if (is_deferred(v)) {
    // A live loop item: its id comes with it from the query.
    ref.name = to_text(deferred(deferred_text(v) + ".name"));
    ref.id = to_text(deferred(deferred_text(v) + ".id"));
  } else {
    ref.name = to_text(v);
  }
  return ref;
}

std::string StepContext::secret(const std::string& name) const {
  const SecretStore* store = services().secrets;
  if (!store) throw StepError("fatal", "no secret store here to read " + name);
  try {
    return store->value(text(name));
  } catch (const SecretUnavailable& e) {
    throw StepError("fatal", name + ": " + e.what());
  }
}

StepType::StepType(std::string name, StepKind kind, std::string summary,
                   std::vector<ParamSchema> params, std::vector<OutputSchema> outputs)
    : name_(std::move(name)), kind_(kind), summary_(std::move(summary)),
      params_(std::move(params)), outputs_(std::move(outputs)) {}

const ParamSchema* StepType::param(const std::string& name) const {
  for (auto& p : params_)
    if (p.name == name) return &p;
  return nullptr;
}

const OutputSchema* StepType::output(const std::string& name) const {
  for (auto& o : outputs_)
    if (o.name == name) return &o;
  return nullptr;
}

CheckResult StepType::check(const StepContext&, Value&) const { return CheckResult::Unknown; }

void StepType::check_values(const StepContext& ctx) const {
  for (const ParamSchema& p : params_) {
    TextKind kind;
    switch (p.type) {
      case ParamType::HostAddress: kind = TextKind::HostAddress; break;
      case ParamType::HostName: kind = TextKind::EngineName; break;
      case ParamType::RemotePath: kind = TextKind::RemotePath; break;
      default: continue;
    }
    const Value& v = ctx.params().contains(p.name) ? ctx.params()[p.name] : Value();
    // A host item of a live query stands for itself; an absent optional
    // value has nothing to check.
    if (v.is_null() || v.is_object()) continue;
    if (v.is_array()) throw StepRuleError(fmt::format("{} must be a single {}", p.name, text_kind_name(kind)));
    if (auto why = text_problem(kind, to_text(v)))
      throw StepRuleError(fmt::format("{} is not a {}: {}", p.name, text_kind_name(kind), *why));
  }
  check_rules(ctx);
}

StepResult StepType::apply(const StepContext&) const {
  throw NotImplemented(fmt::format("step type {}: running it is not implemented yet "
                                   "(use --dry-run to rehearse)", name_));
}

void StepType::verify(const StepContext&) const {}

namespace {
StepCatalog& builtin_catalog() {
  static StepCatalog catalog = [] {
    StepCatalog c;
    register_engine_steps(c);
    register_host_steps(c);
    register_backup_steps(c);
    register_postgres_steps(c);
    register_legacy_deploy_steps(c);
    register_retention_steps(c);
    register_metrics_steps(c);
    register_control_steps(c);
    register_ovm_steps(c);
    return c;
  }();
  return catalog;
}
}  // namespace

const StepCatalog& StepCatalog::builtin() { return builtin_catalog(); }

void StepCatalog::register_extra(std::unique_ptr<StepType> type) { builtin_catalog().add(std::move(type)); }

void StepCatalog::add(std::unique_ptr<StepType> type) { types_.push_back(std::move(type)); }

const StepType* StepCatalog::find(const std::string& name) const {
  for (auto& t : types_)
    if (t->name() == name) return t.get();
  return nullptr;
}

std::vector<std::string> StepCatalog::names() const {
  std::vector<std::string> out;
  for (auto& t : types_) out.push_back(t->name());
  return out;
}

}  // namespace she
