#include "workflows/step_expansion.h"

#include <fmt/format.h>

#include "engine_api/requests.h"

namespace she {

std::string item_label(const Value& item) {
  if (item.is_object() && !item.contains("name") && item.contains("item")) return item_label(item["item"]);
  return item.is_object() && item.contains("name") ? to_text(item["name"]) : to_text(item);
}

std::string describe_host_query(const Foreach& f, const Scope& roots) {
  std::string out = "GET " + engine_api::list_hosts("", true).path + " -> hosts";
  if (!f.statuses.empty()) out += " with status in [" + fmt::format("{}", fmt::join(f.statuses, ", ")) + "]";
  if (f.hosted_engine == "yes") out += ", hosted-engine hosts only";
  if (f.hosted_engine == "no") out += ", regular hosts only";
  Value exclude = resolve_node(f.exclude, roots);
  if (exclude.is_array() && !exclude.empty()) out += ", except [" + to_text(exclude) + "]";
  else if (!exclude.is_null() && !exclude.is_array()) out += ", except " + to_text(exclude);
  return out;
}

bool runs_in_mode(const Plan& plan, const Step& step) {
  return plan.env.mode == "rehearsal" ? step.in_rehearsal : step.in_real;
}

WhenVerdict when_verdict(const Step& step, const Scope& scope) {
  if (!step.when_expr) return WhenVerdict::Yes;
  Value w = evaluate(*step.when_expr, scope);
  return is_deferred(w) ? WhenVerdict::Deferred : truthy(w) ? WhenVerdict::Yes : WhenVerdict::No;
}

std::string mode_restriction(const Step& step) {
  return fmt::format("runs only in {} mode", step.in_rehearsal ? "rehearsal" : "real");
}

StepExpansion expand_step(const Plan& plan, const Step& step, const Scope& roots, const Value* live_items) {
  StepExpansion x;
  if (!runs_in_mode(plan, step)) {
    x.decision = StepExpansion::Decision::SkipMode;
    return x;
  }

  // The loop's item goes over the roots, never into a copy of them.
  Value over = roots.over ? *roots.over : Value::object();
  const Scope scope(roots.base, over);
  const Foreach& f = step.foreach;
  std::vector<Value> items;
  if (f.kind == Foreach::Kind::HostQuery && live_items) {
    std::vector<std::string> names;
    for (auto& item : *live_items) {
      items.push_back(item);
      names.push_back(to_text(item.value("name", Value(""))));
    }
    x.loop_text = fmt::format("{}", fmt::join(names, ", "));
  } else if (f.kind == Foreach::Kind::HostQuery) {
    x.loop_deferred = true;
    x.loop_text = describe_host_query(f, roots);
  } else if (f.kind == Foreach::Kind::Items) {
    Value list = resolve_node(f.items, roots);
    if (is_deferred(list)) {
      x.loop_deferred = true;
      x.loop_text = to_text(list) + " (known at run time)";
    } else {
      x.loop_text = to_text(list);
      for (auto& item : list) items.push_back(item);
    }
  }

  if (f.kind == Foreach::Kind::None || x.loop_deferred) {
    if (x.loop_deferred) over[f.as] = deferred(f.as);
    WhenVerdict w = when_verdict(step, scope);
    x.when_result = w == WhenVerdict::Deferred ? "decided at run time" : w == WhenVerdict::Yes ? "true" : "false";
    if (w == WhenVerdict::No) {
      x.decision = StepExpansion::Decision::SkipWhen;
      return x;
    }
    if (w == WhenVerdict::Deferred) x.decision = StepExpansion::Decision::Deferred;
    x.iterations.push_back({x.loop_deferred ? f.as : "", resolve_step_params(step, scope),
                            x.loop_deferred ? over[f.as] : Value()});
    return x;
  }

  // A known list: each item is its own iteration, each with its own `when`.
  x.items = items;
  std::vector<std::string> results;
  bool any_deferred = false;
  for (auto& item : items) {
    over[f.as] = item;
    WhenVerdict w = when_verdict(step, scope);
    if (w == WhenVerdict::No) {
      results.push_back(to_text(item) + ": false");
      continue;
    }
    any_deferred |= w == WhenVerdict::Deferred;
    if (step.when_expr) results.push_back(to_text(item) + (w == WhenVerdict::Deferred ? ": at run time" : ": true"));
    x.iterations.push_back({item_label(item), resolve_step_params(step, scope), item});
  }
  if (step.when_expr) x.when_result = fmt::format("{}", fmt::join(results, "; "));
  if (x.iterations.empty()) x.decision = StepExpansion::Decision::SkipWhen;
  else if (any_deferred) x.decision = StepExpansion::Decision::Deferred;
  return x;
}

}  // namespace she
