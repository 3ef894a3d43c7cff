#include "orchestrator/plan_snapshot.h"

#include <fmt/format.h>

#include "base/digest.h"
#include "base/durable_file.h"

namespace she {

namespace {
std::string yaml_text(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "";
  YAML::Emitter e;
  e << n;
  return e.c_str();
}
}  // namespace

Value step_fingerprints(const Plan& plan) {
  Value out = Value::object();
  Value roots = plan.roots(true);
  for (auto& s : plan.steps) {
    Value def;
    def["uses"] = s.uses;
    def["name"] = s.name;
    for (auto& [k, node] : s.with) def["with"][k] = yaml_text(node);
    def["when"] = s.when;
    def["foreach"] = yaml_text(s.foreach.items) + "|" + yaml_text(s.foreach.exclude) + "|" +
                     fmt::format("{}", fmt::join(s.foreach.statuses, ",")) + "|" + s.foreach.hosted_engine + "|" +
                     s.foreach.as;
    def["concurrency"] = s.concurrency;
    def["timeout"] = s.timeout.count();
    def["retry"] = {s.retry.attempts, s.retry.backoff.count(), s.retry.max_backoff.count(), s.retry.total.count(), s.retry.on};
    def["on_failure"] = on_failure_name(s.on_failure);
    def["runs_in"] = {s.in_rehearsal, s.in_real};
    // Parameters as resolved now: a changed environment or plan parameter
    // changes the steps that use it, and only those.
    Value scope = roots;
    if (s.foreach.kind != Foreach::Kind::None) scope[s.foreach.as] = deferred(s.foreach.as);
    try {
      def["params"] = resolve_step_params(s, scope);
    } catch (const std::exception&) {
      def["params"] = nullptr;
    }
    out[s.id] = sha256_hex(dump_json(def)).substr(0, 16);
  }
  return out;
}

Value frozen_plan(const Plan& plan, const Value& fingerprints) {
  Value v;
  v["plan"] = plan.name;
  v["plan_file"] = plan.file;
  v["procedure"] = plan.procedure_name;
  v["procedure_file"] = plan.procedure_file;
  v["environment"] = plan.env.to_value();
  v["params"] = plan.params;
  v["vars"] = plan.var_values;
  v["steps"] = Value::array();
  for (auto& s : plan.steps)
    v["steps"].push_back({{"id", s.id}, {"name", s.name}, {"uses", s.uses}, {"fingerprint", fingerprints[s.id]}});
  v["sources"] = Value::object();
  for (const std::string& f : {plan.file, plan.procedure_file, plan.env.file}) {
    std::string text, err;
    if (!f.empty() && read_whole_file(f, &text, &err)) v["sources"][f] = text;
  }
  return v;
}

std::vector<std::string> changed_steps(const Value& before, const Value& now) {
  std::vector<std::string> out;
  for (auto it = now.begin(); it != now.end(); ++it) {
    if (!before.contains(it.key())) out.push_back(it.key() + ": added");
    else if (before[it.key()] != it.value()) out.push_back(it.key() + ": changed");
  }
  for (auto it = before.begin(); it != before.end(); ++it)
    if (!now.contains(it.key())) out.push_back(it.key() + ": removed");
  return out;
}

}  // namespace she
