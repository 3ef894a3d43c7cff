#include <doctest/doctest.h>

#include <string>

#include "orchestrator/run_lifecycle.h"

using namespace she;

namespace {

void start_running(RunLifecycle& l) {
  l.begin_preflight();
  l.preflight_passed();
}

}  // namespace

TEST_CASE("run lifecycle: the happy path and each way a run can end") {
  RunLifecycle a;
  CHECK(a.phase() == RunPhase::Created);
  a.begin_preflight();
  CHECK(a.phase() == RunPhase::Preflight);
  a.preflight_passed();
  CHECK(a.phase() == RunPhase::Running);
  a.all_steps_done();
  CHECK(a.phase() == RunPhase::Succeeded);

  SUBCASE("preflight fails") {
    RunLifecycle b;
    b.begin_preflight();
    b.preflight_failed();
    CHECK(b.phase() == RunPhase::Failed);
  }
  SUBCASE("the journal cannot be written while the run opens") {
    RunLifecycle b;
    b.begin_preflight();
    b.journal_failed();
    CHECK(b.phase() == RunPhase::Failed);
  }
  SUBCASE("a run that had succeeded has nothing to do") {
    RunLifecycle b;
    b.begin_preflight();
    b.nothing_to_do();
    CHECK(b.phase() == RunPhase::Succeeded);
  }
  SUBCASE("interrupted during preflight") {
    RunLifecycle b;
    b.begin_preflight();
    b.interrupted();
    CHECK(b.phase() == RunPhase::Interrupted);
  }
  SUBCASE("a resumed once step the probe cannot decide, before the walk") {
    RunLifecycle f;
    f.begin_preflight();
    f.operator_needed();
    CHECK(f.phase() == RunPhase::AwaitingOperator);
  }
  SUBCASE("a step fails") {
    RunLifecycle c;
    start_running(c);
    c.step_failed();
    CHECK(c.phase() == RunPhase::Failed);
  }
  SUBCASE("the journal cannot be written during the walk") {
    RunLifecycle c;
    start_running(c);
    c.journal_failed();
    CHECK(c.phase() == RunPhase::Failed);
  }
  SUBCASE("a step waits for the operator") {
    RunLifecycle d;
    start_running(d);
    d.operator_needed();
    CHECK(d.phase() == RunPhase::AwaitingOperator);
  }
  SUBCASE("a signal stops the walk") {
    RunLifecycle e;
    start_running(e);
    e.interrupted();
    CHECK(e.phase() == RunPhase::Interrupted);
  }
}

TEST_CASE("run lifecycle: an event the phase does not allow is an internal error naming both - nothing changes") {
  RunLifecycle a;
  a.begin_preflight();
  CHECK_THROWS_WITH_AS(a.step_failed(),
                       "internal error: run lifecycle event step_failed is not allowed in phase preflight",
                       LifecycleError);
  CHECK(a.phase() == RunPhase::Preflight);
  // The machine still works after a refusal (MSM is not left mid-event).
  a.preflight_passed();
  CHECK(a.phase() == RunPhase::Running);

  RunLifecycle b;
  CHECK_THROWS_WITH_AS(b.all_steps_done(),
                       "internal error: run lifecycle event all_steps_done is not allowed in phase created",
                       LifecycleError);
  CHECK(b.phase() == RunPhase::Created);

  // Every end is final: no event leaves it.
  RunLifecycle c;
  start_running(c);
  c.all_steps_done();
  CHECK_THROWS_WITH_AS(c.step_failed(),
                       "internal error: run lifecycle event step_failed is not allowed in phase succeeded",
                       LifecycleError);
  CHECK_THROWS_AS(c.interrupted(), LifecycleError);
  CHECK_THROWS_AS(c.operator_needed(), LifecycleError);
  CHECK(c.phase() == RunPhase::Succeeded);

  // An open question is the run's end for this process, too: a second one,
  // or a failure reported after it, is a bug in the executor.
  RunLifecycle d;
  start_running(d);
  d.operator_needed();
  CHECK_THROWS_WITH_AS(d.operator_needed(),
                       "internal error: run lifecycle event operator_needed is not allowed in phase awaiting_operator",
                       LifecycleError);
  CHECK_THROWS_AS(d.step_failed(), LifecycleError);
  CHECK_THROWS_AS(d.begin_preflight(), LifecycleError);
  CHECK(d.phase() == RunPhase::AwaitingOperator);

  // Running twice is a bug as well.
  RunLifecycle e;
  start_running(e);
  CHECK_THROWS_AS(e.preflight_passed(), LifecycleError);
  CHECK_THROWS_AS(e.nothing_to_do(), LifecycleError);
  CHECK(std::string(phase_name(RunPhase::AwaitingOperator)) == "awaiting_operator");
}
