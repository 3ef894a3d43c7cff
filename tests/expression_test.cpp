#include <doctest/doctest.h>

#include "workflows/expression.h"

using namespace she;

namespace {
Value roots() {
  return Value::parse(R"({
    "params": {"vms": ["db01", "web01"], "n": 2, "name": "x", "empty": [], "unset": null},
    "env": {"host": {"h1": {"address": "10.0.0.1"}}, "hosts": [{"name": "h1", "score": 3400}, {"name": "h2", "score": 0}]},
    "steps": {"find": {"$deferred": "steps.find"}}
  })");
}

Value eval(const std::string& text) {
  ExprError err;
  ExprPtr e = parse_expression(text, &err);
  REQUIRE_MESSAGE(e, err.message);
  return evaluate(*e, roots());
}
}  // namespace

TEST_CASE("expressions: paths / literals / comparisons and logic") {
  CHECK(eval("params.n") == 2);
  CHECK(eval("params.vms[1]") == "web01");
  CHECK(eval("params.vms[-1]") == "web01");
  CHECK(eval("env.hosts[0].name") == "h1");
  CHECK(eval("params.n == 2") == true);
  CHECK(eval("params.n != 2") == false);
  CHECK(eval("params.n >= 2 and params.n < 3") == true);
  CHECK(eval("not (params.n > 5) or false") == true);
  CHECK(eval("'db01' in params.vms") == true);
  CHECK(eval("'db02' not in params.vms") == true);
  CHECK(eval("[1, 2, 'a']") == Value::parse(R"([1, 2, "a"])"));
}

TEST_CASE("expressions: filters bind tighter than comparisons") {
  CHECK(eval("params.vms | length > 1") == true);
  CHECK(eval("params.empty | length > 0") == false);
  CHECK(eval("params.vms | join(', ')") == "db01, web01");
  CHECK(eval("env.hosts | map('name')") == Value::parse(R"(["h1", "h2"])"));
  CHECK(eval("'h2' in (env.hosts | map('name'))") == true);
  CHECK(eval("params.unset | default('d')") == "d");
  CHECK(eval("params.name | default('d')") == "x");
  CHECK(eval("params.name | upper") == "X");
}

TEST_CASE("expressions: dynamic index into a map by another value") {
  Value r = roots();
  r["params"]["target"] = "h1";
  ExprError err;
  ExprPtr e = parse_expression("env.host[params.target].address", &err);
  REQUIRE(e);
  CHECK(evaluate(*e, r) == "10.0.0.1");
  auto refs = references(*e);
  REQUIRE(refs.size() == 2);
  CHECK(refs[0].text() == "env.host");
  CHECK(refs[1].text() == "params.target");
}

TEST_CASE("expressions: deferred values travel through and decide nothing early") {
  Value v = eval("steps.find.id");
  CHECK(is_deferred(v));
  CHECK(to_text(v) == "<steps.find.id>");
  CHECK(is_deferred(eval("steps.find.count > 0")));
  CHECK(eval("false and steps.find.found") == false);  // a known operand decides
  CHECK(eval("true or steps.find.found") == true);
  CHECK(is_deferred(eval("true and steps.find.found")));
}

TEST_CASE("expressions: syntax errors carry the offset") {
  ExprError err;
  CHECK_FALSE(parse_expression("params.n ==", &err));
  CHECK(err.offset == 11);
  CHECK_FALSE(parse_expression("params.n | nosuchfilter", &err));
  CHECK(err.message.find("unknown filter") != std::string::npos);
  CHECK_FALSE(parse_expression("'unterminated", &err));
  CHECK(err.message == "unterminated string");
}

TEST_CASE("expressions: evaluation errors name the path") {
  ExprError err;
  ExprPtr e = parse_expression("params.vms[5]", &err);
  REQUIRE(e);
  CHECK_THROWS_WITH_AS(evaluate(*e, roots()), doctest::Contains("index out of range"), EvalError);
  e = parse_expression("params.nope", &err);
  CHECK_THROWS_WITH_AS(evaluate(*e, roots()), "'params.nope' is not defined", EvalError);
}

TEST_CASE("expressions: an item's values go over the roots - one level merged - the roots untouched") {
  // A loop item's scope layers its values over the run's instead of copying
  // them (a loop over N hosts would copy the N hosts once per item).
  Value base = {{"params", {{"n", 2}}}, {"steps", {{"select", {{"hosts", {"a", "b"}}}}, {"fence", {{"id", "old"}}}}}};
  Value item = {{"host", {{"name", "h1"}}}, {"steps", {{"fence", {{"id", "h1-fence"}}}}}};
  const Value before = base;
  const Scope scope(base, item);
  ExprError err;
  auto eval = [&](const char* text) {
    ExprPtr e = parse_expression(text, &err);
    REQUIRE(e);
    return evaluate(*e, scope);
  };
  CHECK(eval("host.name") == "h1");
  CHECK(eval("params.n") == 2);
  CHECK(eval("steps.fence.id") == "h1-fence");       // the item's own output wins
  CHECK(eval("steps.select.hosts[1]") == "b");        // the run's, beside it
  CHECK(eval("steps")["fence"]["id"] == "h1-fence");  // a whole merged object
  CHECK(eval("steps")["select"]["hosts"].size() == 2);
  CHECK_THROWS_WITH_AS(eval("steps.nope.id"), "'steps.nope.id' is not defined", EvalError);
  CHECK(base == before);
}

TEST_CASE("templates: single expression keeps its type / mixed text renders") {
  ExprError err;
  Template t = parse_template("${params.vms}", &err);
  REQUIRE(t.is_single_expression());
  CHECK(render(t, roots()).is_array());
  t = parse_template("vms=${params.vms | join(' ')}; n=${params.n}", &err);
  CHECK(render(t, roots()) == "vms=db01 web01; n=2");
  t = parse_template("literal $${not.an.expression}", &err);
  CHECK(render(t, roots()) == "literal ${not.an.expression}");
  t = parse_template("/hosts/${steps.find.id}/fence", &err);
  // Text around a value known only at run time is itself deferred (a dry run
  // must not use it), and shows as the text with the placeholder inside.
  CHECK(is_deferred(render(t, roots())));
  CHECK(to_text(render(t, roots())) == "/hosts/<steps.find.id>/fence");
  t = parse_template("${'a}b'}", &err);  // a brace inside quotes does not close
  CHECK(render(t, roots()) == "a}b");
  t = parse_template("open ${params.n", &err);
  CHECK(t.parts.empty());
  CHECK(err.offset == 5);
}
