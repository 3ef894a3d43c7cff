// `runs` and `report` on runs the tests make: failed then resumed to
// success, started anew, with loops, retries and a loop that had no items.
#include <doctest/doctest.h>

#include "tests/scratch_plan.h"

using namespace she;
using test::Scratch;

namespace {

const char* kSteps =
    "  - id: flaky\n    uses: test.fail\n    retry: {attempts: 3, backoff: 10ms, on: [transport]}\n"
    "    with: {counter: DIR/flaky, fail_times: 1}\n"
    "  - id: hosts\n    uses: test.effect\n    foreach: [he1, he2, he3]\n    concurrency: 3\n"
    "    with: {file: EFFECTS}\n"
    "  - id: none\n    uses: test.effect\n    foreach: []\n    with: {file: EFFECTS}\n"
    "  - id: gate\n    uses: test.fail\n    with: {counter: DIR/gate, fail_times: 1, class: fatal}\n";

test::ProcessResult history(Scratch& s, const std::string& command, const std::string& flags = "") {
  return test::testbed(command + " '" + s.plan.string() + "' --state-dir '" + s.state.string() + "' " + flags);
}

}  // namespace

TEST_CASE("runs: every run of a plan with its result and who ran it - text and json") {
  Scratch s(kSteps);
  CHECK(s.run().exit_code == 1);  // gate fails once
  auto r = history(s, "runs", "--output json");
  REQUIRE(r.exit_code == 0);
  Value runs = Value::parse(r.output);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0]["result"] == "failed");
  CHECK(s.run().exit_code == 0);  // resumed: the same run
  CHECK(s.run("--new-run").exit_code == 0);
  r = history(s, "runs", "--output json");
  runs = Value::parse(r.output);
  REQUIRE(runs.size() == 2);
  CHECK(runs[0]["result"] == "succeeded");
  CHECK(runs[0]["resumes"] == 1);
  CHECK(runs[1]["result"] == "succeeded");
  CHECK(runs[0]["run_id"] < runs[1]["run_id"]);
  CHECK(runs[0]["duration_ms"].get<long long>() >= 0);
  CHECK(to_text(runs[0]["by"]).find('@') != std::string::npos);
  r = history(s, "runs");
  CHECK(r.exit_code == 0);
  CHECK(r.output.find(to_text(runs[0]["run_id"])) != std::string::npos);
  CHECK(r.output.find(to_text(runs[1]["run_id"])) != std::string::npos);
  // The command it names to see one in full keeps --state-dir.
  CHECK_MESSAGE(r.output.find("report " + s.plan.string() + " --state-dir " + s.state.string() + " --run RUN") !=
                    std::string::npos,
                r.output);
}

TEST_CASE("report: any run from its journal - loop items timed apart - retries with their causes - an empty loop not counted") {
  Scratch s(kSteps);
  CHECK(s.run().exit_code == 1);
  std::string first = to_text(Value::parse(history(s, "runs", "--output json").output)[0]["run_id"]);
  CHECK(s.run().exit_code == 0);
  CHECK(s.run("--new-run").exit_code == 0);

  auto r = history(s, "report", "--run " + first + " --format json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  Value rep = Value::parse(r.output);
  CHECK(rep["run_id"] == first);
  CHECK(rep["resumes"] == 1);
  const Value& flaky = rep["steps"][0];
  REQUIRE(flaky["iterations"].size() == 1);
  REQUIRE(flaky["iterations"][0]["retries"].size() == 1);
  CHECK(flaky["iterations"][0]["retries"][0]["class"] == "transport");
  CHECK(to_text(flaky["iterations"][0]["retries"][0]["error"]).find("planned failure 1 of 1") != std::string::npos);
  // A loop's wall time runs from its first start to its last end: at least
  // its longest item, never the sum the report used to print.
  const Value& hosts = rep["steps"][1];
  REQUIRE(hosts["iterations"].size() == 3);
  long long longest = 0;
  for (auto& i : hosts["iterations"]) longest = std::max(longest, i["duration_ms"].get<long long>());
  CHECK(hosts["wall_ms"].get<long long>() >= longest);

  r = history(s, "report", "--run " + first);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("# she-restore run " + first) != std::string::npos);
  CHECK(r.output.find("## Loop items") != std::string::npos);
  for (const char* item : {"| hosts | he1 |", "| hosts | he2 |", "| hosts | he3 |"})
    CHECK_MESSAGE(r.output.find(item) != std::string::npos, r.output);
  CHECK(r.output.find("## Retries") != std::string::npos);
  CHECK(r.output.find("| none | test.effect | succeeded | - | - |") != std::string::npos);  // no items, no attempts

  // The latest run by default; an unknown run is refused naming `runs`.
  r = history(s, "report", "--format json");
  CHECK(Value::parse(r.output)["run_id"] != first);
  r = history(s, "report", "--run 0099-nope");
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("she-restore runs") != std::string::npos);
}
