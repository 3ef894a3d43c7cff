#include "workflows/expression.h"

#include <cctype>
#include <fmt/format.h>

namespace she {

struct Expr {
  enum class Kind { Literal, Path, List, Not, And, Or, Compare, Filter, Index, Member };
  Kind kind;
  Value literal;
  VarReference ref;                 // Path
  std::string op;                   // Compare op, filter name, or Member key
  std::vector<ExprPtr> args;        // operands / list items / filter input+args
};

namespace {

struct Token {
  enum class Type { End, Ident, Number, String, Punct } type;
  std::string text;
  Value value;
  size_t offset;
};

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  bool tokenize(std::vector<Token>& out, ExprError* err) {
    size_t i = 0;
    while (true) {
      while (i < s_.size() && std::isspace(static_cast<unsigned char>(s_[i]))) ++i;
      if (i >= s_.size()) {
        out.push_back({Token::Type::End, "", nullptr, i});
        return true;
      }
      char c = s_[i];
      size_t start = i;
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        // Step ids contain '-', so identifiers may too (there is no minus).
        while (i < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i])) ||
                                 s_[i] == '_' || s_[i] == '-'))
          ++i;
        out.push_back({Token::Type::Ident, std::string(s_.substr(start, i - start)), nullptr, start});
      } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                 (c == '-' && i + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i + 1])))) {
        ++i;
        while (i < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i]))) ++i;
        std::string num(s_.substr(start, i - start));
        if (num.size() > 18) return fail(err, start, "number too large");
        out.push_back({Token::Type::Number, num, Value(std::stoll(num)), start});
      } else if (c == '\'' || c == '"') {
        std::string v;
        ++i;
        while (i < s_.size() && s_[i] != c) {
          if (s_[i] == '\\' && i + 1 < s_.size()) ++i;
          v += s_[i++];
        }
        if (i >= s_.size()) return fail(err, start, "unterminated string");
        ++i;
        out.push_back({Token::Type::String, v, Value(v), start});
      } else {
        static const char* two[] = {"==", "!=", "<=", ">="};
        std::string p(1, c);
        for (auto* t : two)
          if (s_.substr(i, 2) == t) p = t;
        if (p.size() == 1 && std::string_view(".[](),|<>").find(c) == std::string_view::npos)
          return fail(err, start, fmt::format("unexpected character '{}'", c));
        i += p.size();
        out.push_back({Token::Type::Punct, p, nullptr, start});
      }
    }
  }

 private:
  static bool fail(ExprError* err, size_t at, std::string msg) {
    if (err) *err = {at, std::move(msg)};
    return false;
  }
  std::string_view s_;
};

class Parser {
 public:
  Parser(std::vector<Token> toks, ExprError* err) : t_(std::move(toks)), err_(err) {}

  ExprPtr parse_all() {
    ExprPtr e = parse_or();
    if (e && peek().type != Token::Type::End) return fail(peek(), "unexpected '" + peek().text + "'");
    return e;
  }

 private:
  const Token& peek() const { return t_[pos_]; }
  bool is_punct(const char* p) const { return peek().type == Token::Type::Punct && peek().text == p; }
  bool is_word(const char* w) const { return peek().type == Token::Type::Ident && peek().text == w; }
  ExprPtr fail(const Token& at, std::string msg) {
    if (err_ && !failed_) *err_ = {at.offset, std::move(msg)};
    failed_ = true;
    return nullptr;
  }
  static std::shared_ptr<Expr> make(Expr::Kind k) {
    auto e = std::make_shared<Expr>();
    e->kind = k;
    return e;
  }

  // Filters bind tighter than comparisons: `vms | length > 0`.
  ExprPtr parse_filtered() {
    ExprPtr e = parse_primary();
    while (e && is_punct("|")) {
      ++pos_;
      if (peek().type != Token::Type::Ident) return fail(peek(), "expected a filter name after '|'");
      auto f = make(Expr::Kind::Filter);
      f->op = peek().text;
      static const std::vector<std::string> filters = {"length", "join", "default", "map",
                                                       "first", "last", "lower", "upper"};
      if (std::find(filters.begin(), filters.end(), f->op) == filters.end())
        return fail(peek(), "unknown filter '" + f->op + "' (" + fmt::format("{}", fmt::join(filters, ", ")) + ")");
      ++pos_;
      f->args.push_back(e);
      if (is_punct("(")) {
        ++pos_;
        while (!is_punct(")")) {
          ExprPtr a = parse_or();
          if (!a) return nullptr;
          f->args.push_back(a);
          if (is_punct(",")) ++pos_;
          else if (!is_punct(")")) return fail(peek(), "expected ',' or ')'");
        }
        ++pos_;
      }
      e = f;
    }
    return e;
  }

  ExprPtr parse_or() { return parse_binary(&Parser::parse_and, "or", Expr::Kind::Or); }
  ExprPtr parse_and() { return parse_binary(&Parser::parse_not, "and", Expr::Kind::And); }

  ExprPtr parse_binary(ExprPtr (Parser::*next)(), const char* word, Expr::Kind kind) {
    ExprPtr left = (this->*next)();
    while (left && is_word(word)) {
      ++pos_;
      ExprPtr right = (this->*next)();
      if (!right) return nullptr;
      auto e = make(kind);
      e->args = {left, right};
      left = e;
    }
    return left;
  }

  // Nesting is bounded so a hostile plan cannot overflow the stack.
  static constexpr int kMaxDepth = 100;
  struct DepthGuard {
    int& d;
    explicit DepthGuard(int& depth) : d(++depth) {}
    ~DepthGuard() { --d; }
  };

  ExprPtr parse_not() {
    DepthGuard guard(depth_);
    if (depth_ > kMaxDepth) return fail(peek(), "expression nested too deeply");
    if (is_word("not")) {
      ++pos_;
      ExprPtr inner = parse_not();
      if (!inner) return nullptr;
      auto e = make(Expr::Kind::Not);
      e->args = {inner};
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    ExprPtr left = parse_filtered();
    if (!left) return nullptr;
    std::string op;
    if (peek().type == Token::Type::Punct &&
        (peek().text == "==" || peek().text == "!=" || peek().text == "<" ||
         peek().text == ">" || peek().text == "<=" || peek().text == ">=")) {
      op = peek().text;
      ++pos_;
    } else if (is_word("in")) {
      op = "in";
      ++pos_;
    } else if (is_word("not") && t_[pos_ + 1].type == Token::Type::Ident && t_[pos_ + 1].text == "in") {
      op = "not in";
      pos_ += 2;
    } else {
      return left;
    }
    ExprPtr right = parse_filtered();
    if (!right) return nullptr;
    auto e = make(Expr::Kind::Compare);
    e->op = op;
    e->args = {left, right};
    return e;
  }

  ExprPtr parse_primary() {
    const Token& tok = peek();
    switch (tok.type) {
      case Token::Type::Number:
      case Token::Type::String: {
        auto e = make(Expr::Kind::Literal);
        e->literal = tok.value;
        ++pos_;
        return e;
      }
      case Token::Type::Ident: {
        if (tok.text == "true" || tok.text == "false" || tok.text == "null") {
          auto e = make(Expr::Kind::Literal);
          e->literal = tok.text == "null" ? Value(nullptr) : Value(tok.text == "true");
          ++pos_;
          return e;
        }
        if (tok.text == "and" || tok.text == "or" || tok.text == "in" || tok.text == "not")
          return fail(tok, "expected a value before '" + tok.text + "'");
        return parse_path();
      }
      case Token::Type::Punct:
        if (tok.text == "(") {
          ++pos_;
          ExprPtr e = parse_or();
          if (!e) return nullptr;
          if (!is_punct(")")) return fail(peek(), "expected ')'");
          ++pos_;
          return e;
        }
        if (tok.text == "[") {
          ++pos_;
          auto e = make(Expr::Kind::List);
          while (!is_punct("]")) {
            ExprPtr item = parse_or();
            if (!item) return nullptr;
            e->args.push_back(item);
            if (is_punct(",")) ++pos_;
            else if (!is_punct("]")) return fail(peek(), "expected ',' or ']'");
          }
          ++pos_;
          return e;
        }
        return fail(tok, "unexpected '" + tok.text + "'");
      case Token::Type::End:
        return fail(tok, "expression is incomplete");
    }
    return nullptr;
  }

  bool literal_index_ahead() const {
    return pos_ + 2 < t_.size() &&
           (t_[pos_ + 1].type == Token::Type::Number || t_[pos_ + 1].type == Token::Type::String) &&
           t_[pos_ + 2].type == Token::Type::Punct && t_[pos_ + 2].text == "]";
  }

  // A static path (checked against the plan) optionally followed by dynamic
  // indexes such as env.host[params.deploy_host].address.
  ExprPtr parse_path() {
    auto e = make(Expr::Kind::Path);
    e->ref.offset = peek().offset;
    e->ref.path.push_back(peek().text);
    ++pos_;
    while (true) {
      if (is_punct(".")) {
        ++pos_;
        if (peek().type != Token::Type::Ident && peek().type != Token::Type::Number)
          return fail(peek(), "expected a name after '.'");
        e->ref.path.push_back(peek().text);
        ++pos_;
      } else if (is_punct("[") && literal_index_ahead()) {
        e->ref.path.push_back(t_[pos_ + 1].value);
        pos_ += 3;
      } else {
        break;
      }
    }
    ExprPtr cur = e;
    while (true) {
      if (is_punct("[")) {
        ++pos_;
        ExprPtr index = parse_or();
        if (!index) return nullptr;
        if (!is_punct("]")) return fail(peek(), "expected ']'");
        ++pos_;
        auto node = make(Expr::Kind::Index);
        node->args = {cur, index};
        cur = node;
      } else if (is_punct(".") && cur != e) {
        ++pos_;
        if (peek().type != Token::Type::Ident) return fail(peek(), "expected a name after '.'");
        auto node = make(Expr::Kind::Member);
        node->op = peek().text;
        node->args = {cur};
        ++pos_;
        cur = node;
      } else {
        return cur;
      }
    }
  }

  std::vector<Token> t_;
  size_t pos_ = 0;
  ExprError* err_;
  bool failed_ = false;
  int depth_ = 0;
};

void collect(const Expr& e, std::vector<VarReference>& out) {
  if (e.kind == Expr::Kind::Path) out.push_back(e.ref);
  for (auto& a : e.args) collect(*a, out);
}

/// Where `ref` starts in `scope`: its first name, and its second when the
/// item's values and the roots both hold an object under the first (a
/// block step's own output among the run's "steps"). `next` is the first
/// segment still to walk; `merged` holds the rare whole merged object.
const Value* start_of(const VarReference& ref, const Scope& scope, size_t* next, Value* merged) {
  *next = 0;
  if (!scope.over || ref.path.empty() || !ref.path[0].is_string()) return &scope.base;
  const std::string& name = ref.path[0].get_ref<const std::string&>();
  auto o = scope.over->find(name);
  if (o == scope.over->end()) return &scope.base;
  auto b = scope.base.is_object() ? scope.base.find(name) : scope.base.end();
  *next = 1;
  if (b == scope.base.end() || !o->is_object() || !b->is_object()) return &*o;
  if (ref.path.size() > 1 && ref.path[1].is_string()) {
    const std::string& key = ref.path[1].get_ref<const std::string&>();
    *next = 2;
    if (o->contains(key)) return &(*o)[key];
    if (b->contains(key)) return &(*b)[key];
    throw EvalError(fmt::format("'{}' is not defined", ref.text()));
  }
  *merged = *b;
  merged->update(*o);
  return merged;
}

Value walk(const VarReference& ref, const Scope& scope) {
  size_t first = 0;
  Value merged;
  const Value* cur = start_of(ref, scope, &first, &merged);
  for (size_t i = first; i < ref.path.size(); ++i) {
    if (is_deferred(*cur)) {
      // Keep the deepest known prefix and append the rest of the path.
      VarReference rest;
      rest.path.assign(ref.path.begin() + i, ref.path.end());
      return deferred(deferred_text(*cur) + (rest.path[0].is_string() ? "." : "") + rest.text());
    }
    const Value& seg = ref.path[i];
    if (seg.is_string()) {
      if (!cur->is_object() || !cur->contains(seg.get<std::string>()))
        throw EvalError(fmt::format("'{}' is not defined", ref.text()));
      cur = &(*cur)[seg.get<std::string>()];
    } else {
      long long idx = seg.get<long long>();
      if (!cur->is_array())
        throw EvalError(fmt::format("'{}': cannot index something that is not a list", ref.text()));
      if (idx < 0) idx += static_cast<long long>(cur->size());
      if (idx < 0 || idx >= static_cast<long long>(cur->size()))
        throw EvalError(fmt::format("'{}': index out of range (the list has {} items)",
                                    ref.text(), cur->size()));
      cur = &(*cur)[static_cast<size_t>(idx)];
    }
  }
  return *cur;
}

Value apply_filter(const Expr& e, const Scope& roots) {
  Value in = evaluate(*e.args[0], roots);
  std::vector<Value> args;
  for (size_t i = 1; i < e.args.size(); ++i) args.push_back(evaluate(*e.args[i], roots));
  if (e.op == "default") {
    if (in.is_null() || (in.is_string() && in.get<std::string>().empty()))
      return args.empty() ? Value("") : args[0];
    return in;
  }
  if (is_deferred(in)) return deferred(deferred_text(in) + " | " + e.op);
  if (e.op == "length") {
    if (in.is_array() || in.is_object()) return Value(in.size());
    if (in.is_string()) return Value(in.get<std::string>().size());
    throw EvalError("length needs a list, map or string");
  }
  if (e.op == "lower" || e.op == "upper") {
    std::string s = to_text(in);
    for (auto& c : s) c = e.op == "lower" ? std::tolower(static_cast<unsigned char>(c))
                                          : std::toupper(static_cast<unsigned char>(c));
    return Value(s);
  }
  if (!in.is_array()) throw EvalError(e.op + " needs a list");
  if (e.op == "first" || e.op == "last") {
    if (in.empty()) throw EvalError(e.op + " of an empty list");
    return e.op == "first" ? in.front() : in.back();
  }
  if (e.op == "join") {
    std::string sep = args.empty() ? "," : to_text(args[0]);
    std::string out;
    for (size_t i = 0; i < in.size(); ++i) out += (i ? sep : "") + to_text(in[i]);
    return Value(out);
  }
  // map(key): the key of each item.
  if (args.empty() || !args[0].is_string()) throw EvalError("map needs a key name, e.g. map('name')");
  Value out = Value::array();
  for (auto& item : in) {
    if (is_deferred(item)) out.push_back(deferred(deferred_text(item) + "." + args[0].get<std::string>()));
    else if (item.is_object() && item.contains(args[0].get<std::string>())) out.push_back(item[args[0].get<std::string>()]);
    else throw EvalError("map: an item has no '" + args[0].get<std::string>() + "'");
  }
  return out;
}

Value compare(const std::string& op, const Value& a, const Value& b) {
  // A list holding a run-time value cannot answer == or in yet either.
  if (contains_deferred(a) || contains_deferred(b)) return deferred("decided at run time");
  if (op == "==") return Value(a == b);
  if (op == "!=") return Value(a != b);
  if (op == "in" || op == "not in") {
    bool found;
    if (b.is_array()) found = std::find(b.begin(), b.end(), a) != b.end();
    else if (b.is_string()) found = to_text(b).find(to_text(a)) != std::string::npos;
    else if (b.is_object()) found = a.is_string() && b.contains(a.get<std::string>());
    else throw EvalError("'" + op + "' needs a list, map or string on its right");
    return Value(op == "in" ? found : !found);
  }
  if (!a.is_number() || !b.is_number()) throw EvalError("'" + op + "' compares numbers only");
  double x = a.get<double>(), y = b.get<double>();
  if (op == "<") return Value(x < y);
  if (op == ">") return Value(x > y);
  if (op == "<=") return Value(x <= y);
  return Value(x >= y);
}

}  // namespace

std::string VarReference::text() const {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i].is_string()) {
      if (i) out += '.';
      out += path[i].get<std::string>();
    } else {
      out += "[" + std::to_string(path[i].get<long long>()) + "]";
    }
  }
  return out;
}

ExprPtr parse_expression(std::string_view text, ExprError* err) {
  std::vector<Token> toks;
  if (!Lexer(text).tokenize(toks, err)) return nullptr;
  return Parser(std::move(toks), err).parse_all();
}

std::vector<VarReference> references(const Expr& expr) {
  std::vector<VarReference> out;
  collect(expr, out);
  return out;
}

bool Template::is_single_expression() const { return parts.size() == 1 && parts[0].expr; }

bool Template::has_expressions() const {
  for (auto& p : parts)
    if (p.expr) return true;
  return false;
}

Template parse_template(std::string_view text, ExprError* err) {
  Template t;
  std::string lit;
  size_t i = 0;
  while (i < text.size()) {
    if (text.substr(i, 3) == "$${") {
      lit += "${";
      i += 3;
    } else if (text.substr(i, 2) == "${") {
      // Find the closing brace outside quoted strings.
      size_t j = i + 2;
      char quote = 0;
      while (j < text.size() && (quote || text[j] != '}')) {
        if (quote && text[j] == '\\') ++j;
        else if (quote && text[j] == quote) quote = 0;
        else if (!quote && (text[j] == '\'' || text[j] == '"')) quote = text[j];
        ++j;
      }
      if (j >= text.size()) {
        if (err) *err = {i, "'${' has no closing '}'"};
        return {};
      }
      if (!lit.empty()) t.parts.push_back({std::move(lit), nullptr, 0});
      lit.clear();
      ExprError inner;
      ExprPtr e = parse_expression(text.substr(i + 2, j - i - 2), &inner);
      if (!e) {
        if (err) *err = {i + 2 + inner.offset, inner.message};
        return {};
      }
      t.parts.push_back({"", e, i + 2});
      i = j + 1;
    } else {
      lit += text[i++];
    }
  }
  if (!lit.empty() || t.parts.empty()) t.parts.push_back({std::move(lit), nullptr, 0});
  return t;
}

Value evaluate(const Expr& e, const Scope& roots) {
  switch (e.kind) {
    case Expr::Kind::Literal: return e.literal;
    case Expr::Kind::Path: return walk(e.ref, roots);
    case Expr::Kind::List: {
      Value out = Value::array();
      for (auto& a : e.args) out.push_back(evaluate(*a, roots));
      return out;
    }
    case Expr::Kind::Not: {
      Value v = evaluate(*e.args[0], roots);
      if (is_deferred(v)) return v;
      return Value(!truthy(v));
    }
    case Expr::Kind::And:
    case Expr::Kind::Or: {
      bool is_and = e.kind == Expr::Kind::And;
      Value a = evaluate(*e.args[0], roots);
      // A known operand can decide alone: false and <x> is false.
      if (!is_deferred(a) && truthy(a) != is_and) return Value(!is_and);
      Value b = evaluate(*e.args[1], roots);
      if (!is_deferred(b) && truthy(b) != is_and) return Value(!is_and);
      if (is_deferred(a)) return a;
      if (is_deferred(b)) return b;
      return Value(is_and);
    }
    case Expr::Kind::Compare:
      return compare(e.op, evaluate(*e.args[0], roots), evaluate(*e.args[1], roots));
    case Expr::Kind::Filter: return apply_filter(e, roots);
    case Expr::Kind::Index:
    case Expr::Kind::Member: {
      Value base = evaluate(*e.args[0], roots);
      Value key = e.kind == Expr::Kind::Member ? Value(e.op) : evaluate(*e.args[1], roots);
      if (is_deferred(base)) return deferred(deferred_text(base) + "[" + to_text(key) + "]");
      if (is_deferred(key)) return deferred("value at [" + deferred_text(key) + "]");
      if (key.is_string() && base.is_object()) {
        if (!base.contains(key.get<std::string>()))
          throw EvalError(fmt::format("no '{}' here; known: {}", key.get<std::string>(), to_text([&] {
                                        Value names = Value::array();
                                        for (auto it = base.begin(); it != base.end(); ++it) names.push_back(it.key());
                                        return names;
                                      }())));
        return base[key.get<std::string>()];
      }
      if (key.is_number_integer() && base.is_array()) {
        long long i = key.get<long long>();
        if (i < 0) i += static_cast<long long>(base.size());
        if (i < 0 || i >= static_cast<long long>(base.size())) throw EvalError("index out of range");
        return base[static_cast<size_t>(i)];
      }
      throw EvalError("cannot index " + std::string(base.type_name()) + " with " + key.type_name());
    }
  }
  return nullptr;
}

Value render(const Template& tpl, const Scope& roots) {
  if (tpl.is_single_expression()) return evaluate(*tpl.parts[0].expr, roots);
  std::string out;
  bool known = true;
  for (auto& p : tpl.parts) {
    if (!p.expr) {
      out += p.literal;
      continue;
    }
    Value v = evaluate(*p.expr, roots);
    known = known && !contains_deferred(v);
    out += to_text(v);
  }
  // Text built from a value known only at run time is itself known only
  // then (a dry run must not read a path "engine-<run.id>.backup").
  return known ? Value(out) : composed_deferred(out);
}


}  // namespace she
