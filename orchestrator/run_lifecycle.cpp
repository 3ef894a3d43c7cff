#include "orchestrator/run_lifecycle.h"

#include <boost/msm/back/state_machine.hpp>
#include <boost/msm/front/functor_row.hpp>
#include <boost/msm/front/state_machine_def.hpp>
#include <fmt/format.h>

namespace she {

namespace {

namespace msm = boost::msm;
namespace mpl = boost::mpl;
using msm::front::none;
using msm::front::Row;

// Events, each with the name errors give it. Names avoid POSIX functions
// (pause, resume) in the global namespace.
struct ev_begin_preflight { static constexpr const char* name = "begin_preflight"; };
struct ev_preflight_passed { static constexpr const char* name = "preflight_passed"; };
struct ev_preflight_failed { static constexpr const char* name = "preflight_failed"; };
struct ev_nothing_to_do { static constexpr const char* name = "nothing_to_do"; };
struct ev_step_failed { static constexpr const char* name = "step_failed"; };
struct ev_journal_failed { static constexpr const char* name = "journal_failed"; };
struct ev_operator_needed { static constexpr const char* name = "operator_needed"; };
struct ev_all_done { static constexpr const char* name = "all_steps_done"; };
struct ev_interrupted { static constexpr const char* name = "interrupted"; };

struct Lifecycle_ : msm::front::state_machine_def<Lifecycle_> {
  // Each state tells the machine its phase on entry, so phase() does not
  // depend on the order in which MSM numbers states.
  template <RunPhase P>
  struct Phase : msm::front::state<> {
    template <class Event, class Fsm>
    void on_entry(Event const&, Fsm& fsm) {
      fsm.phase = P;
    }
  };
  using Created = Phase<RunPhase::Created>;
  using Preflight = Phase<RunPhase::Preflight>;
  using Running = Phase<RunPhase::Running>;
  using AwaitingOperator = Phase<RunPhase::AwaitingOperator>;
  using Failed = Phase<RunPhase::Failed>;
  using Succeeded = Phase<RunPhase::Succeeded>;
  using Interrupted = Phase<RunPhase::Interrupted>;

  using initial_state = Created;

  struct transition_table
      : mpl::vector<
            //   Start      Event                 Next
            Row<Created, ev_begin_preflight, Preflight, none, none>,
            Row<Preflight, ev_preflight_passed, Running, none, none>,
            Row<Preflight, ev_preflight_failed, Failed, none, none>,
            Row<Preflight, ev_journal_failed, Failed, none, none>,
            Row<Preflight, ev_nothing_to_do, Succeeded, none, none>,
            Row<Preflight, ev_interrupted, Interrupted, none, none>,
            Row<Preflight, ev_operator_needed, AwaitingOperator, none, none>,
            Row<Running, ev_step_failed, Failed, none, none>,
            Row<Running, ev_journal_failed, Failed, none, none>,
            Row<Running, ev_operator_needed, AwaitingOperator, none, none>,
            Row<Running, ev_all_done, Succeeded, none, none>,
            Row<Running, ev_interrupted, Interrupted, none, none>> {};

  RunPhase phase = RunPhase::Created;
  // What no_transition saw, thrown by fire() once process_event returned:
  // an exception thrown inside process_event would reach MSM's
  // exception_caught (which swallows it in this Boost) and leave the
  // machine marked as still processing an event.
  const char* rejected_event = nullptr;

  template <class Fsm, class Event>
  void no_transition(Event const&, Fsm&, int) {
    rejected_event = Event::name;
  }
};

using Lifecycle = msm::back::state_machine<Lifecycle_>;

}  // namespace

struct RunLifecycle::Machine {
  Lifecycle fsm;

  template <class Event>
  void fire() {
    fsm.rejected_event = nullptr;
    RunPhase before = fsm.phase;
    msm::back::HandledEnum handled = fsm.process_event(Event{});
    if (handled != msm::back::HANDLED_TRUE || fsm.rejected_event)
      throw LifecycleError(fmt::format("internal error: run lifecycle event {} is not allowed in phase {}",
                                       Event::name, phase_name(before)));
  }
};

RunLifecycle::RunLifecycle() : m_(std::make_unique<Machine>()) { m_->fsm.start(); }
RunLifecycle::~RunLifecycle() = default;

RunPhase RunLifecycle::phase() const { return m_->fsm.phase; }

void RunLifecycle::begin_preflight() { m_->fire<ev_begin_preflight>(); }
void RunLifecycle::preflight_passed() { m_->fire<ev_preflight_passed>(); }
void RunLifecycle::preflight_failed() { m_->fire<ev_preflight_failed>(); }
void RunLifecycle::nothing_to_do() { m_->fire<ev_nothing_to_do>(); }
void RunLifecycle::step_failed() { m_->fire<ev_step_failed>(); }
void RunLifecycle::journal_failed() { m_->fire<ev_journal_failed>(); }
void RunLifecycle::operator_needed() { m_->fire<ev_operator_needed>(); }
void RunLifecycle::all_steps_done() { m_->fire<ev_all_done>(); }
void RunLifecycle::interrupted() { m_->fire<ev_interrupted>(); }

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
