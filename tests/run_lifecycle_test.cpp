#include <doctest/doctest.h>

#include <string>

#include "orchestrator/run_lifecycle.h"

using namespace she;

TEST_CASE("lifecycle: the happy path and each way a run can end") {
  RunLifecycle a;
  CHECK(a.phase() == RunPhase::Created);
  CHECK(a.begin_preflight());
  CHECK(a.phase() == RunPhase::Preflight);
  CHECK(a.preflight_passed());
  CHECK(a.phase() == RunPhase::Running);
  CHECK(a.all_steps_done());
  CHECK(a.phase() == RunPhase::Succeeded);

  RunLifecycle b;
  b.begin_preflight();
  CHECK(b.preflight_failed());
  CHECK(b.phase() == RunPhase::Failed);

  RunLifecycle c;
  c.begin_preflight();
  c.preflight_passed();
  CHECK(c.step_failed());
  CHECK(c.phase() == RunPhase::Failed);

  RunLifecycle d;
  d.begin_preflight();
  d.preflight_passed();
  CHECK(d.operator_needed());
  CHECK(d.phase() == RunPhase::AwaitingOperator);

  RunLifecycle e;
  e.begin_preflight();
  e.preflight_passed();
  CHECK(e.interrupted());
  CHECK(e.phase() == RunPhase::Interrupted);

  RunLifecycle f;
  f.begin_preflight();
  CHECK(f.operator_needed());  // a resumed `once` step the probe cannot decide
  CHECK(f.phase() == RunPhase::AwaitingOperator);
}

TEST_CASE("lifecycle: events a phase does not allow are refused and change nothing") {
  RunLifecycle a;
  CHECK_FALSE(a.all_steps_done());
  CHECK(a.phase() == RunPhase::Created);
  a.begin_preflight();
  a.preflight_passed();
  a.all_steps_done();
  CHECK_FALSE(a.step_failed());
  CHECK_FALSE(a.interrupted());
  CHECK(a.phase() == RunPhase::Succeeded);
  CHECK(std::string(phase_name(RunPhase::AwaitingOperator)) == "awaiting_operator");
}
