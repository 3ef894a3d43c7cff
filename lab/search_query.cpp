#include "lab/search_query.h"

#include <cctype>

namespace she::lab {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool field_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }

}  // namespace

SearchQuery parse_search(const std::string& text) {
  SearchQuery q;
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  skip_space();
  // "Hosts: name=x": the object type prefix of the UI's search box.
  {
    std::size_t j = i;
    while (j < text.size() && std::isalpha(static_cast<unsigned char>(text[j]))) ++j;
    if (j > i && j < text.size() && text[j] == ':') {
      i = j + 1;
      skip_space();
    }
  }
  while (i < text.size()) {
    SearchTerm t;
    const std::size_t f = i;
    while (i < text.size() && field_char(text[i])) ++i;
    if (i == f) {
      q.error = "expected a field name at '" + text.substr(f) + "'";
      return q;
    }
    t.field = lower(text.substr(f, i - f));
    skip_space();
    static const char* ops[] = {"!=", "<=", ">=", "=", "<", ">"};
    for (const char* op : ops) {
      const std::string o(op);
      if (text.compare(i, o.size(), o) == 0) {
        t.op = o;
        i += o.size();
        break;
      }
    }
    if (t.op.empty()) {
      q.error = "expected an operator after '" + t.field + "'";
      return q;
    }
    skip_space();
    if (i < text.size() && text[i] == '"') {
      ++i;
      bool closed = false;
      while (i < text.size()) {
        char c = text[i++];
        if (c == '\\' && i < text.size()) {
          t.value += text[i++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          t.value += c;
        }
      }
      if (!closed) {
        q.error = "unterminated quoted value for '" + t.field + "'";
        return q;
      }
    } else {
      while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) t.value += text[i++];
    }
    q.terms.push_back(t);
    skip_space();
    if (i >= text.size()) break;
    std::size_t w = i;
    while (w < text.size() && std::isalpha(static_cast<unsigned char>(text[w]))) ++w;
    if (lower(text.substr(i, w - i)) != "and") {
      q.error = "the lab understands only 'and' between terms, not '" + text.substr(i) + "'";
      return q;
    }
    i = w;
    skip_space();
    if (i >= text.size()) {
      q.error = "a term is missing after 'and'";
      return q;
    }
  }
  return q;
}

bool wildcard_match(const std::string& pattern, const std::string& value, bool case_sensitive) {
  const std::string p = case_sensitive ? pattern : lower(pattern);
  const std::string v = case_sensitive ? value : lower(value);
  // Iterative glob with backtracking to the last '*'.
  std::size_t pi = 0, vi = 0, star = std::string::npos, mark = 0;
  while (vi < v.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = vi;
    } else if (pi < p.size() && p[pi] == v[vi]) {
      ++pi;
      ++vi;
    } else if (star != std::string::npos) {
      pi = star + 1;
      vi = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

}  // namespace she::lab
