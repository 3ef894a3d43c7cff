#include "orchestrator/redactor.h"

#include <algorithm>

#include "workflows/secret_ref.h"

namespace she {

namespace {
void collect_refs(const Value& v, std::vector<std::string>& out) {
  if (v.is_string()) {
    if (parse_secret_ref(v.get<std::string>())) out.push_back(v.get<std::string>());
  } else if (v.is_array() || v.is_object()) {
    for (auto& item : v) collect_refs(item, out);
  }
}
}  // namespace

std::vector<std::string> Redactor::plan_secret_refs(const Plan& plan) {
  std::vector<std::string> refs;
  collect_refs(plan.env.to_value(), refs);
  for (const SshSettings* ssh : {&plan.env.ssh_defaults, &plan.env.engine.vm.ssh, &plan.env.backup_storage.host.ssh}) {
    refs.push_back(ssh->key_passphrase);
    refs.push_back(ssh->password);
  }
  for (auto& h : plan.env.hosts) {
    refs.push_back(h.ssh.key_passphrase);
    refs.push_back(h.ssh.password);
  }
  collect_refs(plan.params, refs);
  collect_refs(plan.var_values, refs);
  Value roots = plan.roots(false);
  for (auto& s : plan.steps)
    if (s.type)
      for (auto& p : s.type->params())
        if (p.type == ParamType::Secret) {
          try {
            collect_refs(resolve_step_param(s, p, roots), refs);
          } catch (const std::exception&) {
          }
        }
  refs.erase(std::remove(refs.begin(), refs.end(), std::string()), refs.end());
  return refs;
}

void Redactor::preload(const Plan& plan, const SecretStore& store) {
  if (store.rehearsal()) return;
  for (auto& r : plan_secret_refs(plan)) {
    try {
      // Added here too, not only by the store's own callback: the store
      // may feed another redactor (or none), this one must hold the value.
      add_value(store.value(r));
    } catch (const SecretUnavailable&) {
      // Unset or unreadable now: reported where it is used, by reference.
    }
  }
}

void Redactor::add_value(const std::string& value) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Very short values would blank out ordinary words; none is a password.
  if (value.size() < 4 || std::find(values_.begin(), values_.end(), value) != values_.end()) return;
  values_.push_back(value);
  std::sort(values_.begin(), values_.end(), [](auto& a, auto& b) { return a.size() > b.size(); });
}

std::string Redactor::scrub(std::string text) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& v : values_)
    for (size_t at = text.find(v); at != std::string::npos; at = text.find(v, at + 10))
      text.replace(at, v.size(), "[redacted]");
  return text;
}

Value Redactor::scrub(const Value& v) const {
  if (v.is_string()) return Value(scrub(v.get<std::string>()));
  if (v.is_array()) {
    Value out = Value::array();
    for (auto& item : v) out.push_back(scrub(item));
    return out;
  }
  if (v.is_object()) {
    Value out = Value::object();
    for (auto it = v.begin(); it != v.end(); ++it) out[scrub(it.key())] = scrub(it.value());
    return out;
  }
  return v;
}

}  // namespace she
