// The part of the engine's search language the lab understands: terms
// `field OP value` joined by `and`, an optional `Type:` prefix, values bare
// or double-quoted (name=myhost, name="my host"), `*` as a wildcard, and
// the operators =, !=, <, <=, >, >=. Matching is case-insensitive unless the
// request says case_sensitive=true (the engine's code default is false).
// Anything else is refused rather than silently matching everything, so a
// plan whose query the engine would not understand fails in the lab too.
#pragma once

#include <string>
#include <vector>

namespace she::lab {

struct SearchTerm {
  std::string field;  // lowercased
  std::string op;     // = != < <= > >=
  std::string value;  // unquoted
};

struct SearchQuery {
  std::vector<SearchTerm> terms;
  std::string error;  // why the text could not be parsed; empty when it could

  bool ok() const { return error.empty(); }
};

SearchQuery parse_search(const std::string& text);

/// `pattern` against `value`, `*` matching any run of characters.
bool wildcard_match(const std::string& pattern, const std::string& value, bool case_sensitive);

}  // namespace she::lab
