// Values as plans, journals, engine answers and tool output carry them: JSON
// values (nlohmann::json). A value known only at run time (captured by an
// earlier step, a live loop item) is a *deferred* value: a dry run prints
// `<steps.find-stale.id>` where the real id will go. The expression
// language that produces them lives in workflows/expression.h.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace she {

using Value = nlohmann::json;

/// A value known only at run time, shown as <text>.
Value deferred(const std::string& text);
/// Text built around a deferred value ("engine-<run.id>.backup"): known only
/// at run time too, but shown as is, without another pair of brackets.
Value composed_deferred(const std::string& text);
bool is_deferred(const Value& v);
/// Deferred anywhere inside (a list of items some of which are deferred).
bool contains_deferred(const Value& v);
std::string deferred_text(const Value& v);
/// `v` with every deferred value inside replaced by its <path> text.
Value deferred_as_text(const Value& v);

/// JSON text of a value; invalid UTF-8 from a plan or a host becomes U+FFFD
/// instead of an exception.
std::string dump_json(const Value& v, int indent = -1);

/// Text form used when a value is interpolated into a string.
std::string to_text(const Value& v);
bool truthy(const Value& v);

}  // namespace she
