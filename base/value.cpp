#include "base/value.h"

namespace she {

namespace {

constexpr const char* kDeferredKey = "$deferred";
constexpr const char* kComposedKey = "$composed";  // text around a deferred value: shown as is

}  // namespace

Value deferred(const std::string& text) { return Value{{kDeferredKey, text}}; }

Value composed_deferred(const std::string& text) { return Value{{kDeferredKey, text}, {kComposedKey, true}}; }

bool is_deferred(const Value& v) {
  return v.is_object() && v.contains(kDeferredKey) && (v.size() == 1 || (v.size() == 2 && v.contains(kComposedKey)));
}

bool contains_deferred(const Value& v) {
  if (is_deferred(v)) return true;
  if (v.is_array() || v.is_object())
    for (auto& item : v)
      if (contains_deferred(item)) return true;
  return false;
}

std::string deferred_text(const Value& v) {
  return is_deferred(v) ? v[kDeferredKey].get<std::string>() : std::string();
}

std::string to_text(const Value& v) {
  if (is_deferred(v)) return v.contains(kComposedKey) ? deferred_text(v) : "<" + deferred_text(v) + ">";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_array()) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + to_text(v[i]);
    return out;
  }
  return dump_json(v);
}

std::string dump_json(const Value& v, int indent) {
  return v.dump(indent, ' ', false, Value::error_handler_t::replace);
}

bool truthy(const Value& v) {
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string()) return !v.get<std::string>().empty();
  return !v.empty();
}

Value deferred_as_text(const Value& v) {
  if (is_deferred(v)) return Value(to_text(v));
  if (!v.is_array() && !v.is_object()) return v;
  Value out = v;
  for (auto it = out.begin(); it != out.end(); ++it) *it = deferred_as_text(*it);
  return out;
}

}  // namespace she
