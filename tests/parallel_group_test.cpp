// Groups (`parallel:`): steps run side by side, each once, run for real as a
// child process on plans of test steps. A step of a group never waits for
// another of it; each is journaled as a step of its own, so a failure, a
// kill at any record and --from resume them without repeating an effect;
// validation refuses what cannot run side by side; the dry run and the
// report show the group.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/scratch_plan.h"
#include "tests/test_support.h"

using namespace she;
using she::test::Scratch;

namespace {

long first_record(const std::vector<Value>& records, const std::string& type, const std::string& step) {
  for (size_t i = 0; i < records.size(); ++i)
    if (records[i].value("t", "") == type && records[i].value("step", "") == step) return static_cast<long>(i);
  return -1;
}

// Three steps side by side, each spending time around its effect, then a
// step after the group.
const char* kGroup = R"(  - id: checks
    name: Three effects side by side
    parallel:
      - id: one
        uses: test.effect
        with: {file: EFFECTS, sleep_ms: 30}
      - id: two
        uses: test.effect
        with: {file: EFFECTS, sleep_ms: 30}
      - id: three
        uses: test.effect
        with: {file: EFFECTS, sleep_ms: 30}
  - id: after
    uses: test.effect
    with: {file: EFFECTS}
)";

}  // namespace

TEST_CASE("groups: the steps of a group run side by side - the first waits for a later one's effect") {
  // `wait` cannot end until `open`, listed after it, has run. In a row the
  // gate would give up (after 20 s) and the run fail.
  Scratch s(R"(  - id: side
    name: Wait and open, side by side
    parallel:
      - id: wait
        uses: test.gate
        with: {until: DIR/opened}
      - id: open
        uses: test.effect
        with: {file: DIR/opened}
  - id: after
    uses: test.value
    with: {value: done}
)");
  auto r = s.run();
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(r.output.find("Wait and open, side by side (wait, open side by side)") != std::string::npos);
  auto records = s.journal();
  // `open` (an acting step: its start is journaled before its effect)
  // started before `wait` ended; the walk went on once both had ended.
  const long open_started = first_record(records, "step_started", "open");
  const long open_done = first_record(records, "step_succeeded", "open");
  const long wait_done = first_record(records, "step_succeeded", "wait");
  const long after = first_record(records, "step_started", "after");
  REQUIRE(open_started >= 0);
  REQUIRE(wait_done >= 0);
  CHECK(open_started < wait_done);
  CHECK(std::max(open_done, wait_done) < after);
  // The report: the group on the critical path, bounded by its slowest step.
  auto report = Value::parse(test::read_file(s.run_dir() / "report.json"));
  bool found = false;
  for (const auto& c : report["critical_path"]["steps"])
    if (c.value("step", "") == "side") {
      found = true;
      CHECK(c["group_steps"] == Value({"wait", "open"}));
      CHECK((c["item"] == "wait" || c["item"] == "open"));  // whichever was slower
    }
  CHECK(found);
  int in_group = 0;
  for (const auto& st : report["steps"])
    if (st.value("group", "") == "side") ++in_group;
  CHECK(in_group == 2);  // wait and open; `after` is not in it
}

TEST_CASE("groups: a failing step stops the run after its group - the others finish - the resume runs only what did not pass") {
  Scratch s(R"(  - id: checks
    parallel:
      - id: flaky
        uses: test.fail
        with: {counter: DIR/c, fail_times: 1, class: fatal}
      - id: steady
        uses: test.effect
        with: {file: EFFECTS, sleep_ms: 20}
  - id: after
    uses: test.effect
    with: {file: EFFECTS}
)");
  auto r = s.run();
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("flaky: FAILED: planned failure 1 of 1") != std::string::npos);
  auto counts = s.effect_counts();
  CHECK(counts.size() == 1);  // steady ran beside it; after did not start
  CHECK(first_record(s.journal(), "step_started", "after") < 0);
  r = s.run();
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  counts = s.effect_counts();
  CHECK(counts.size() == 2);
  for (auto& [line, n] : counts) CHECK_MESSAGE(n == 1, line);  // steady not again
}

TEST_CASE("groups: killed at every journal record of a group - resumed - every effect exactly once") {
  Scratch probe(kGroup);
  REQUIRE(probe.run().exit_code == 0);
  const size_t total = probe.journal().size();
  REQUIRE(probe.effect_counts().size() == 4);
  for (size_t k = 2; k + 1 < total; ++k) {
    CAPTURE(k);
    Scratch s(kGroup);
    auto r = s.run("", "SHE_RESTORE_TEST_KILL_AFTER_RECORDS=" + std::to_string(k));
    REQUIRE(r.exit_code == 137);
    r = s.run();
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    auto counts = s.effect_counts();
    CHECK(counts.size() == 4);
    for (auto& [line, n] : counts) CHECK_MESSAGE(n == 1, line);
  }
}

TEST_CASE("groups: --from a step of a group runs it and what follows again - the group's id runs the whole group") {
  Scratch s(kGroup);
  REQUIRE(s.run().exit_code == 0);
  const auto once = s.effect_counts();
  REQUIRE(once.size() == 4);
  auto r = s.run("--from three");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  auto counts = s.effect_counts();
  int twice = 0;
  for (auto& [line, n] : counts) twice += n == 2;
  CHECK(twice == 2);  // three and after
  r = s.run("--from checks");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  counts = s.effect_counts();
  for (auto& [line, n] : counts) CHECK_MESSAGE(n >= 2, line);
}

TEST_CASE("groups: the dry run shows the group and each of its steps") {
  Scratch s(kGroup);
  auto r = test::testbed("--dry-run '" + s.plan.string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(r.output.find("[1-3/4] checks: Three effects side by side") != std::string::npos);
  CHECK(r.output.find("group  one, two, three run side by side") != std::string::npos);
  for (const char* step : {"[1/4] one", "[2/4] two", "[3/4] three", "[4/4] after"})
    CHECK_MESSAGE(r.output.find(step) != std::string::npos, step);
}

TEST_CASE("groups: validation refuses a step using the output of a step beside it - a loop or a block inside a group") {
  Scratch s(R"(  - id: checks
    parallel:
      - id: look
        uses: test.value
        with: {value: x}
      - id: use
        uses: test.value
        with: {value: "${steps.look.value}"}
      - id: loop
        uses: test.value
        foreach: {items: [a, b], as: v}
        with: {value: "${v}"}
      - id: inner
        foreach: {items: [a], as: v}
        steps:
          - id: deep
            uses: test.value
            with: {value: y}
)");
  auto r = test::testbed("validate '" + s.plan.string() + "'");
  CHECK(r.exit_code == 3);
  const std::string plan = s.plan.string();
  // Each where it is written, with a hint; all three in one run.
  CHECK(r.output.find(plan + ":12:26: error[forward-reference]: step 'look' runs side by side with this one (group "
                             "'checks'): its outputs are not there yet") != std::string::npos);
  CHECK(r.output.find("hint: move this step after the group, or 'look' before it") != std::string::npos);
  CHECK(r.output.find(plan + ":15:18: error[rule-violation]: a loop inside group 'checks'") != std::string::npos);
  CHECK(r.output.find(plan + ":17:9: error[rule-violation]: a group cannot hold a block") != std::string::npos);
}

TEST_CASE("groups: steps naming one host run in a lane in plan order - a failure keeps the next one on that host from starting") {
  Scratch s("");
  // The scratch environment with two hosts; the test steps only say they
  // act on them (nothing connects: no key to warm a session with).
  test::write_file(s.dir.path() / "known_hosts", "");
  std::string plan = test::read_file(s.plan);
  plan.replace(plan.find("\nsteps:\n"), 8,
               "\n  ssh: {user: root, known_hosts: DIR/known_hosts, accept_new_host_key: true}\n  hosts:\n"
               "    - {name: h1, address: h1.test}\n    - {name: h2, address: h2.test}\nsteps:\n");
  plan += R"(  - id: checks
    parallel:
      - id: first-on-h1
        uses: test.fail
        with: {host: h1, counter: DIR/c, fail_times: 1, class: fatal}
      - id: second-on-h1
        uses: test.effect
        with: {host: h1, file: EFFECTS}
      - id: on-h2
        uses: test.effect
        with: {host: h2, file: EFFECTS, sleep_ms: 20}
)";
  size_t at;
  while ((at = plan.find("EFFECTS")) != std::string::npos) plan.replace(at, 7, s.effects.string());
  while ((at = plan.find("DIR")) != std::string::npos) plan.replace(at, 3, s.dir.path().string());
  test::write_file(s.plan, plan);
  auto r = s.run();
  CHECK(r.exit_code == 1);
  auto records = s.journal();
  CHECK(first_record(records, "step_started", "second-on-h1") < 0);  // behind the failed one on h1: not started
  CHECK(first_record(records, "step_succeeded", "on-h2") >= 0);      // its own lane: started with the first
  r = s.run();
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  records = s.journal();
  const long first_done = first_record(records, "step_succeeded", "first-on-h1");
  const long second_started = first_record(records, "step_started", "second-on-h1");
  REQUIRE(first_done >= 0);
  CHECK(first_done < second_started);  // one after the other on h1
  auto counts = s.effect_counts();
  CHECK(counts.size() == 2);
  for (auto& [line, n] : counts) CHECK_MESSAGE(n == 1, line);
}
