#include "workflows/plan.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <regex>

namespace she {

const std::vector<std::string>& retryable_error_classes() {
  static const std::vector<std::string> classes = {"transport", "timeout", "server", "conflict", "command"};
  return classes;
}

const char* on_failure_name(OnFailure f) {
  switch (f) {
    case OnFailure::Stop: return "stop";
    case OnFailure::Continue: return "continue";
    case OnFailure::Pause: return "pause";
  }
  return "?";
}

const YAML::Node* Step::param(const std::string& name) const {
  for (auto& [k, v] : with)
    if (k == name) return &v;
  return nullptr;
}

const Step* Plan::find_step(const std::string& id) const {
  int i = step_index(id);
  return i < 0 ? nullptr : &steps[static_cast<size_t>(i)];
}

int Plan::step_index(const std::string& id) const {
  for (size_t i = 0; i < steps.size(); ++i)
    if (steps[i].id == id) return static_cast<int>(i);
  if (const Block* b = find_block(id)) return static_cast<int>(b->first);
  return -1;
}

const Block* Plan::find_block(const std::string& id) const {
  for (const Block& b : blocks)
    if (b.id == id) return &b;
  return nullptr;
}

const Block* Plan::block_of(const Step& s) const {
  return s.block < 0 ? nullptr : &blocks[static_cast<size_t>(s.block)];
}

namespace {
/// Outputs of step `id` that `e` reads.
void collect_output_reads(const Expr& e, const std::string& id, std::vector<std::string>& out) {
  for (auto& r : references(e))
    if (r.path.size() >= 3 && r.path[0] == "steps" && r.path[1] == id && r.path[2].is_string() &&
        std::find(out.begin(), out.end(), r.path[2].get<std::string>()) == out.end())
      out.push_back(r.path[2].get<std::string>());
}

/// Outputs of step `id` that the templates in `n` read.
void collect_output_reads(const YAML::Node& n, const std::string& id, std::vector<std::string>& out) {
  if (!n.IsDefined() || n.IsNull()) return;
  if (n.IsScalar()) {
    if (n.Scalar().find("${") == std::string::npos) return;
    ExprError err;
    for (auto& part : parse_template(n.Scalar(), &err).parts)
      if (part.expr) collect_output_reads(*part.expr, id, out);
    return;
  }
  for (auto it = n.begin(); it != n.end(); ++it) collect_output_reads(n.IsMap() ? it->second : *it, id, out);
}
}  // namespace

std::vector<OutputUse> output_uses(const Plan& plan, const std::string& step_id) {
  std::vector<OutputUse> uses;
  bool later = false;
  for (const Step& s : plan.steps) {
    if (!later) {
      later = s.id == step_id;
      continue;
    }
    std::vector<std::string> read;
    for (const auto& [name, node] : s.with) collect_output_reads(node, step_id, read);
    if (s.when_expr) collect_output_reads(*s.when_expr, step_id, read);
    collect_output_reads(s.foreach.items, step_id, read);
    collect_output_reads(s.foreach.exclude, step_id, read);
    collect_output_reads(s.concurrency_expr, step_id, read);
    for (auto& o : read) uses.push_back({o, s.id});
  }
  return uses;
}

Value Plan::roots(bool dry_run) const {
  Value r;
  r["params"] = params;
  r["vars"] = var_values;
  r["env"] = env.to_value();
  r["run"] = {{"plan", name}, {"mode", env.mode}, {"dry_run", dry_run}, {"id", deferred("run.id")}};
  r["steps"] = Value::object();
  for (auto& s : steps) r["steps"][s.id] = deferred("steps." + s.id);
  return r;
}

namespace {
Value scalar_value(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return Value(s);  // quoted: always a string
  static const std::regex integer("[-+]?[0-9]+");
  static const std::regex real("[-+]?([0-9]+\\.[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?");
  if (s == "true" || s == "True") return Value(true);
  if (s == "false" || s == "False") return Value(false);
  if (s.empty() || s == "~" || s == "null") return Value(nullptr);
  if (std::regex_match(s, integer) && s.size() < 18) return Value(std::stoll(s));
  if (std::regex_match(s, real)) {
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (std::isfinite(d)) return Value(d);
  }
  return Value(s);
}
}  // namespace

Value resolve_node(const YAML::Node& node, const Scope& roots) {
  if (!node || node.IsNull()) return nullptr;
  if (node.IsScalar()) {
    Value v = scalar_value(node);
    if (!v.is_string() || v.get<std::string>().find("${") == std::string::npos) {
      if (v.is_string() && v.get<std::string>().find("$${") != std::string::npos) {
        ExprError err;
        return render(parse_template(v.get<std::string>(), &err), roots);
      }
      return v;
    }
    ExprError err;
    Template t = parse_template(v.get<std::string>(), &err);
    if (t.parts.empty()) throw EvalError(err.message);
    return render(t, roots);
  }
  if (node.IsSequence()) {
    Value out = Value::array();
    for (auto item : node) out.push_back(resolve_node(item, roots));
    return out;
  }
  Value out = Value::object();
  for (auto it = node.begin(); it != node.end(); ++it)
    out[it->first.as<std::string>("")] = resolve_node(it->second, roots);
  return out;
}

Value resolve_step_param(const Step& step, const ParamSchema& p, const Scope& roots) {
  if (const YAML::Node* n = step.param(p.name)) return resolve_node(*n, roots);
  if (p.default_value.is_string() && p.default_value.get<std::string>().find("${") != std::string::npos) {
    ExprError err;
    return render(parse_template(p.default_value.get<std::string>(), &err), roots);
  }
  return p.default_value;
}

Value resolve_step_params(const Step& step, const Scope& roots) {
  Value out = Value::object();
  if (!step.type) return out;
  for (auto& p : step.type->params()) out[p.name] = resolve_step_param(step, p, roots);
  return out;
}

SourcePos source_pos(const YAML::Node& n, const std::string& file) {
  YAML::Mark m = n.Mark();
  if (m.line < 0) return {file, 0, 0};
  return {file, m.line + 1, m.column + 1};
}

WrittenAt written_at(const YAML::Node& map, const std::string& file) {
  WrittenAt out;
  if (!map.IsMap()) return out;
  for (auto it = map.begin(); it != map.end(); ++it)
    if (it->first.IsScalar()) out.emplace(it->first.Scalar(), source_pos(it->second, file));
  return out;
}

}  // namespace she
