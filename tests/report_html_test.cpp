// The HTML report in a real browser (Debian's headless Chromium): the page
// renders, and its DOM holds one bar per step and loop item that ran, in
// the lane of the host each acted on.
#include <doctest/doctest.h>

#include <regex>

#include "tests/scratch_plan.h"

using namespace she;
using test::Scratch;
namespace fs = std::filesystem;

namespace {

/// Chromium, headless, with a profile of its own in `dir`; `what` is
/// --dump-dom or --screenshot=FILE.
test::ProcessResult chromium(const fs::path& dir, const std::string& what, const fs::path& page) {
  return test::run("timeout 120 chromium --headless --no-sandbox --disable-gpu --user-data-dir='" +
                   (dir / "profile").string() + "' --window-size=1200,900 " + what + " 'file://" + page.string() +
                   "' 2>/dev/null");
}

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = 0; (at = text.find(needle, at)) != std::string::npos; at += needle.size()) ++n;
  return n;
}

}  // namespace

TEST_CASE("report html: the page renders in headless Chromium - one bar per step and item - hosts in their own lanes") {
  Scratch s("  - id: hosts\n    uses: test.effect\n    foreach: [he1, he2, he3]\n    concurrency: 2\n"
            "    with: {file: EFFECTS}\n"
            "  - id: optional\n    uses: test.fail\n    on_failure: continue\n    with: {counter: DIR/c, class: fatal}\n"
            "  - id: pause\n    uses: test.wait\n    with: {sleep_ms: 50}\n");
  auto r = s.run();
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  fs::path page = s.run_dir() / "report.html";
  REQUIRE(fs::exists(page));
  Value report = Value::parse(test::read_file(s.run_dir() / "report.json"));
  size_t ran = 0;
  for (auto& step : report["steps"]) ran += step.value("iterations", Value::array()).size();
  REQUIRE(ran == 5);

  auto dom = chromium(s.dir.path(), "--dump-dom", page);
  REQUIRE_MESSAGE(dom.exit_code == 0, dom.output);
  CHECK(count(dom.output, "class=\"bar") == ran);
  for (const char* host : {"he1", "he2", "he3"})
    CHECK(dom.output.find(std::string("data-lane=\"") + host + "\"") != std::string::npos);
  CHECK(count(dom.output, "data-step=\"hosts\"") == 3);
  CHECK(std::regex_search(dom.output, std::regex("class=\"bar failed[^\"]*\" data-step=\"optional\"")));
  // The critical path: each step that ran, by its longest item, outlined once.
  const Value& cp = report["critical_path"];
  REQUIRE(cp["steps"].size() == 3);
  CHECK(cp["steps"][0]["step"] == "hosts");
  CHECK(cp["acting_ms"].get<long long>() + cp["waiting_ms"].get<long long>() + cp["between_steps_ms"].get<long long>() ==
        cp["span_ms"].get<long long>());
  CHECK(count(dom.output, " critical\"") == 3);
  CHECK(dom.output.find("id=\"result\"><b>succeeded</b>") != std::string::npos);

  // Not blank: the rendered page weighs far more than an empty one taken
  // the same way (a blank screenshot compresses to almost nothing).
  test::write_file(s.dir.path() / "blank.html", "<!DOCTYPE html><html><body></body></html>");
  REQUIRE(chromium(s.dir.path(), "--screenshot='" + (s.dir.path() / "blank.png").string() + "'",
                   s.dir.path() / "blank.html").exit_code == 0);
  REQUIRE(chromium(s.dir.path(), "--screenshot='" + (s.dir.path() / "page.png").string() + "'", page).exit_code == 0);
  auto blank = fs::file_size(s.dir.path() / "blank.png"), shot = fs::file_size(s.dir.path() / "page.png");
  CHECK_MESSAGE(shot > 4 * blank, "screenshot " << shot << " bytes, blank page " << blank);

  // The same page from the journal, on demand.
  auto again = test::testbed("report '" + s.plan.string() + "' --state-dir '" + s.state.string() + "' --format html");
  CHECK(again.exit_code == 0);
  CHECK(again.output == test::read_file(page));
}
