// The expression language of plans: `${...}` inside strings and the bare
// expressions of `when:`. Values are JSON values (base/value.h). Anything
// only known at run time (values captured by earlier steps, live loop items)
// is a *deferred* value: evaluation carries it through instead of failing,
// so a dry run can print `<steps.find-stale.id>` where the real id will go.
//
// Grammar:
//   expr    := or
//   or      := and ('or' and)*          and := not ('and' not)*
//   not     := 'not' not | cmp          cmp := filtered (op filtered)?
//   filtered:= primary ('|' filter)*
//   op      := == != < <= > >= in 'not in'
//   primary := literal | path | '(' expr ')' | '[' expr, ... ']'
//   path    := ident ('.' ident | '[' int | string ']')*
//   filter  := length | join(sep) | default(value) | map(key) | first | last | lower | upper
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "base/value.h"

namespace she {

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

struct ExprError {
  size_t offset = 0;  // into the expression text
  std::string message;
};

/// A variable path as written, e.g. steps.find-stale.id or env.hosts[0].name.
struct VarReference {
  std::vector<Value> path;  // strings for keys, integers for indexes
  size_t offset = 0;        // where it starts in the expression text
  std::string text() const;
};

ExprPtr parse_expression(std::string_view text, ExprError* err);
/// Every variable path the expression reads, in order of appearance.
std::vector<VarReference> references(const Expr& expr);

/// A string with `${expr}` parts; `$${` writes a literal `${`.
struct Template {
  struct Part {
    std::string literal;  // used when expr is null
    ExprPtr expr;
    size_t offset = 0;    // of the expression text within the string
  };
  std::vector<Part> parts;
  /// True for "${x}" alone: it evaluates to x's own type (list, number...).
  bool is_single_expression() const;
  bool has_expressions() const;
};

Template parse_template(std::string_view text, ExprError* err);

class EvalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What expressions read: the roots, a JSON object ({"params": ...,
/// "vars": ..., "env": ..., "steps": ...}), and over them, for one loop
/// item, the few names that item adds (the item under its name, the
/// outputs its block's earlier steps gave it, under "steps"), which win.
/// Layered rather than copied: the roots of a loop over N hosts hold those
/// N hosts, and a copy per item made a loop quadratic in its size.
struct Scope {
  Scope(const Value& roots) : base(roots) {}  // every object of roots is a scope
  Scope(const Value& roots, const Value& item_values) : base(roots), over(&item_values) {}
  const Value& base;
  const Value* over = nullptr;  // an object; its top-level objects are merged key by key over base's
};

Value evaluate(const Expr& expr, const Scope& roots);
/// Renders a template. A single expression keeps its value's type; mixed
/// text renders each value as text and deferred values as <path>.
Value render(const Template& tpl, const Scope& roots);

}  // namespace she
