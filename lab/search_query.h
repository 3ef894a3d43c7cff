// The engine's search language as the REST API takes it in `?search=`
// (searchbackend's SyntaxChecker): terms `field OP value` with an optional
// `Type:` prefix, values bare or double-quoted (name=myhost, name="my host"),
// `*` as a wildcard, the operators =, !=, <, <=, >, >=, the words `and` and
// `or`, then optionally `sortby FIELD [asc|desc]` and `page N`. Keywords are
// case-insensitive. This file parses; lab/search_filter applies a query to a
// collection, where the fields and what each allows are known.
#pragma once

#include <string>
#include <vector>

namespace she::lab {

struct SearchTerm {
  std::string field;  // lowercased
  std::string op;     // = != < <= > >=
  std::string value;  // unquoted
};

/// The engine's precedence: `and` binds tighter than `or`, and terms written
/// side by side with no word between them are joined last, as an outer `and`.
/// So `a=1 b=2 or c=3` is a=1 and (b=2 or c=3).
struct SearchQuery {
  using Conjunction = std::vector<SearchTerm>;  // every term holds
  using Disjunction = std::vector<Conjunction>;  // one of them holds
  std::vector<Disjunction> clauses;              // every clause holds
  std::string sort_field;                        // lowercased; empty: the collection's own order
  bool sort_descending = false;
  int page = 0;  // 1-based; 0 when the query names none
  std::string error;  // why the text is not the engine's syntax; empty when it is

  bool ok() const { return error.empty(); }
  std::vector<const SearchTerm*> terms() const;
};

SearchQuery parse_search(const std::string& text);

/// `pattern` against `value`, `*` matching any run of characters.
bool wildcard_match(const std::string& pattern, const std::string& value, bool case_sensitive);

}  // namespace she::lab
