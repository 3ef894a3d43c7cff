// Blocks (per-item pipelines), run for real as a child process on plans of
// test steps: no item waits for another item's step, each item's step is
// journaled as an iteration, a killed block resumes each item where it
// stopped without repeating an effect, a failure stops new steps, a step
// sees its own item's earlier outputs, and the dry run shows the flow.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/scratch_plan.h"
#include "tests/test_support.h"

using namespace she;
using she::test::Scratch;

namespace {

/// Index of the first record of `type` for `step` and item label `label`.
long first_record(const std::vector<Value>& records, const std::string& type, const std::string& step,
                  const std::string& iter) {
  for (size_t i = 0; i < records.size(); ++i)
    if (records[i].value("t", "") == type && records[i].value("step", "") == step &&
        records[i].value("iter", "") == iter)
      return static_cast<long>(i);
  return -1;
}

// Three steps each item goes through, with time spent in each so that
// items overlap.
const char* kThreeSteps = R"(  - id: replace
    name: Fence, remove and reinstall each host
    foreach: {items: [h1, h2, h3, h4, h5, h6], as: host}
    concurrency: 3
    steps:
      - id: fence
        uses: test.effect
        with: {file: EFFECTS, sleep_ms: 30}
      - id: remove
        uses: test.effect
        with: {file: EFFECTS, sleep_ms: 30}
      - id: reinstall
        uses: test.effect
        with: {file: EFFECTS, sleep_ms: 30}
  - id: after
    uses: test.value
    with: {value: "${steps.reinstall.results | length}"}
)";

}  // namespace

TEST_CASE("pipelines: an item is never behind another item's step - the slow item waits for a later step of another") {
  // Item `slow` cannot finish its first step until item `fast` has done its
  // second. A barrier between the block's steps would never let that
  // happen (the gate gives up after 20 s and the run fails).
  Scratch s(R"(  - id: pipe
    foreach: {items: [slow, fast], as: x}
    concurrency: 2
    steps:
      - id: first
        uses: test.gate
        with: {until: DIR/second-done, hold: "${x == 'slow'}"}
      - id: second
        uses: test.effect
        when: x == 'fast'
        with: {file: DIR/second-done}
)");
  auto r = s.run();
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  auto records = s.journal();
  long fast_second = first_record(records, "step_started", "second", "1");
  long slow_first = first_record(records, "step_succeeded", "first", "0");
  REQUIRE(fast_second >= 0);
  REQUIRE(slow_first >= 0);
  CHECK(fast_second < slow_first);
  CHECK(first_record(records, "step_skipped", "second", "0") > slow_first);  // `when` per item
}

TEST_CASE("pipelines: each item goes through the block's steps in order - journaled per item and step - at most concurrency items in flight") {
  Scratch s(kThreeSteps);
  auto r = s.run();
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(r.output.find("Fence, remove and reinstall each host (6 items through fence -> remove -> reinstall, 3 at a "
                      "time)") != std::string::npos);
  auto records = s.journal();
  std::map<std::string, int> items_in_flight_by;
  int in_flight = 0, most = 0;
  for (int i = 0; i < 6; ++i) {
    std::string key = std::to_string(i);
    long fence = first_record(records, "step_succeeded", "fence", key);
    long remove = first_record(records, "step_started", "remove", key);
    long remove_done = first_record(records, "step_succeeded", "remove", key);
    long reinstall = first_record(records, "step_started", "reinstall", key);
    CAPTURE(key);
    REQUIRE(fence >= 0);
    CHECK(fence < remove);
    CHECK(remove_done < reinstall);
  }
  // An item is in flight from its first step's start to its last step's end.
  for (auto& rec : records) {
    if (rec.value("t", "") == "step_started" && rec.value("step", "") == "fence") most = std::max(most, ++in_flight);
    if (rec.value("t", "") == "step_succeeded" && rec.value("step", "") == "reinstall") --in_flight;
  }
  CHECK(most <= 3);
  CHECK(most >= 2);  // items overlapped
  for (const char* step : {"fence", "remove", "reinstall"}) {
    int expanded = 0;
    for (auto& rec : records)
      if (rec.value("t", "") == "loop_expanded" && rec.value("step", "") == step) ++expanded;
    CHECK_MESSAGE(expanded == 1, step);
  }
  auto counts = s.effect_counts();
  CHECK(counts.size() == 18);
  for (auto& [line, n] : counts) CHECK_MESSAGE(n == 1, line);
  // After the block, its steps' outputs are per item, under results.
  auto status = Value::parse(s.status().output);
  CHECK(status["state"] == "succeeded");
  CHECK(status["steps"]["succeeded"] == 4);
  long after = first_record(records, "step_succeeded", "after", "");
  REQUIRE(after >= 0);
  CHECK(records[static_cast<size_t>(after)]["outputs"]["value"] == 6);
}

TEST_CASE("pipelines: killed at every journal record of a block - resumed - every item goes through every step exactly once") {
  Scratch probe(kThreeSteps);
  REQUIRE(probe.run().exit_code == 0);
  const size_t total = probe.journal().size();
  // Every record boundary inside the block (a sample when there are many).
  for (size_t k = 4; k + 3 < total; k += 3) {
    CAPTURE(k);
    Scratch s(kThreeSteps);
    auto r = s.run("", "SHE_RESTORE_TEST_KILL_AFTER_RECORDS=" + std::to_string(k));
    REQUIRE(r.exit_code == 137);
    r = s.run();
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    auto counts = s.effect_counts();
    CHECK(counts.size() == 18);
    for (auto& [line, n] : counts) CHECK_MESSAGE(n == 1, line);
  }
}

TEST_CASE("pipelines: a failing item stops new steps - the others stop at a safe point - the resume finishes each item") {
  Scratch s(R"(  - id: pipe
    foreach: {items: [a, b, c, d], as: x}
    concurrency: 2
    steps:
      - id: one
        uses: test.effect
        with: {file: EFFECTS, sleep_ms: 20}
      - id: flaky
        uses: test.fail
        when: x == 'b'
        with: {counter: DIR/c, fail_times: 1, class: fatal}
      - id: three
        uses: test.effect
        with: {file: EFFECTS}
)");
  auto r = s.run();
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("flaky: FAILED: b: planned failure 1 of 1") != std::string::npos);
  auto counts = s.effect_counts();
  CHECK(counts.count("three/b") == 0);
  CHECK(counts.count("one/d") == 0);  // no new item after the failure
  r = s.run();
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  counts = s.effect_counts();
  CHECK(counts.size() == 8);
  for (auto& [line, n] : counts) CHECK_MESSAGE(n == 1, line);
}

TEST_CASE("pipelines: inside a block a step reads its own item's outputs of the earlier steps") {
  Scratch s(R"(  - id: pipe
    foreach: {items: [a, b, c], as: x}
    concurrency: 3
    steps:
      - id: look
        uses: test.value
        with: {value: "found-${x}"}
      - id: use
        uses: test.value
        with: {value: "${steps.look.value}"}
)");
  auto r = s.run();
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  auto records = s.journal();
  for (auto [key, item] : std::vector<std::pair<std::string, std::string>>{{"0", "a"}, {"1", "b"}, {"2", "c"}}) {
    long at = first_record(records, "step_succeeded", "use", key);
    REQUIRE(at >= 0);
    CHECK(records[static_cast<size_t>(at)]["outputs"]["value"] == "found-" + item);
  }
  // The dry run shows the same flow, item by item.
  r = test::testbed("--dry-run '" + s.plan.string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(r.output.find("block  each item goes through look -> use on its own, 3 at a time") != std::string::npos);
  CHECK(r.output.find("x = b:") != std::string::npos);
  CHECK(r.output.find("value = found-b") != std::string::npos);
}

TEST_CASE("pipelines: --from a step inside a block runs it and the block's later steps again for every item") {
  Scratch s(kThreeSteps);
  REQUIRE(s.run().exit_code == 0);
  auto r = s.run("--from remove");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  auto counts = s.effect_counts();
  CHECK(counts["fence/h1"] == 1);
  CHECK(counts["remove/h1"] == 2);
  CHECK(counts["reinstall/h6"] == 2);
  r = s.run("--from replace");  // the block's id: from its first step
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(s.effect_counts()["fence/h3"] == 2);
}
