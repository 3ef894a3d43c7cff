#include "lab/search_filter.h"
#include "lab/ascii_case.h"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <optional>

namespace she::lab {

namespace {

const SearchField* find_field(const SearchObject& o, const std::string& name) {
  for (const auto& f : o.fields)
    if (f.name == name) return &f;
  return nullptr;
}

std::optional<long long> as_number(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  for (std::size_t j = i; j < s.size(); ++j)
    if (!std::isdigit(static_cast<unsigned char>(s[j]))) return std::nullopt;
  return std::stoll(s);
}

// The position of `name` among the field's values, any case; -1 if absent.
long long position(const SearchField& f, const std::string& name) {
  const std::string u = upper(name);
  for (std::size_t i = 0; i < f.values.size(); ++i)
    if (upper(f.values[i]) == u) return static_cast<long long>(i);
  return -1;
}

bool compare(const std::string& op, long long a, long long b) {
  if (op == "=") return a == b;
  if (op == "!=") return a != b;
  if (op == "<") return a < b;
  if (op == "<=") return a <= b;
  if (op == ">") return a > b;
  return a >= b;
}

// Where the engine's checker stops, or the lab cannot answer; empty if fine.
SearchOutcome check(const SearchObject& o, const SearchQuery& q) {
  SearchOutcome out;
  auto field_of = [&](const std::string& name) -> const SearchField* {
    if (const SearchField* f = find_field(o, name)) return f;
    if (std::find(o.unmodeled.begin(), o.unmodeled.end(), name) != o.unmodeled.end() ||
        name.find('.') != std::string::npos) {
      out.verdict = SearchVerdict::LabUnsupported;
      out.why = fmt::format("the lab does not model '{}'; it searches {} by {}", name, o.title,
                            fmt::join([&] {
                              std::vector<std::string> n;
                              for (const auto& f : o.fields) n.push_back(f.name);
                              return n;
                            }(),
                                      ", "));
    } else {
      out.verdict = SearchVerdict::EngineRejects;
      out.why = "no field '" + name + "' in " + o.title + " searches";
    }
    return nullptr;
  };
  if (!q.ok()) {
    out.verdict = SearchVerdict::EngineRejects;
    out.why = q.error;
    return out;
  }
  for (const SearchTerm* t : q.terms()) {
    const SearchField* f = field_of(t->field);
    if (!f) return out;
    const bool equality = t->op == "=" || t->op == "!=";
    std::string bad;
    if (!equality && !f->ordered) bad = fmt::format("'{}' does not take '{}'", f->name, t->op);
    if ((f->kind == FieldKind::Enum || f->kind == FieldKind::Ordinal) && position(*f, t->value) < 0)
      bad = fmt::format("'{}' is not a value of '{}'", t->value, f->name);
    if (f->kind == FieldKind::Number && !as_number(t->value))
      bad = fmt::format("'{}' is not a number for '{}'", t->value, f->name);
    if (!bad.empty()) {
      out.verdict = SearchVerdict::EngineRejects;
      out.why = bad;
      return out;
    }
  }
  if (!q.sort_field.empty()) field_of(q.sort_field);
  return out;
}

bool holds(const SearchField& f, const SearchTerm& t, const std::string& actual, bool case_sensitive) {
  switch (f.kind) {
    case FieldKind::Text:
      return wildcard_match(t.value, actual, case_sensitive) == (t.op == "=");
    case FieldKind::Enum:
    case FieldKind::Ordinal:
      return compare(t.op, position(f, actual), position(f, t.value));
    case FieldKind::Number: {
      auto a = as_number(actual);
      return a && compare(t.op, *a, *as_number(t.value));
    }
  }
  return false;
}

}  // namespace

SearchOutcome run_search(const SearchObject& object, const std::string& text, std::size_t count,
                         const FieldValue& value, bool case_sensitive, int max) {
  const SearchQuery q = text.empty() ? SearchQuery{} : parse_search(text);
  SearchOutcome out = check(object, q);
  if (out.verdict != SearchVerdict::Selected) return out;
  for (std::size_t i = 0; i < count; ++i) {
    auto term_holds = [&](const SearchTerm& t) {
      return holds(*find_field(object, t.field), t, value(i, t.field), case_sensitive);
    };
    bool keep = true;
    for (const auto& clause : q.clauses) {
      bool any = false;
      for (const auto& conj : clause)
        any = any || std::all_of(conj.begin(), conj.end(), term_holds);
      keep = keep && any;
    }
    if (keep) out.selected.push_back(i);
  }
  if (!q.sort_field.empty()) {
    const SearchField& f = *find_field(object, q.sort_field);
    auto key_less = [&](std::size_t a, std::size_t b) {
      const std::string va = value(a, f.name), vb = value(b, f.name);
      if (f.kind == FieldKind::Text) return lower(va) < lower(vb);
      if (f.kind == FieldKind::Number) return as_number(va).value_or(0) < as_number(vb).value_or(0);
      return position(f, va) < position(f, vb);
    };
    std::stable_sort(out.selected.begin(), out.selected.end(), [&](std::size_t a, std::size_t b) {
      return q.sort_descending ? key_less(b, a) : key_less(a, b);
    });
  }
  if (max >= 0) {
    const std::size_t size = static_cast<std::size_t>(max);
    const std::size_t first = q.page > 1 ? (static_cast<std::size_t>(q.page) - 1) * size : 0;
    std::vector<std::size_t> window;
    for (std::size_t k = first; k < out.selected.size() && window.size() < size; ++k)
      window.push_back(out.selected[k]);
    out.selected.swap(window);
  } else if (q.page > 1) {
    // Without max the engine's page is unbounded: page 1 holds everything.
    out.selected.clear();
  }
  return out;
}

}  // namespace she::lab
