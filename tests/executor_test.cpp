// The executor, run for real as a child process on plans of test steps:
// resume, prompts, locks, plan changes, --from, retries, timeouts, loops,
// signals and secrets. One case runs plans in process, to count journal
// reads.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "base/diagnostics.h"
#include "orchestrator/executor.h"
#include "orchestrator/journal.h"
#include "tests/scratch_plan.h"
#include "tests/test_support.h"
#include "tests/testbed/test_steps.h"
#include "workflows/plan.h"

using namespace she;
using she::test::Scratch;
namespace fs = std::filesystem;

namespace {

int count_records(const std::vector<Value>& records, const std::string& type, const std::string& step = "") {
  int n = 0;
  for (auto& r : records)
    if (r.value("t", "") == type && (step.empty() || r.value("step", "") == step)) ++n;
  return n;
}

const char* kPromptPlan = R"(  - id: first
    uses: test.effect
    with: {file: EFFECTS}
  - id: ask
    uses: prompt
    with: {message: 'Have the hosts been rebooted?'}
  - id: last
    uses: test.effect
    with: {file: EFFECTS}
)";

}  // namespace

TEST_CASE("run: a plan runs to the end - journal / frozen plan / log and reports are written / private") {
  Scratch s(kPromptPlan);
  auto r = s.run("--yes");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(s.effect_counts() == std::map<std::string, int>{{"first", 1}, {"last", 1}});
  fs::path d = s.run_dir();
  for (auto* f : {"journal", "plan.json", "she-restore.log", "report.json", "report.md"}) {
    CAPTURE(f);
    REQUIRE(fs::exists(d / f));
    CHECK((fs::status(d / f).permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
  }
  CHECK((fs::status(d).permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
  Value report = Value::parse(test::read_file(d / "report.json"));
  CHECK(report["result"] == "succeeded");
  CHECK(report["steps"].size() == 3);
  CHECK(report["answers"][0]["answer"] == "yes");
  CHECK(test::read_file(d / "report.md").find("| result | **succeeded** |") != std::string::npos);
  auto records = s.journal();
  CHECK(records.front()["t"] == "run_started");
  CHECK(records.back()["t"] == "run_finished");
  // A finished run is not run again by accident: that takes --new-run.
  r = s.run("--yes");
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("nothing to do") != std::string::npos);
  CHECK(s.effect_counts()["first"] == 1);
  r = s.run("--yes --new-run");
  CHECK(r.exit_code == 0);
  CHECK(s.effect_counts()["first"] == 2);
}

TEST_CASE("prompts: with no terminal and no answer the run stops with exit 4 / status says why - resume skips done steps") {
  Scratch s(kPromptPlan);
  auto r = s.run();
  CHECK(r.exit_code == 4);
  CHECK(r.output.find("waiting for the operator: step ask asks: Have the hosts been rebooted?") != std::string::npos);
  Value st = Value::parse(s.status().output);
  CHECK(st["state"] == "awaiting_operator");
  CHECK(st["current_step"] == "ask");
  CHECK(to_text(st["waiting_for"]).find("Have the hosts been rebooted?") != std::string::npos);
  CHECK(to_text(st["next"]).find("--answers FILE") != std::string::npos);

  r = s.run("--yes");
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("resuming run") != std::string::npos);
  CHECK(s.effect_counts() == std::map<std::string, int>{{"first", 1}, {"last", 1}});
}

TEST_CASE("prompts: an answers file answers by step id - the answer / who and when are journaled") {
  Scratch s(kPromptPlan);
  test::write_file(s.dir.path() / "answers.yaml", "ask: yes\n");
  auto r = s.run("--answers '" + (s.dir.path() / "answers.yaml").string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  auto records = s.journal();
  REQUIRE(count_records(records, "prompt_answered") == 1);
  for (auto& rec : records)
    if (rec["t"] == "prompt_answered") {
      CHECK(rec["key"] == "ask");
      CHECK(rec["answer"] == "yes");
      CHECK(to_text(rec["who"]).find('@') != std::string::npos);
      CHECK(!to_text(rec["time"]).empty());
    }
  // "no" stops the run: a human said so.
  Scratch t(kPromptPlan);
  test::write_file(t.dir.path() / "answers.yaml", "ask: no\n");
  r = t.run("--answers '" + (t.dir.path() / "answers.yaml").string() + "'");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("the operator answered 'no'") != std::string::npos);
}

TEST_CASE("resume: a changed plan is refused with the changed steps named / unless --replan") {
  Scratch s(kPromptPlan);
  CHECK(s.run().exit_code == 4);
  std::string changed = kPromptPlan;
  changed.replace(changed.rfind("{file: EFFECTS}"), 15, "{file: EFFECTS, sleep_ms: 1}");
  s.write_plan(changed + "  - id: extra\n    uses: test.effect\n    with: {file: EFFECTS}\n");
  auto r = s.run("--yes");
  CHECK(r.exit_code == 3);
  CHECK(r.output.find("the plan changed since run") != std::string::npos);
  CHECK(r.output.find("last: changed") != std::string::npos);
  CHECK(r.output.find("extra: added") != std::string::npos);
  CHECK(r.output.find("first: changed") == std::string::npos);  // only what changed is named
  CHECK(s.effect_counts()["last"] == 0);
  r = s.run("--yes --replan");
  CHECK(r.exit_code == 0);
  CHECK(s.effect_counts() == std::map<std::string, int>{{"first", 1}, {"last", 1}, {"extra", 1}});
}

TEST_CASE("--from runs a step again / and the steps after it") {
  Scratch s(kPromptPlan);
  CHECK(s.run().exit_code == 4);
  auto r = s.run("--yes --from first");
  CHECK(r.exit_code == 0);
  CHECK(s.effect_counts() == std::map<std::string, int>{{"first", 2}, {"last", 1}});
  CHECK(s.run("--from nosuch").exit_code == 2);
}

TEST_CASE("lock: a second run of the same plan is refused while the first runs - SIGTERM stops it at a safe point") {
  Scratch s("  - id: wait\n    uses: test.wait\n    with: {sleep_ms: 20000}\n  - id: after\n    uses: test.effect\n"
            "    with: {file: EFFECTS}\n");
  std::string log = (s.dir.path() / "first.log").string();
  int pid = test::spawn_testbed({s.plan.string(), "--state-dir", s.state.string()}, {}, log);
  test::ChildGuard guard{pid};
  fs::path lock = s.state / "scratch" / "lock";
  for (int i = 0; i < 500 && !(fs::exists(lock) && test::read_file(log).find("[1/2] wait") != std::string::npos); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(fs::exists(lock));
  auto second = s.run();
  CHECK(second.exit_code == 6);
  CHECK(second.output.find("is being run by run ") != std::string::npos);
  CHECK(second.output.find("pid " + std::to_string(pid)) != std::string::npos);

  ::kill(pid, SIGTERM);
  CHECK(test::wait_child(pid) == 5);
  guard.pid = -1;
  CHECK(test::read_file(lock).empty());  // released: nobody named in it
  auto records = s.journal();
  CHECK(records.back()["t"] == "interrupted");
  CHECK(s.effect_counts().empty());  // it stopped before the next step
  Value st = Value::parse(s.status().output);
  CHECK(st["state"] == "interrupted");
}

TEST_CASE("lock: one left on another host is broken only with --break-lock and its run id") {
  // A lock file on shared storage, written by a run on another machine: this
  // host's flock proves nothing about that process, which may be alive.
  Scratch s("  - id: one\n    uses: test.effect\n    with: {file: EFFECTS}\n");
  fs::create_directories(s.state / "scratch");
  test::write_file(s.state / "scratch" / "lock",
                   Value{{"pid", 4242}, {"host", "other-host.example"}, {"user", "someone"},
                         {"run_id", "20260101T000000Z-dead01"}, {"since", "2026-01-01T00:00:00Z"}}
                       .dump());
  auto r = s.run();
  CHECK(r.exit_code == 6);
  CHECK(r.output.find("written on another host") != std::string::npos);
  CHECK(r.output.find("--break-lock 20260101T000000Z-dead01") != std::string::npos);
  r = s.run("--break-lock 20260101T000000Z-other");
  CHECK(r.exit_code == 6);
  CHECK(r.output.find("belongs to run 20260101T000000Z-dead01") != std::string::npos);
  r = s.run("--break-lock 20260101T000000Z-dead01");
  CHECK(r.exit_code == 0);
  CHECK(s.effect_counts()["one"] == 1);
}

TEST_CASE("lock: a run killed with SIGKILL is resumed without --break-lock - its lock taken over with a warning") {
  // On this host the flock proves the holder gone (brief section 4).
  Scratch s("  - id: first\n    uses: test.effect\n    with: {file: EFFECTS, die_after_effect: true}\n"
            "  - id: second\n    uses: test.effect\n    with: {file: EFFECTS}\n");
  CHECK(s.run().exit_code == 137);
  auto r = s.run("", "SHE_TEST_SURVIVE=1");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(r.output.find("warning: took over the lock of run") != std::string::npos);
  CHECK(r.output.find("that process is gone") != std::string::npos);
  CHECK(s.effect_counts()["first"] == 1);
  CHECK(s.effect_counts()["second"] == 1);
}

TEST_CASE("retries: errors the step names retry with backoff - others fail at once - status shows the error") {
  Scratch s("  - id: flaky\n    uses: test.fail\n    retry: {attempts: 3, backoff: 10ms, on: [transport]}\n"
            "    with: {counter: DIR/c1, fail_times: 2}\n");
  auto r = s.run();
  CHECK(r.exit_code == 0);
  CHECK(test::read_file(s.dir.path() / "c1") == "3");
  CHECK(r.output.find("attempt 1 failed (transport): planned failure 1 of 2; retrying in") != std::string::npos);

  Scratch f("  - id: broken\n    uses: test.fail\n    retry: {attempts: 3, backoff: 10ms, on: [transport]}\n"
            "    with: {counter: DIR/c2, fail_times: 5, class: fatal}\n");
  r = f.run();
  CHECK(r.exit_code == 1);
  CHECK(test::read_file(f.dir.path() / "c2") == "1");
  CHECK(r.output.find("FAILED: planned failure 1 of 5") != std::string::npos);
  Value st = Value::parse(f.status().output);
  CHECK(st["state"] == "failed");
  CHECK(to_text(st["last_error"]).find("planned failure 1 of 5") != std::string::npos);
  // Re-running resumes with the failed step: attempt 2 fails again.
  CHECK(f.run().exit_code == 1);
  CHECK(test::read_file(f.dir.path() / "c2") == "2");
}

TEST_CASE("timeouts: an attempt longer than the step's timeout fails as a timeout") {
  Scratch s("  - id: slow\n    uses: test.wait\n    timeout: 50ms\n    with: {sleep_ms: 30000}\n");
  auto r = s.run();
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("failed (timeout): timed out after 50ms") != std::string::npos);
}

TEST_CASE("on_failure: continue goes on - pause stops with exit 4 and retries the step on resume") {
  Scratch s("  - id: optional\n    uses: test.fail\n    on_failure: continue\n    with: {counter: DIR/c, fail_times: 9, class: fatal}\n"
            "  - id: after\n    uses: test.effect\n    with: {file: EFFECTS}\n");
  CHECK(s.run().exit_code == 0);
  CHECK(s.effect_counts()["after"] == 1);
  Value report = Value::parse(test::read_file(s.run_dir() / "report.json"));
  CHECK(report["steps"][0]["status"] == "failed");

  Scratch p("  - id: needs-fix\n    uses: test.fail\n    on_failure: pause\n    with: {counter: DIR/c, fail_times: 1, class: fatal}\n"
            "  - id: after\n    uses: test.effect\n    with: {file: EFFECTS}\n");
  auto r = p.run();
  CHECK(r.exit_code == 4);
  CHECK(r.output.find("Fix the cause, then run again") != std::string::npos);
  CHECK(p.run().exit_code == 0);  // the second attempt succeeds
  CHECK(test::read_file(p.dir.path() / "c") == "2");
  CHECK(p.effect_counts()["after"] == 1);
}

TEST_CASE("loops: concurrency 4 / killed mid-loop / resumes only the unfinished iterations") {
  const char* steps = "  - id: items\n    uses: test.value\n    with: {value: [a, b, c, d, e, f, g, h]}\n"
                      "  - id: loop\n    uses: test.effect\n    foreach: ${steps.items.items}\n    concurrency: 4\n"
                      "    with: {file: EFFECTS, sleep_ms: 40}\n";
  Scratch s(steps);
  // Records: run_started, items started/succeeded, loop_expanded, then the
  // loop's; die after 10, in the middle of the loop.
  auto r = s.run("", "SHE_RESTORE_TEST_KILL_AFTER_RECORDS=10");
  CHECK(r.exit_code == 137);
  auto before = s.journal();
  int done_before = count_records(before, "step_succeeded", "loop");
  CHECK(done_before < 8);
  // The killed process left its lock; on this host the resume takes it over.
  r = s.run();
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(r.output.find("took over the lock") != std::string::npos);
  auto counts = s.effect_counts();
  CHECK(counts.size() == 8);
  for (auto& [line, n] : counts) CHECK_MESSAGE(n == 1, line);
  // After the resume only iterations that had not succeeded were started.
  auto after = s.journal();
  int started_after = 0;
  for (size_t i = before.size(); i < after.size(); ++i)
    if (after[i]["t"] == "step_started" && after[i]["step"] == "loop") ++started_after;
  int probed = 0;
  for (size_t i = before.size(); i < after.size(); ++i)
    if (after[i]["t"] == "step_succeeded" && after[i]["step"] == "loop" && after[i].contains("note")) ++probed;
  CHECK(started_after + probed == 8 - done_before);
}

TEST_CASE("journal: a read step's start reaches the disk with the next sync - a power cut before it reads again") {
  const char* steps = "  - id: look\n    uses: test.value\n    with: {value: [a]}\n"
                      "  - id: act\n    uses: test.effect\n    with: {file: EFFECTS}\n";
  // Records: run_started (synced), look's start and outcome (neither
  // announces an action), act's start (synced before its effect). No
  // checkpoint meanwhile: it would sync them.
  const std::string no_checkpoint = " SHE_RESTORE_TEST_CHECKPOINT_EVERY=1000";
  for (int k : {2, 3}) {
    CAPTURE(k);
    Scratch s(steps);
    CHECK(s.run("", "SHE_RESTORE_TEST_KILL_AFTER_RECORDS=" + std::to_string(k) + no_checkpoint).exit_code == 137);
    // The test kill is a power cut: what was not synced is gone.
    auto cut = s.journal();
    REQUIRE(cut.size() == 1);
    CHECK(cut[0]["t"] == "run_started");
    auto r = s.run();
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    CHECK(s.effect_counts()["act"] == 1);
    CHECK(count_records(s.journal(), "step_succeeded", "look") == 1);
  }
  // A step that acts: its start is on disk before the effect.
  Scratch s(steps);
  CHECK(s.run("", "SHE_RESTORE_TEST_KILL_AFTER_RECORDS=4" + no_checkpoint).exit_code == 137);
  auto kept = s.journal();
  REQUIRE(kept.size() == 4);
  CHECK(kept[3]["t"] == "step_started");
  CHECK(kept[3]["step"] == "act");
}

TEST_CASE("secrets: a value a step echoes never reaches the journal / log / reports / output or status") {
  Scratch s("  - id: leak\n    uses: test.leak\n    with: {secret: 'env:LEAKY_SECRET'}\n"
            "  - id: leak-fail\n    uses: test.leak\n    with: {secret: 'env:LEAKY_SECRET', fail: true}\n");
  std::string value = "S3cr3t-Value-99";
  auto r = s.run("", "LEAKY_SECRET=" + value + " SCRATCH_PW=Engine-Pw-123");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find(value) == std::string::npos);
  CHECK(r.output.find("[redacted]") != std::string::npos);
  for (auto& e : fs::recursive_directory_iterator(s.state)) {
    if (!e.is_regular_file()) continue;
    std::string text = test::read_file(e.path());
    CAPTURE(e.path());
    CHECK(text.find(value) == std::string::npos);
    CHECK(text.find("Engine-Pw-123") == std::string::npos);
  }
  CHECK(test::read_file(s.run_dir() / "plan.json").find("env:LEAKY_SECRET") != std::string::npos);
  CHECK(s.status().output.find(value) == std::string::npos);
}

TEST_CASE("journal: a torn tail is cut with a warning on resume / and the run completes") {
  Scratch s(kPromptPlan);
  CHECK(s.run().exit_code == 4);
  fs::path journal = s.run_dir() / "journal";
  test::write_file(journal, test::read_file(journal) + "0123456789abcdef {\"t\":\"step_sta");
  auto r = s.run("--yes");
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("warning: journal") != std::string::npos);
  CHECK(r.output.find("torn last record") != std::string::npos);
  CHECK(s.effect_counts() == std::map<std::string, int>{{"first", 1}, {"last", 1}});
}

TEST_CASE("run flags are refused with --dry-run - real step types that cannot run yet stop before anything starts") {
  Scratch s(kPromptPlan);
  auto r = s.run("--dry-run");
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("--state-dir applies to a run, not to --dry-run") != std::string::npos);
  Scratch u("  - id: first\n    uses: test.effect\n    with: {file: EFFECTS}\n  - id: later\n    uses: test.unbuilt\n");
  r = u.run();
  CHECK(r.exit_code == 69);
  CHECK(r.output.find("cannot run yet: test.unbuilt") != std::string::npos);
  CHECK(!fs::exists(u.state));  // nothing started, nothing written
  CHECK(u.effect_counts().empty());
}

TEST_CASE("resume: a probe that says done hands back the captured values") {
  Scratch s("  - id: first\n    uses: test.effect\n    with: {file: EFFECTS, die_after_effect: true}\n"
            "  - id: use\n    uses: test.value\n    with: {value: '${steps.first.line}'}\n");
  CHECK(s.run().exit_code == 137);  // died between the effect and its journal record
  auto r = s.run("", "SHE_TEST_SURVIVE=1");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(r.output.find("already in place (checked by its probe)") != std::string::npos);
  CHECK(s.effect_counts()["first"] == 1);
  Value report = Value::parse(test::read_file(s.run_dir() / "report.json"));
  CHECK(report["steps"][1]["iterations"][0]["outputs"]["value"] == "first");
}

TEST_CASE("resume: an operator's answer settles one interruption only") {
  Scratch s("  - id: fence\n    uses: test.effect\n    with: {file: EFFECTS, probe: false, die_after_effect: true}\n");
  CHECK(s.run().exit_code == 137);
  auto r = s.run();
  CHECK(r.exit_code == 4);
  CHECK(r.output.find("'resolve:fence@1: redo'") != std::string::npos);
  // The operator says redo; the redo dies after acting too.
  test::write_file(s.dir.path() / "answers.yaml", "'resolve:fence@1': redo\n");
  r = s.run("--answers '" + (s.dir.path() / "answers.yaml").string() + "'");
  CHECK(r.exit_code == 137);
  CHECK(s.effect_counts()["fence"] == 2);
  // The same answers file must not settle the new interruption: it is asked anew.
  r = s.run("--answers '" + (s.dir.path() / "answers.yaml").string() + "'",
            "SHE_TEST_SURVIVE=1");
  CHECK(r.exit_code == 4);
  CHECK(r.output.find("resolve:fence@2") != std::string::npos);
  CHECK(s.effect_counts()["fence"] == 2);
  test::write_file(s.dir.path() / "answers.yaml", "'resolve:fence@2': done\n");
  r = s.run("--answers '" + (s.dir.path() / "answers.yaml").string() + "'", "SHE_TEST_SURVIVE=1");
  CHECK(r.exit_code == 0);
  CHECK(s.effect_counts()["fence"] == 2);
}

TEST_CASE("resume: redo runs an unprobed step again and the run finishes") {
  Scratch s("  - id: fence\n    uses: test.effect\n    with: {file: EFFECTS, probe: false, die_after_effect: true}\n"
            "  - id: after\n    uses: test.effect\n    with: {file: EFFECTS}\n");
  CHECK(s.run().exit_code == 137);
  test::write_file(s.dir.path() / "answers.yaml", "'resolve:fence@1': redo\n");
  auto r = s.run("--answers '" + (s.dir.path() / "answers.yaml").string() + "'", "SHE_TEST_SURVIVE=1");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(s.effect_counts() == std::map<std::string, int>{{"fence", 2}, {"after", 1}});
}

TEST_CASE("resume: done on an unprobed step asks for the values later steps read and the run finishes") {
  Scratch s("  - id: fence\n    uses: test.effect\n    with: {file: EFFECTS, probe: false, die_after_effect: true}\n"
            "  - id: use\n    uses: test.value\n    with: {value: '${steps.fence.line}'}\n");
  CHECK(s.run().exit_code == 137);
  // Done alone would leave `use` reading a value nobody has: the question
  // says so, and after done the run asks for it under its own key.
  auto r = s.run();
  CHECK(r.exit_code == 4);
  CHECK_MESSAGE(r.output.find("asked for the values it would have captured: line (read by use)") != std::string::npos,
                r.output);
  auto answers = s.dir.path() / "answers.yaml";
  test::write_file(answers, "'resolve:fence@1': done\n");
  r = s.run("--answers '" + answers.string() + "'");
  CHECK(r.exit_code == 4);
  CHECK_MESSAGE(r.output.find("'resolve:fence@1.line: VALUE'") != std::string::npos, r.output);
  CHECK(s.effect_counts()["fence"] == 1);
  test::write_file(answers, "'resolve:fence@1': done\n'resolve:fence@1.line': fenced-by-hand\n");
  r = s.run("--answers '" + answers.string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(s.effect_counts()["fence"] == 1);
  Value report = Value::parse(test::read_file(s.run_dir() / "report.json"));
  CHECK(report["steps"][1]["iterations"][0]["outputs"]["value"] == "fenced-by-hand");
}

namespace {
/// The command a hint names after `lead`, in backquotes, with the testbed
/// in place of she-restore: what an operator would paste.
std::string hinted_args(const std::string& output, const std::string& lead) {
  size_t at = output.find(lead + "`she-restore ");
  if (at == std::string::npos) return "";
  at += lead.size() + std::string("`she-restore ").size();
  return output.substr(at, output.find('`', at) - at);
}
}  // namespace

TEST_CASE("hints: each command a stop prints repeats the operator's flags and following it works") {
  // The first step fails and is passed over; the second reads its value and
  // stops the run. A plain resume would stop at the second again.
  Scratch s("  - id: optional\n    uses: test.fail\n    on_failure: continue\n    with: {counter: DIR/c, class: fatal}\n"
            "  - id: uses-it\n    uses: test.value\n    with: {value: '${steps.optional.attempts}'}\n");
  auto r = s.run();
  REQUIRE(r.exit_code == 1);
  std::string from = hinted_args(r.output, "Fix what failed, then ");
  REQUIRE_MESSAGE(!from.empty(), r.output);
  CHECK(from.find("--state-dir " + s.state.string()) != std::string::npos);
  CHECK(from.find("--from optional") != std::string::npos);
  // The status command it names finds this run (not "never run").
  std::string status = hinted_args(r.output, "starting with optional. Fix what failed, then `she-restore " + from +
                                                 "` runs optional and the steps after it again; what is in place is "
                                                 "recognised, not repeated. ");
  REQUIRE_MESSAGE(status.rfind("status ", 0) == 0, r.output);
  auto shown = test::testbed(status);
  CHECK_MESSAGE(shown.output.find("state     failed") != std::string::npos, shown.output);
  CHECK_MESSAGE(shown.output.find("--from optional") != std::string::npos, shown.output);
  // Following the --from hint (the cause is gone: test.fail failed once) finishes the run.
  r = test::testbed(from);
  CHECK_MESSAGE(r.exit_code == 0, r.output);
}

TEST_CASE("hints: a stop's resume command keeps --env and --param") {
  test::TempDir dir;
  fs::copy_file(test::source_path("tests/invalid/env.yaml"), dir.path() / "env.yaml");
  test::write_file(dir.path() / "plan.yaml",
                   "plan: hinted\nparams:\n  n: {type: int, required: true}\nsteps:\n"
                   "  - id: fails\n    uses: test.fail\n    with: {counter: " + (dir.path() / "c").string() +
                   ", class: fatal, fail_times: '${params.n}'}\n");
  std::string args = "'" + (dir.path() / "plan.yaml").string() + "' --env '" + (dir.path() / "env.yaml").string() +
                     "' --state-dir '" + (dir.path() / "state").string() + "' --param n=1";
  auto r = test::testbed(args, "ENGINE_PASSWORD=x");
  REQUIRE_MESSAGE(r.exit_code == 1, r.output);
  std::string again = hinted_args(r.output, "Fix the cause and run ");
  CHECK(again.find("--env " + (dir.path() / "env.yaml").string()) != std::string::npos);
  CHECK(again.find("--param n=1") != std::string::npos);
  r = test::testbed(again, "ENGINE_PASSWORD=x");
  CHECK_MESSAGE(r.exit_code == 0, r.output);
}

TEST_CASE("retries: a once step that failed after acting is probed before it is tried again") {
  Scratch s("  - id: add\n    uses: test.effect\n    retry: {attempts: 3, backoff: 10ms, on: [transport]}\n"
            "    with: {file: EFFECTS, fail_after: true}\n");
  auto r = s.run();
  CHECK(r.exit_code == 0);
  CHECK(s.effect_counts()["add"] == 1);
  CHECK(r.output.find("already in place (checked by its probe)") != std::string::npos);
}

TEST_CASE("--from given again after an interruption continues the re-run instead of starting it over") {
  Scratch s("  - id: a\n    uses: test.effect\n    with: {file: EFFECTS}\n"
            "  - id: b\n    uses: test.effect\n    with: {file: EFFECTS}\n"
            "  - id: c\n    uses: test.wait\n    with: {sleep_ms: 20000}\n");
  auto run_and_stop = [&](std::vector<std::string> extra) {
    std::string log = (s.dir.path() / "child.log").string();
    test::write_file(log, "");
    std::vector<std::string> args = {s.plan.string(), "--state-dir", s.state.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    int pid = test::spawn_testbed(args, {}, log);
    for (int i = 0; i < 500 && test::read_file(log).find("[3/3] c") == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ::kill(pid, SIGTERM);
    return test::wait_child(pid);
  };
  CHECK(run_and_stop({}) == 5);
  CHECK(run_and_stop({"--from", "b"}) == 5);
  CHECK(s.effect_counts() == std::map<std::string, int>{{"a", 1}, {"b", 2}});
  CHECK(run_and_stop({"--from", "b"}) == 5);
  CHECK(s.effect_counts() == std::map<std::string, int>{{"a", 1}, {"b", 2}});
}

TEST_CASE("--from reopens a finished run at that step") {
  Scratch s("  - id: a\n    uses: test.effect\n    with: {file: EFFECTS}\n"
            "  - id: b\n    uses: test.effect\n    with: {file: EFFECTS}\n");
  CHECK(s.run().exit_code == 0);
  auto r = s.run("--from b");
  CHECK(r.exit_code == 0);
  CHECK(s.effect_counts() == std::map<std::string, int>{{"a", 1}, {"b", 2}});
}

TEST_CASE("lock: two runs started at the same instant - exactly one runs") {
  for (int round = 0; round < 10; ++round) {
    Scratch s("  - id: one\n    uses: test.effect\n    with: {file: EFFECTS, sleep_ms: 100}\n");
    std::string log1 = (s.dir.path() / "1.log").string(), log2 = (s.dir.path() / "2.log").string();
    int p1 = test::spawn_testbed({s.plan.string(), "--state-dir", s.state.string()}, {}, log1);
    int p2 = test::spawn_testbed({s.plan.string(), "--state-dir", s.state.string()}, {}, log2);
    int c1 = test::wait_child(p1), c2 = test::wait_child(p2);
    CAPTURE(round);
    CHECK(((c1 == 0 && c2 == 6) || (c1 == 6 && c2 == 0)));
    CHECK(s.effect_counts()["one"] == 1);
    std::string refused = test::read_file(c1 == 6 ? log1 : log2);
    CHECK(refused.find("is being run by") != std::string::npos);
    CHECK(refused.find("--break-lock ''") == std::string::npos);
  }
}

TEST_CASE("loops: at most `concurrency` iterations are in flight at once") {
  Scratch s("  - id: loop\n    uses: test.effect\n    foreach: [a, b, c, d, e, f, g, h, i, j]\n    concurrency: 3\n"
            "    with: {file: EFFECTS, sleep_ms: 20}\n");
  REQUIRE(s.run().exit_code == 0);
  int in_flight = 0, most = 0;
  for (auto& r : s.journal()) {
    if (r["t"] == "step_started") most = std::max(most, ++in_flight);
    if (r["t"] == "step_succeeded" || r["t"] == "step_failed") --in_flight;
  }
  CHECK(most <= 3);
  CHECK(s.effect_counts().size() == 10);
}

TEST_CASE("journal: a write that fails stops the run with exit 70 and no crash") {
  Scratch s("  - id: loop\n    uses: test.effect\n    foreach: [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t]\n"
            "    concurrency: 4\n    with: {file: EFFECTS}\n");
  auto r = test::run("sh -c \"trap '' XFSZ; ulimit -f 8; exec '" + std::string(SHE_TESTBED_BINARY) + "' '" +
                     s.plan.string() + "' --state-dir '" + s.state.string() + "' < /dev/null\"");
  CHECK(r.exit_code == 70);
  CHECK(r.output.find("cannot") != std::string::npos);
  CHECK(r.output.find("terminate called") == std::string::npos);
}

TEST_CASE("prompts on a terminal: --step asks before each step (y n c) and a prompt takes the typed answer") {
  Scratch s("  - id: a\n    uses: test.effect\n    with: {file: EFFECTS}\n"
            "  - id: b\n    uses: test.effect\n    with: {file: EFFECTS}\n"
            "  - id: c\n    uses: test.effect\n    with: {file: EFFECTS}\n"
            "  - id: ask\n    uses: prompt\n    with: {message: 'Hosts rebooted?'}\n");
  test::write_file(s.dir.path() / "typed", "y\nn\nc\nyes\n");
  // `script` gives the run a real terminal; the typed lines arrive on it.
  std::string cmd = std::string(SHE_TESTBED_BINARY) + " " + s.plan.string() + " --state-dir " + s.state.string() + " --step";
  auto r = test::run("script -qec '" + cmd + "' /dev/null < '" + (s.dir.path() / "typed").string() + "'");
  CHECK_MESSAGE(r.exit_code == 0, r.output);
  CHECK(r.output.find("Run step a (a)? y: yes, n: skip it, c: continue without asking") != std::string::npos);
  CHECK(r.output.find("Hosts rebooted?") != std::string::npos);
  CHECK(s.effect_counts() == std::map<std::string, int>{{"a", 1}, {"c", 1}});
  int answered = 0;
  for (auto& rec : s.journal())
    if (rec["t"] == "prompt_answered" && rec["key"] == "ask" && rec["answer"] == "yes") ++answered;
  CHECK(answered == 1);
}

TEST_CASE("retries: retry.total caps all attempts and waits together") {
  Scratch s("  - id: flaky\n    uses: test.fail\n    retry: {attempts: 50, backoff: 20ms, max_backoff: 20ms, total: 300ms, "
            "on: [transport]}\n    with: {counter: DIR/c, fail_times: 100}\n");
  auto r = s.run();
  CHECK(r.exit_code == 1);
  int attempts = std::stoi(test::read_file(s.dir.path() / "c"));
  CHECK(attempts >= 2);
  CHECK(attempts < 50);
}

// --- in process: the journal is read once per run ----------------------------

namespace {

/// An operator who answers every question with its first choice, or with
/// nothing (no terminal, no answers file) when told to stay silent.
class ScriptedOperator : public OperatorChannel {
 public:
  explicit ScriptedOperator(bool answers) : answers_(answers) {}
  std::optional<std::string> ask(const std::string&, const std::string&,
                                 const std::vector<std::string>& choices) override {
    if (!answers_ || choices.empty()) return std::nullopt;
    return choices.front();
  }
  std::string who() const override { return "tester"; }
  std::string source() const override { return "--yes"; }

 private:
  bool answers_;
};

}  // namespace

TEST_CASE("journal: a run reads its journal once when it opens - across many steps / a loop and a resume") {
  static std::once_flag registered;
  std::call_once(registered, [] { test::register_test_steps(); });
  // Many records between openings: a loop of 12 on 3 threads, a prompt that
  // stops the first run, and steps after it for the resumed run.
  std::string steps =
      "  - id: items\n    uses: test.value\n    with: {value: [a, b, c, d, e, f, g, h, i, j, k, l]}\n"
      "  - id: loop\n    uses: test.ensure\n    foreach: ${steps.items.items}\n    concurrency: 3\n"
      "    with: {file: EFFECTS}\n"
      "  - id: ask\n    uses: prompt\n    with: {message: 'Go on?'}\n";
  for (int i = 0; i < 8; ++i) steps += fmt::format("  - id: after{}\n    uses: test.effect\n    with: {{file: EFFECTS}}\n", i);
  Scratch s(steps);
  Diagnostics diags;
  auto plan = load_plan(s.plan.string(), {}, diags);
  REQUIRE_MESSAGE(plan, diags.str());
  RunOptions opts;
  opts.state_dir = s.state.string();

  // The first run stops at the prompt: one read, when it opened.
  ScriptedOperator silent(false);
  long before = Journal::reads();
  CHECK(execute_plan(*plan, opts, silent) == 4);
  CHECK(Journal::reads() - before == 1);
  auto records = s.journal();
  CHECK(count_records(records, "step_succeeded", "loop") == 12);
  CHECK(count_records(records, "awaiting_operator") == 1);

  // The resume answers, finishes the loop's successors: one read again.
  ScriptedOperator answering(true);
  before = Journal::reads();
  CHECK(execute_plan(*plan, opts, answering) == 0);
  CHECK(Journal::reads() - before == 1);
  records = s.journal();
  CHECK(count_records(records, "run_resumed") == 1);
  CHECK(count_records(records, "step_succeeded") >= 1 + 12 + 1 + 8);
  CHECK(records.back()["t"] == "run_finished");
  CHECK(s.effect_counts().size() == 12 + 8);

  // A finished run opened again finds nothing to do, still with one read.
  before = Journal::reads();
  CHECK(execute_plan(*plan, opts, answering) == 0);
  CHECK(Journal::reads() - before == 1);
}
