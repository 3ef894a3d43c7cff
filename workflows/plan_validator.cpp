#include "workflows/plan_validator.h"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <fmt/format.h>

#include "base/yaml_reader.h"
#include "workflows/secret_ref.h"
#include "workflows/typed_value.h"

namespace she {

namespace {

SourcePos pos_of(const YAML::Node& n, const std::string& file) { return source_pos(n, file); }

/// Where a reference sits: the scalar's position moved to the characters of
/// the expression (exact for one-line scalars).
SourcePos shifted(SourcePos p, size_t by) {
  if (p.line > 0) p.column += static_cast<int>(by);
  return p;
}

std::vector<std::string> keys_of(const Value& v) {
  std::vector<std::string> out;
  if (v.is_object())
    for (auto it = v.begin(); it != v.end(); ++it) out.push_back(it.key());
  return out;
}

/// Which names an expression may use where it stands.
struct RefScope {
  int step_index = -1;        // -1: not inside a step
  std::string loop_var;       // set inside a looping step's with/when
  bool allow_params = true;
  size_t vars_visible = 0;
  bool allow_steps = true;
};

class Validator {
 public:
  Validator(Plan& plan, Diagnostics& d) : plan_(plan), d_(d), env_(plan.env.to_value()) {}

  void bind_params(const YAML::Node& given, const std::string& given_file,
                   const std::vector<std::pair<std::string, std::string>>& cli) {
    struct Given { YAML::Node node; SourcePos pos; };
    std::map<std::string, Given> values;
    std::vector<std::string> declared;
    for (auto& p : plan_.param_decls) declared.push_back(p.name);
    auto accept = [&](const std::string& name, const YAML::Node& node, const SourcePos& pos) {
      if (std::find(declared.begin(), declared.end(), name) == declared.end()) {
        std::string hint = did_you_mean(name, declared);
        d_.error(ErrorKind::UnknownParam, pos,
                 fmt::format("procedure {} has no parameter '{}'", plan_.procedure_name, name),
                 hint.empty() ? (declared.empty() ? std::string("it takes no parameters")
                                                  : "its parameters: " + fmt::format("{}", fmt::join(declared, ", ")))
                              : hint);
        return;
      }
      values[name] = {node, pos};
    };
    if (given && given.IsMap()) {
      std::map<std::string, SourcePos> seen;
      for (auto it = given.begin(); it != given.end(); ++it) {
        std::string name = it->first.as<std::string>("");
        SourcePos pos = pos_of(it->first, given_file);
        if (auto [at, fresh] = seen.emplace(name, pos); !fresh) {
          d_.error(ErrorKind::DuplicateKey, pos, fmt::format("'{}' is given twice in 'with'", name),
                   fmt::format("keep one; the other is at {}", at->second.str()));
          continue;
        }
        accept(name, it->second, pos);
      }
    }
    for (auto& [name, text] : cli) {
      // Positions count within the value, as if it were a file of its own.
      std::string shown = "--param " + name;
      SourcePos pos{shown, 1, 1};
      if (std::optional<YAML::Node> n = parse_yaml_text(text, shown, d_))
        accept(name, *n, pos);
    }
    RefScope scope;
    scope.allow_params = false;
    scope.allow_steps = false;
    Value roots = base_roots(false);
    for (auto& decl : plan_.param_decls) {
      YAML::Node node;
      SourcePos pos = decl.pos;
      plan_.params[decl.name] = nullptr;  // until bound: a failed binding is reported once
      auto given_it = values.find(decl.name);
      bool given_empty = given_it != values.end() && is_empty(given_it->second.node);
      if (given_it != values.end() && !(given_empty && decl.required)) {
        node = given_it->second.node;
        pos = given_it->second.pos;
      } else if (decl.default_value && !decl.default_value.IsNull() && !given_empty) {
        node = decl.default_value;
        pos = pos_of(node, plan_.procedure_file);
      } else if (decl.required) {
        SourcePos at = given_empty ? given_it->second.pos : given ? pos_of(given, given_file) : SourcePos{given_file, 1, 1};
        failed_.insert("params." + decl.name);
        d_.error(ErrorKind::MissingParam, at,
                 fmt::format("procedure {} needs parameter '{}'{}{}", plan_.procedure_name, decl.name,
                             decl.description.empty() ? "" : " (" + decl.description + ")",
                             given_empty ? ", and it is given empty" : ""),
                 fmt::format("add it under 'with:' in the plan, or pass --param {}=VALUE", decl.name));
        continue;
      } else {
        continue;
      }
      plan_.param_pos[decl.name] = pos;
      size_t before = d_.all().size();
      if (check_node_refs(node, pos.file, scope)) {
        Value v = evaluate_node(node, roots, pos);
        // A refused value stays unbound: a secret refused here must not be
        // echoed later by an error about where it was used.
        if (check_param_decl_type(decl, v, pos)) plan_.params[decl.name] = v;
      }
      if (d_.all().size() != before) failed_.insert("params." + decl.name);
    }
  }

  void bind_vars() {
    for (size_t i = 0; i < plan_.vars.size(); ++i) {
      auto& [name, node] = plan_.vars[i];
      RefScope scope;
      scope.vars_visible = i;
      plan_.var_values[name] = nullptr;  // a failed variable is reported once, not at every use
      size_t before = d_.all().size();
      if (check_node_refs(node, plan_.procedure_file, scope) && !touches_failed(node))
        plan_.var_values[name] = evaluate_node(node, base_roots(false), plan_.var_pos[i]);
      if (d_.all().size() != before || touches_failed(node)) failed_.insert("vars." + name);
    }
  }

  /// Whether a value uses a parameter or variable that failed to bind (its
  /// error is reported; checking the value would only report it again).
  bool touches_failed(const YAML::Node& n) const {
    if (failed_.empty() || !n.IsDefined()) return false;
    if (n.IsScalar()) {
      if (n.Scalar().find("${") == std::string::npos) return false;
      ExprError err;
      Template t = parse_template(n.Scalar(), &err);
      for (auto& part : t.parts)
        if (part.expr)
          for (auto& r : references(*part.expr))
            if (r.path.size() >= 2 && r.path[1].is_string() &&
                failed_.count(r.path[0].get<std::string>() + "." + r.path[1].get<std::string>()))
              return true;
      return false;
    }
    for (auto it = n.begin(); it != n.end(); ++it)
      if (touches_failed(n.IsMap() ? it->second : *it)) return true;
    return false;
  }

  static bool is_empty(const YAML::Node& n) {
    return !n.IsDefined() || n.IsNull() || (n.IsScalar() && n.Scalar().empty());
  }

  void check_steps() {
    // Built once: ids and roots copied per step made 10,000 steps quadratic.
    for (size_t i = 0; i < plan_.steps.size(); ++i) step_ids_.emplace(plan_.steps[i].id, static_cast<int>(i));
    step_roots_ = base_roots(true);
    plain_roots_ = base_roots(false);
    std::map<std::string, const Step*> seen;
    std::map<std::string, SourcePos> block_seen;
    for (const Block& b : plan_.blocks) {
      auto step = step_ids_.find(b.id);
      auto other = block_seen.find(b.id);
      if (step != step_ids_.end() || other != block_seen.end())
        d_.error(ErrorKind::DuplicateStepId, b.pos,
                 fmt::format("{} id '{}' is used twice", b.kind == Block::Kind::Parallel ? "group" : "block", b.id),
                 fmt::format("also used at {}; step and block ids must be unique: --from and the journal refer to them",
                             step != step_ids_.end() ? plan_.steps[static_cast<size_t>(step->second)].pos.str()
                                                     : other->second.str()));
      block_seen.emplace(b.id, b.pos);
    }
    for (size_t i = 0; i < plan_.steps.size(); ++i) {
      Step& s = plan_.steps[i];
      if (s.id.empty()) {
        // already reported as a missing id
      } else if (auto it = seen.find(s.id); it != seen.end()) {
        d_.error(ErrorKind::DuplicateStepId, s.pos, fmt::format("step id '{}' is used twice", s.id),
                 fmt::format("first used at {}; ids must be unique: the journal and --from refer to them",
                             it->second->pos.str()));
      } else {
        seen[s.id] = &s;
      }
      if (!s.type) continue;
      check_step(s, static_cast<int>(i), step_roots_);
      if (s.foreach.kind != Foreach::Kind::None) step_roots_.erase(s.foreach.as);
    }
  }

 private:
  Value base_roots(bool with_steps) const {
    Value r = plan_.roots(true);
    if (!with_steps) r.erase("steps");
    return r;
  }

  Value evaluate_node(const YAML::Node& node, const Value& roots, const SourcePos& pos) {
    try {
      return resolve_node(node, roots);
    } catch (const EvalError& e) {
      d_.error(ErrorKind::InvalidExpression, pos, e.what(), "check the names and indexes in ${...}");
      return nullptr;
    }
  }

  // --- references ------------------------------------------------------

  bool check_node_refs(const YAML::Node& n, const std::string& file, const RefScope& scope) {
    if (!n) return true;
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      if (s.find("${") == std::string::npos) return true;
      ExprError err;
      Template t = parse_template(s, &err);
      size_t quote = n.Tag() == "!" ? 1 : 0;
      SourcePos base = pos_of(n, file);
      if (t.parts.empty()) {
        d_.error(ErrorKind::InvalidExpression, shifted(base, quote + err.offset),
                 fmt::format("invalid expression: {}", err.message),
                 "expressions look like ${params.name}, ${steps.STEP.OUTPUT} or ${env.engine.fqdn}");
        return false;
      }
      bool ok = true;
      for (auto& part : t.parts)
        if (part.expr) ok &= check_expr_refs(*part.expr, shifted(base, quote + part.offset), scope);
      return ok;
    }
    bool ok = true;
    if (n.IsSequence())
      for (auto item : n) ok &= check_node_refs(item, file, scope);
    if (n.IsMap())
      for (auto it = n.begin(); it != n.end(); ++it) ok &= check_node_refs(it->second, file, scope);
    return ok;
  }

  bool check_expr_refs(const Expr& e, const SourcePos& base, const RefScope& scope) {
    bool ok = true;
    for (auto& ref : references(e)) ok &= check_ref(ref, shifted(base, ref.offset), scope);
    return ok;
  }

  bool check_ref(const VarReference& r, const SourcePos& at, const RefScope& scope) {
    std::string root = r.path[0].get<std::string>();
    auto undefined = [&](std::string msg, std::string hint) {
      d_.error(ErrorKind::UndefinedVariable, at, std::move(msg), std::move(hint));
      return false;
    };
    auto segment = [&](size_t i) { return i < r.path.size() && r.path[i].is_string() ? r.path[i].get<std::string>() : std::string(); };
    if (!scope.loop_var.empty() && root == scope.loop_var) return true;
    if (root == "params" && scope.allow_params) {
      if (r.path.size() < 2) return true;
      std::vector<std::string> names;
      for (auto& p : plan_.param_decls) names.push_back(p.name);
      if (std::find(names.begin(), names.end(), segment(1)) != names.end()) return true;
      std::string hint = did_you_mean(segment(1), names);
      return undefined(fmt::format("parameter '{}' is not declared", segment(1)),
                       hint.empty() ? "declare it under 'params:' in the procedure" : hint);
    }
    if (root == "vars") {
      if (r.path.size() < 2) return true;
      std::vector<std::string> names;
      for (size_t i = 0; i < plan_.vars.size(); ++i) names.push_back(plan_.vars[i].first);
      size_t visible = scope.step_index >= 0 ? names.size() : scope.vars_visible;
      auto it = std::find(names.begin(), names.end(), segment(1));
      if (it != names.end() && static_cast<size_t>(it - names.begin()) < visible) return true;
      if (it != names.end())
        return undefined(fmt::format("variable '{}' is defined after this one", segment(1)),
                         "a variable can use only the variables above it");
      std::vector<std::string> shown(names.begin(), names.begin() + static_cast<long>(visible));
      std::string hint = did_you_mean(segment(1), shown);
      return undefined(fmt::format("variable '{}' is not defined", segment(1)),
                       hint.empty() ? "define it under 'vars:'" : hint);
    }
    if (root == "env") return check_env_ref(r, at);
    if (root == "run") {
      static const std::vector<std::string> fields = {"id", "plan", "mode", "dry_run"};
      if (r.path.size() < 2 || std::find(fields.begin(), fields.end(), segment(1)) != fields.end()) return true;
      std::string hint = did_you_mean(segment(1), fields);
      return undefined(fmt::format("run has no field '{}'", segment(1)), hint.empty() ? one_of(fields) : hint);
    }
    if (root == "steps" && scope.allow_steps) return check_step_ref(r, at, scope);
    std::vector<std::string> roots = {"params", "vars", "env", "run", "steps"};
    if (!scope.loop_var.empty()) roots.push_back(scope.loop_var);
    std::string hint = did_you_mean(root, roots);
    if (root == "steps" || (root == "params" && !scope.allow_params))
      return undefined(fmt::format("'{}' cannot be used here", root),
                       "parameter values may use env and run only; step outputs exist only once steps ran");
    if (hint.empty())
      hint = scope.loop_var.empty() && (root == "item" || root == "host")
                 ? "'" + root + "' exists only inside a step with foreach"
                 : "names start with " + fmt::format("{}", fmt::join(roots, ", "));
    return undefined(fmt::format("'{}' is not defined", r.text()), hint);
  }

  bool check_env_ref(const VarReference& r, const SourcePos& at) {
    const Value* cur = &env_;
    for (size_t i = 1; i < r.path.size(); ++i) {
      const Value& seg = r.path[i];
      VarReference so_far;
      so_far.path.assign(r.path.begin(), r.path.begin() + static_cast<long>(i) + 1);
      if (seg.is_string()) {
        std::string key = seg.get<std::string>();
        if (cur->is_object() && cur->contains(key)) {
          cur = &(*cur)[key];
          continue;
        }
        std::string hint = did_you_mean(key, keys_of(*cur));
        if (hint.empty() && i >= 2 && r.path[1] == "hosts_by_role")
          hint = fmt::format("no host has the role '{}'; roles: {}", key, fmt::format("{}", fmt::join(known_host_roles(), ", ")));
        if (hint.empty() && i >= 2 && r.path[1] == "host")
          hint = "hosts of the environment: " + fmt::format("{}", fmt::join(keys_of(*cur), ", "));
        if (hint.empty() && cur->is_object()) hint = "defined here: " + fmt::format("{}", fmt::join(keys_of(*cur), ", "));
        d_.error(ErrorKind::UndefinedVariable, at, fmt::format("'{}' is not defined in the environment", so_far.text()), hint);
        return false;
      }
      long long idx = seg.get<long long>();
      if (!cur->is_array() || idx < 0 || idx >= static_cast<long long>(cur->size())) {
        std::string hint = r.path.size() > 2 && r.path[1] == "hosts_by_role"
                               ? fmt::format("give a host the role '{}' in the environment", to_text(r.path[2]))
                               : "the list has " + std::to_string(cur->is_array() ? cur->size() : 0) + " items";
        d_.error(ErrorKind::UndefinedVariable, at, fmt::format("'{}' does not exist", so_far.text()), hint);
        return false;
      }
      cur = &(*cur)[static_cast<size_t>(idx)];
    }
    return true;
  }

  bool check_step_ref(const VarReference& r, const SourcePos& at, const RefScope& scope) {
    if (r.path.size() < 2 || !r.path[1].is_string()) {
      d_.error(ErrorKind::UndefinedStep, at, "'steps' needs a step id", "write steps.STEP_ID.OUTPUT");
      return false;
    }
    std::string id = r.path[1].get<std::string>();
    auto found = step_ids_.find(id);
    int j = found == step_ids_.end() ? -1 : found->second;
    if (j < 0) {
      std::vector<std::string> ids;
      for (auto& s : plan_.steps) ids.push_back(s.id);
      std::string hint = did_you_mean(id, ids);
      d_.error(ErrorKind::UndefinedStep, at, fmt::format("no step has the id '{}'", id),
               hint.empty() ? "step ids: " + fmt::format("{}", fmt::join(ids, ", ")) : hint);
      return false;
    }
    if (scope.step_index >= 0 && j >= scope.step_index) {
      d_.error(ErrorKind::ForwardReference, at,
               j == scope.step_index ? fmt::format("step '{}' uses its own output", id)
                                     : fmt::format("step '{}' runs after this one", id),
               "a step can use the outputs of the steps before it only");
      return false;
    }
    const Step& target = plan_.steps[static_cast<size_t>(j)];
    if (const Block* group = plan_.block_of(target);
        group && group->kind == Block::Kind::Parallel && scope.step_index >= 0 &&
        plan_.steps[static_cast<size_t>(scope.step_index)].block == target.block) {
      d_.error(ErrorKind::ForwardReference, at,
               fmt::format("step '{}' runs side by side with this one (group '{}'): its outputs are not there yet", id,
                           group->id),
               fmt::format("move this step after the group, or '{}' before it", id));
      return false;
    }
    // Inside a block, an earlier step of the same block is this item's.
    bool same_item = target.block >= 0 && scope.step_index >= 0 &&
                     plan_.steps[static_cast<size_t>(scope.step_index)].block == target.block;
    std::vector<std::string> outputs;
    if (target.foreach.kind != Foreach::Kind::None && !same_item) outputs.push_back("results");
    else if (target.type)
      for (auto& o : target.type->outputs()) outputs.push_back(o.name);
    if (r.path.size() < 3) {
      d_.error(ErrorKind::UnknownOutput, at, fmt::format("name an output of step '{}'", id),
               outputs.empty() ? "it has none" : "its outputs: " + fmt::format("{}", fmt::join(outputs, ", ")));
      return false;
    }
    std::string out = r.path[2].is_string() ? r.path[2].get<std::string>() : "";
    if (std::find(outputs.begin(), outputs.end(), out) != outputs.end()) return true;
    std::string hint = did_you_mean(out, outputs);
    if (hint.empty())
      hint = outputs.empty() ? fmt::format("{} captures nothing", target.uses)
                             : "its outputs: " + fmt::format("{}", fmt::join(outputs, ", "));
    if (same_item)
      hint += "; inside its block, a step's outputs are the current item's";
    else if (target.foreach.kind != Foreach::Kind::None)
      hint += "; a looping step's outputs are per item, under results";
    d_.error(ErrorKind::UnknownOutput, at, fmt::format("step '{}' ({}) has no output '{}'", id, target.uses, out), hint);
    return false;
  }

  // --- types -------------------------------------------------------------

  /// False when the value is refused (and reported).
  bool check_param_decl_type(const ParamDecl& decl, const Value& v, const SourcePos& pos) {
    if (contains_deferred(v) || v.is_null()) return true;
    size_t before = d_.all().size();
    const std::string& t = decl.type;
    auto wrong = [&](const char* what) {
      d_.error(ErrorKind::WrongType, pos, fmt::format("parameter '{}' must be {}", decl.name, what),
               fmt::format("the procedure declares it as {}", t));
    };
    if (t == "int" && !v.is_number_integer()) wrong("a whole number");
    else if (t == "bool" && !v.is_boolean()) wrong("true or false");
    else if (t == "list" && !v.is_array()) wrong("a list");
    else if (t == "map" && !v.is_object()) wrong("a mapping");
    else if (t == "string" && (v.is_array() || v.is_object())) wrong("a single value");
    else if (t == "duration" && !(v.is_string() && parse_duration(v.get<std::string>())))
      d_.error(ErrorKind::InvalidDuration, pos, fmt::format("parameter '{}' is not a duration", decl.name), duration_hint());
    else if (t == "secret" && !(v.is_string() && parse_secret_ref(v.get<std::string>())))
      d_.error(ErrorKind::InvalidSecret, pos, fmt::format("parameter '{}' must be a secret reference", decl.name),
               secret_ref_hint());
    else if (auto kind = declared_text_kind(t))
      check_text(*kind, v, pos, fmt::format("parameter '{}'", decl.name));
    return d_.all().size() == before;
  }

  void check_target(const std::string& target, bool allow_local, const SourcePos& pos, const std::string& what) {
    if (allow_local && target == "local") return;
    if (plan_.env.find_target(target)) return;
    auto names = plan_.env.target_names();
    if (allow_local) names.push_back("local");
    std::string hint = did_you_mean(target, names);
    if (hint.empty() && target == "engine") hint = "the environment has no engine.vm: add it with the engine VM's address";
    if (hint.empty() && target == "backup_storage") hint = "the environment has no backup_storage: add it";
    if (hint.empty()) hint = "SSH targets of the environment: " + fmt::format("{}", fmt::join(names, ", "));
    d_.error(ErrorKind::UnknownHost, pos, fmt::format("{}: '{}' is not a host of the environment", what, target), hint);
  }

  void check_param_type(const Step& s, const ParamSchema& p, const Value& v, const SourcePos& pos,
                        const std::string& which) {
    if (v.is_null() || contains_deferred(v)) return;
    std::string what = fmt::format("step '{}' parameter '{}'{}", s.id, p.name, which);
    auto wrong = [&](const char* expected, const char* hint) {
      d_.error(ErrorKind::WrongType, pos, fmt::format("{} must be {}", what, expected), hint);
    };
    switch (p.type) {
      case ParamType::String:
        if (v.is_array() || v.is_object()) wrong("a single value", "write it on one line");
        break;
      case ParamType::Int:
        if (!v.is_number_integer()) wrong("a whole number", "e.g. 2");
        break;
      case ParamType::Bool:
        if (!v.is_boolean()) wrong("true or false", "write true or false, without quotes");
        break;
      case ParamType::Duration:
        if (!(v.is_string() && parse_duration(v.get<std::string>())) && !v.is_number_integer())
          d_.error(ErrorKind::InvalidDuration, pos, fmt::format("{} is not a duration", what), duration_hint());
        break;
      case ParamType::StringList:
        if (!v.is_array()) wrong("a list", "write [a, b] or one '- item' per line");
        break;
      case ParamType::Secret:
        if (!(v.is_string() && parse_secret_ref(v.get<std::string>())))
          d_.error(ErrorKind::InvalidSecret, pos, fmt::format("{} must be a secret reference, not a literal value", what),
                   secret_ref_hint());
        break;
      case ParamType::SshTarget:
      case ParamType::FileEndpoint:
        if (v.is_string()) check_target(v.get<std::string>(), p.type == ParamType::FileEndpoint, pos, what);
        else if (!v.is_object()) wrong("a host name", "a host of the environment, engine or backup_storage");
        break;
      case ParamType::EngineHost:
        if (!v.is_string() && !v.is_object()) wrong("a host name or a host item", "e.g. hosted_engine_1, or ${host} in a loop");
        break;
      case ParamType::Choice:
        if (std::find(p.choices.begin(), p.choices.end(), to_text(v)) == p.choices.end()) {
          std::string hint = did_you_mean(to_text(v), p.choices);
          d_.error(ErrorKind::InvalidValue, pos, fmt::format("{} is '{}'", what, to_text(v)),
                   hint.empty() ? one_of(p.choices) : hint);
        }
        break;
      case ParamType::Map:
        if (!v.is_object()) wrong("a mapping", "write 'key: value' lines");
        break;
      case ParamType::Any:
        break;
      case ParamType::HostAddress:
        check_text(TextKind::HostAddress, v, pos, what);
        break;
      case ParamType::HostName:
        // A host item of a live query stands for itself.
        if (!v.is_object()) check_text(TextKind::EngineName, v, pos, what);
        break;
      case ParamType::RemotePath:
        check_text(TextKind::RemotePath, v, pos, what);
        break;
    }
  }

  /// A value of a typed kind; `what` names where it is given.
  bool check_text(TextKind kind, const Value& v, const SourcePos& pos, const std::string& what) {
    if (v.is_array() || v.is_object()) {
      d_.error(ErrorKind::WrongType, pos, fmt::format("{} must be a single value", what), text_kind_hint(kind));
      return false;
    }
    if (auto why = text_problem(kind, to_text(v))) {
      d_.error(error_kind(kind), pos, fmt::format("{} is not a {}: {}", what, text_kind_name(kind), *why),
               text_kind_hint(kind));
      return false;
    }
    return true;
  }

  // --- steps -------------------------------------------------------------

  /// `roots` gets the loop variable, which the caller removes afterwards.
  void check_step(Step& s, int index, Value& roots) {
    const std::string& file = plan_.procedure_file;
    RefScope outer;
    outer.step_index = index;
    RefScope inner = outer;
    size_t errors_before = d_.all().size();

    // A block's loop and concurrency are checked once, with its first step.
    const Block* block = plan_.block_of(s);
    bool block_head = !block || block->first == static_cast<size_t>(index);
    if (!block_head) s.concurrency = plan_.steps[block->first].concurrency;
    else if (s.concurrency_expr.IsDefined() && !s.concurrency_expr.IsNull()) bind_concurrency(s, outer);
    if (s.foreach.kind != Foreach::Kind::None) {
      inner.loop_var = s.foreach.as;
      roots[s.foreach.as] = deferred(s.foreach.as);
      if (block_head) check_foreach(s, outer);
    }
    for (auto& [name, node] : s.with) check_node_refs(node, file, inner);
    if (s.when_expr) check_expr_refs(*s.when_expr, s.when_pos, inner);
    if (d_.all().size() != errors_before) return;  // values would only repeat the errors
    for (auto& [name, node] : s.with)
      if (touches_failed(node)) return;

    check_instance(s, roots, "");
    if (d_.all().size() != errors_before) return;
    // A loop over a list known now: each item is checked as the run will
    // see it, so a dry run never meets an error validation let through.
    if (s.foreach.kind == Foreach::Kind::Items) {
      Value items;
      try {
        items = resolve_node(s.foreach.items, roots);
      } catch (const EvalError&) {
        return;  // reported by check_foreach
      }
      if (!items.is_array()) return;
      for (auto& item : items) {
        if (contains_deferred(item)) continue;
        roots[s.foreach.as] = item;
        check_instance(s, roots, fmt::format(" (for {} = {})", s.foreach.as, to_text(item)));
        if (d_.all().size() != errors_before) break;  // the first failing item speaks for the rest
      }
    }
  }

  /// Parameters, `when` and the tool rules of one instance of a step.
  void check_instance(const Step& s, const Value& roots, const std::string& which) {
    const std::string& file = plan_.procedure_file;
    size_t errors_before = d_.all().size();
    if (s.when_expr) {
      try {
        evaluate(*s.when_expr, roots);
      } catch (const EvalError& e) {
        d_.error(ErrorKind::InvalidExpression, s.when_pos, fmt::format("'when' of step '{}'{}: {}", s.id, which, e.what()),
                 "check the names and the types compared");
      }
    }
    Value params = Value::object();
    for (auto& p : s.type->params()) {
      const YAML::Node* given = s.param(p.name);
      SourcePos pos = given ? pos_of(*given, file) : s.pos;
      Value v;
      try {
        v = resolve_step_param(s, p, roots);
      } catch (const EvalError& e) {
        d_.error(ErrorKind::InvalidExpression, pos, fmt::format("step '{}' parameter '{}'{}: {}", s.id, p.name, which, e.what()),
                 "check the names and indexes in ${...}");
        continue;
      }
      if (p.required && given && (v.is_null() || (v.is_string() && v.get<std::string>().empty())))
        d_.error(ErrorKind::MissingParam, pos, fmt::format("step '{}' parameter '{}'{} is empty", s.id, p.name, which),
                 fmt::format("{}: {}", p.name, p.help));
      else if (!given && (p.type == ParamType::SshTarget || p.type == ParamType::FileEndpoint) && v.is_string() &&
               !v.get<std::string>().empty())
        check_target(v.get<std::string>(), p.type == ParamType::FileEndpoint, pos,
                     fmt::format("step '{}' (default of '{}')", s.id, p.name));
      else
        check_param_type(s, p, v, pos, which);
      params[p.name] = v;
    }
    if (d_.all().size() != errors_before) return;
    // A tool rule broken by the parameters (engine-backup's, for
    // instance) is caught here.
    try {
      StepContext ctx(plan_.env, s.id, params);
      s.type->check_rules(ctx);
    } catch (const StepRuleError& e) {
      d_.error(ErrorKind::RuleViolation, s.pos, fmt::format("step '{}' ({}){}: {}", s.id, s.uses, which, e.what()),
               "change the step's parameters; the command would be refused as written");
    } catch (const EvalError& e) {
      d_.error(ErrorKind::InvalidExpression, s.pos, fmt::format("step '{}'{}: {}", s.id, which, e.what()),
               "check the names and indexes in ${...}");
    }
  }

  // Concurrency is fixed for the run: it may use params and vars, not the
  // outputs of steps.
  void bind_concurrency(Step& s, RefScope scope) {
    scope.allow_steps = false;
    const std::string& file = plan_.procedure_file;
    if (!check_node_refs(s.concurrency_expr, file, scope)) return;
    SourcePos pos = pos_of(s.concurrency_expr, file);
    Value v = evaluate_node(s.concurrency_expr, plain_roots_, pos);
    if (!v.is_number_integer() || v.get<long long>() < 1 || v.get<long long>() > 64) {
      d_.error(ErrorKind::InvalidValue, pos,
               fmt::format("concurrency of step '{}' is {}, not a whole number from 1 to 64", s.id, to_text(v)),
               "give the parameter a number such as 2");
      return;
    }
    s.concurrency = static_cast<int>(v.get<long long>());
  }

  void check_foreach(const Step& s, const RefScope& scope) {
    const std::string& file = plan_.procedure_file;
    const Foreach& f = s.foreach;
    if (f.kind == Foreach::Kind::HostQuery) {
      check_node_refs(f.exclude, file, scope);
      return;
    }
    const YAML::Node& items = f.items;
    if (items.IsSequence()) {
      check_node_refs(items, file, scope);
      return;
    }
    SourcePos pos = pos_of(items, file);
    std::string text = items.IsScalar() ? items.Scalar() : "";
    ExprError err;
    Template t = parse_template(text, &err);
    if (!t.parts.empty() && !t.is_single_expression()) {
      d_.error(ErrorKind::LoopNotList, pos, fmt::format("foreach over '{}', which is not a list", text),
               "write a list ([a, b]), a ${...} that gives one (${params.vms}), or hosts: {status: [...]}");
      return;
    }
    if (!check_node_refs(items, file, scope)) return;
    Value v;
    try {
      v = resolve_node(items, step_roots_);
    } catch (const EvalError& e) {
      d_.error(ErrorKind::InvalidExpression, pos, e.what());
      return;
    }
    if (is_deferred(v)) {
      auto refs = references(*t.parts[0].expr);
      const VarReference& r = refs.front();
      if (r.path[0] == "steps" && r.path.size() >= 3) {
        auto found = step_ids_.find(r.path[1].get<std::string>());
        const Step* target = found == step_ids_.end() ? nullptr : &plan_.steps[static_cast<size_t>(found->second)];
        std::string out = r.path[2].is_string() ? r.path[2].get<std::string>() : "";
        bool is_list = out == "results" || (target && target->type && target->type->output(out) &&
                                            target->type->output(out)->is_list);
        if (!is_list || r.path.size() > 3)
          d_.error(ErrorKind::LoopNotList, pos, fmt::format("foreach over '{}', which is not a list", r.text()),
                   "loop over a list output, such as steps.select-hosts.hosts");
      }
      return;
    }
    if (!v.is_array())
      d_.error(ErrorKind::LoopNotList, pos,
               fmt::format("foreach over '{}', which is {}, not a list", text, v.is_null() ? "empty (null)" : "a single value"),
               "give the parameter a list, e.g. [db01, web01]");
  }

  Plan& plan_;
  Diagnostics& d_;
  Value env_;
  std::set<std::string> failed_;  // "params.x" / "vars.y" whose binding was refused
  std::unordered_map<std::string, int> step_ids_;  // first step with each id
  Value step_roots_;   // what a step's values see (steps deferred)
  Value plain_roots_;  // what fixed values (concurrency) see
};

}  // namespace

void bind_and_validate(Plan& plan, const YAML::Node& given, const std::string& given_file,
                       const std::vector<std::pair<std::string, std::string>>& cli_params, Diagnostics& diags) {
  Validator v(plan, diags);
  v.bind_params(given, given_file, cli_params);
  v.bind_vars();
  v.check_steps();
}

}  // namespace she
