#include "orchestrator/run_lifecycle.h"

#include <boost/msm/back/state_machine.hpp>
#include <boost/msm/front/functor_row.hpp>
#include <boost/msm/front/state_machine_def.hpp>

namespace she {

namespace {

namespace msm = boost::msm;
namespace mpl = boost::mpl;
using msm::front::none;
using msm::front::Row;

// Events. Names avoid POSIX functions (pause, resume) in the global namespace.
struct ev_begin_preflight {};
struct ev_preflight_passed {};
struct ev_preflight_failed {};
struct ev_step_failed {};
struct ev_operator_needed {};
struct ev_all_done {};
struct ev_interrupted {};

struct Lifecycle_ : msm::front::state_machine_def<Lifecycle_> {
  struct Created : msm::front::state<> {};
  struct Preflight : msm::front::state<> {};
  struct Running : msm::front::state<> {};
  struct AwaitingOperator : msm::front::state<> {};
  struct Failed : msm::front::state<> {};
  struct Succeeded : msm::front::state<> {};
  struct Interrupted : msm::front::state<> {};

  using initial_state = Created;

  struct transition_table
      : mpl::vector<
            //   Start      Event                 Next
            Row<Created, ev_begin_preflight, Preflight, none, none>,
            Row<Preflight, ev_preflight_passed, Running, none, none>,
            Row<Preflight, ev_preflight_failed, Failed, none, none>,
            Row<Preflight, ev_interrupted, Interrupted, none, none>,
            Row<Preflight, ev_operator_needed, AwaitingOperator, none, none>,
            Row<Running, ev_step_failed, Failed, none, none>,
            Row<Running, ev_operator_needed, AwaitingOperator, none, none>,
            Row<Running, ev_all_done, Succeeded, none, none>,
            Row<Running, ev_interrupted, Interrupted, none, none>> {};

  bool rejected = false;
  template <class Fsm, class Event>
  void no_transition(Event const&, Fsm&, int) {
    rejected = true;
  }
};

using Lifecycle = msm::back::state_machine<Lifecycle_>;

}  // namespace

struct RunLifecycle::Machine {
  Lifecycle fsm;

  template <class Event>
  bool fire() {
    fsm.rejected = false;
    fsm.process_event(Event{});
    return !fsm.rejected;
  }
};

RunLifecycle::RunLifecycle() : m_(std::make_unique<Machine>()) { m_->fsm.start(); }
RunLifecycle::~RunLifecycle() = default;

RunPhase RunLifecycle::phase() const {
  // State ids follow the order in which the transition table names them.
  switch (m_->fsm.current_state()[0]) {
    case 0: return RunPhase::Created;
    case 1: return RunPhase::Preflight;
    case 2: return RunPhase::Running;
    case 3: return RunPhase::Failed;
    case 4: return RunPhase::Interrupted;
    case 5: return RunPhase::AwaitingOperator;
    case 6: return RunPhase::Succeeded;
  }
  return RunPhase::Failed;
}

bool RunLifecycle::begin_preflight() { return m_->fire<ev_begin_preflight>(); }
bool RunLifecycle::preflight_passed() { return m_->fire<ev_preflight_passed>(); }
bool RunLifecycle::preflight_failed() { return m_->fire<ev_preflight_failed>(); }
bool RunLifecycle::step_failed() { return m_->fire<ev_step_failed>(); }
bool RunLifecycle::operator_needed() { return m_->fire<ev_operator_needed>(); }
bool RunLifecycle::all_steps_done() { return m_->fire<ev_all_done>(); }
bool RunLifecycle::interrupted() { return m_->fire<ev_interrupted>(); }

const char* phase_name(RunPhase p) {
  switch (p) {
    case RunPhase::Created: return "created";
    case RunPhase::Preflight: return "preflight";
    case RunPhase::Running: return "running";
    case RunPhase::AwaitingOperator: return "awaiting_operator";
    case RunPhase::Failed: return "failed";
    case RunPhase::Succeeded: return "succeeded";
    case RunPhase::Interrupted: return "interrupted";
  }
  return "?";
}

}  // namespace she
