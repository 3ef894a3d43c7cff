#include "lab/search_query.h"
#include "lab/ascii_case.h"

#include <cctype>

namespace she::lab {

namespace {

bool field_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }

class Parser {
 public:
  explicit Parser(const std::string& text) : text_(text) {}

  SearchQuery parse() {
    skip_space();
    skip_type_prefix();
    // The connector before the next term: "" (side by side), "and" or "or".
    std::string joined;
    while (!at_end()) {
      const std::string word = peek_word();
      if ((word == "sortby" || word == "page") && keyword_ends(word.size())) {
        if (joined == "and" || joined == "or") return fail("a term is missing after '" + joined + "'");
        return parse_tail();
      }
      SearchTerm t;
      if (!parse_term(t)) return q_;
      add(t, joined);
      skip_space();
      joined.clear();
      const std::string next = peek_word();
      if ((next == "and" || next == "or") && keyword_ends(next.size())) {
        joined = next;
        i_ += next.size();
        skip_space();
        if (at_end()) return fail("a term is missing after '" + joined + "'");
      }
    }
    return q_;
  }

 private:
  bool at_end() const { return i_ >= text_.size(); }

  void skip_space() {
    while (!at_end() && std::isspace(static_cast<unsigned char>(text_[i_]))) ++i_;
  }

  // "Hosts: name=x": the object type of the UI's search box, which the REST
  // API puts in front itself when it is missing.
  void skip_type_prefix() {
    std::size_t j = i_;
    while (j < text_.size() && std::isalpha(static_cast<unsigned char>(text_[j]))) ++j;
    if (j > i_ && j < text_.size() && text_[j] == ':') {
      i_ = j + 1;
      skip_space();
    }
  }

  std::string peek_word() const {
    std::size_t j = i_;
    while (j < text_.size() && std::isalpha(static_cast<unsigned char>(text_[j]))) ++j;
    return lower(text_.substr(i_, j - i_));
  }

  // A keyword is the whole word: `page=2` is a field named page.
  bool keyword_ends(std::size_t n) const {
    return i_ + n >= text_.size() || std::isspace(static_cast<unsigned char>(text_[i_ + n]));
  }

  SearchQuery fail(const std::string& why) {
    q_.error = why;
    return q_;
  }

  void add(const SearchTerm& t, const std::string& joined) {
    if (joined == "and") {
      q_.clauses.back().back().push_back(t);
    } else if (joined == "or") {
      q_.clauses.back().push_back({t});
    } else {
      q_.clauses.push_back({{t}});
    }
  }

  bool parse_term(SearchTerm& t) {
    const std::size_t f = i_;
    while (!at_end() && field_char(text_[i_])) ++i_;
    if (i_ == f) {
      q_.error = "expected a field name at '" + text_.substr(f) + "'";
      return false;
    }
    t.field = lower(text_.substr(f, i_ - f));
    skip_space();
    static const char* ops[] = {"!=", "<=", ">=", "=", "<", ">"};
    for (const char* op : ops) {
      const std::string o(op);
      if (text_.compare(i_, o.size(), o) == 0) {
        t.op = o;
        i_ += o.size();
        break;
      }
    }
    if (t.op.empty()) {
      q_.error = "expected an operator after '" + t.field + "'";
      return false;
    }
    skip_space();
    if (!at_end() && text_[i_] == '"') {
      ++i_;
      while (!at_end()) {
        const char c = text_[i_++];
        if (c == '\\' && !at_end()) {
          t.value += text_[i_++];
        } else if (c == '"') {
          return true;
        } else {
          t.value += c;
        }
      }
      q_.error = "unterminated quoted value for '" + t.field + "'";
      return false;
    }
    while (!at_end() && !std::isspace(static_cast<unsigned char>(text_[i_]))) t.value += text_[i_++];
    if (t.value.empty()) {
      q_.error = "a value is missing after '" + t.field + t.op + "'";
      return false;
    }
    return true;
  }

  // `sortby FIELD [asc|desc]` then `page N`, each at most once, nothing after.
  SearchQuery parse_tail() {
    if (peek_word() == "sortby") {
      i_ += 6;
      skip_space();
      const std::size_t f = i_;
      while (!at_end() && field_char(text_[i_])) ++i_;
      if (i_ == f) return fail("a field is missing after 'sortby'");
      q_.sort_field = lower(text_.substr(f, i_ - f));
      skip_space();
      const std::string dir = peek_word();
      if ((dir == "asc" || dir == "desc") && keyword_ends(dir.size())) {
        q_.sort_descending = dir == "desc";
        i_ += dir.size();
        skip_space();
      }
    }
    if (!at_end() && peek_word() == "page" && keyword_ends(4)) {
      i_ += 4;
      skip_space();
      const std::size_t n = i_;
      while (!at_end() && std::isdigit(static_cast<unsigned char>(text_[i_]))) ++i_;
      if (i_ == n || i_ - n > 9) return fail("'page' takes a page number");
      q_.page = std::stoi(text_.substr(n, i_ - n));
      if (q_.page < 1) return fail("pages count from 1");
      skip_space();
    }
    if (!at_end()) return fail("nothing may follow the sort order and page: '" + text_.substr(i_) + "'");
    return q_;
  }

  const std::string& text_;
  std::size_t i_ = 0;
  SearchQuery q_;
};

}  // namespace

std::vector<const SearchTerm*> SearchQuery::terms() const {
  std::vector<const SearchTerm*> out;
  for (const auto& d : clauses)
    for (const auto& c : d)
      for (const auto& t : c) out.push_back(&t);
  return out;
}

SearchQuery parse_search(const std::string& text) { return Parser(text).parse(); }

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
