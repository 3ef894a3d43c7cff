#include "orchestrator/group_runner.h"

#include <atomic>
#include <exception>
#include <map>
#include <set>
#include <fmt/format.h>
#include <mutex>
#include <thread>

#include "orchestrator/stop_signals.h"

namespace she {

bool group_done(RunContext& run, const Block& g) {
  std::lock_guard<std::mutex> lock(run.state_mutex);
  for (size_t j = g.first; j < g.first + g.count; ++j)
    if (!passed_in(run.state, run.plan.steps[j])) return false;
  return true;
}

std::vector<std::pair<const Step*, StepOutcome>> run_group(RunContext& run, const Block& g, const std::string& at,
                                                           const std::function<std::string(const Step&)>& where) {
  struct Member {
    const Step* step;
    std::vector<Value> items;
    StepOutcome out;
    bool runs = false;
    std::vector<IterationResult> results;
  };
  std::vector<Member> members;
  std::vector<std::string> ids;
  for (size_t j = g.first; j < g.first + g.count; ++j)
    if (!passed_in(run.state, run.plan.steps[j])) ids.push_back(run.plan.steps[j].id);
  run.say(at, fmt::format("{} ({} side by side)", g.name, fmt::join(ids, ", ")));
  // Before: each step's `when` and progress line, on this thread.
  for (size_t j = g.first; j < g.first + g.count; ++j) {
    const Step& s = run.plan.steps[j];
    StepState prior;
    {
      std::lock_guard<std::mutex> lock(run.state_mutex);
      auto found = run.state.steps.find(s.id);
      if (found != run.state.steps.end()) prior = found->second;
    }
    if (passed_by(s, prior.status())) {
      publish_outputs(run, s, prior);
      continue;
    }
    if (run.skipped_by_mode(s, where(s))) continue;
    Member m{&s, {}, {}, false, {}};
    m.runs = begin_step(run, s, prior, where(s), &m.items, &m.out);
    members.push_back(std::move(m));
  }

  // Lanes: steps that reach the same host go one after the other on one
  // thread (one SSH session, as when they ran in a row; no host gets two
  // handshakes at once), each lane on a thread of its own. Sessions go
  // from thread to thread (a session serves one at a time): the walk's to
  // the lanes, theirs back to the walk and the steps after the group.
  // A step reaching two hosts (a copy) joins their lanes into one.
  std::vector<size_t> joined(members.size());
  for (size_t i = 0; i < joined.size(); ++i) joined[i] = i;
  auto root = [&](size_t i) {
    while (joined[i] != i) i = joined[i] = joined[joined[i]];
    return i;
  };
  std::map<std::string, size_t> first_on_host;  // host name -> a member reaching it
  for (size_t i = 0; i < members.size(); ++i) {
    if (!members[i].runs) continue;
    std::set<std::string> seen;
    std::vector<SshEndpoint> hosts;
    RunConnections::hosts_named(run.plan, *members[i].step, run.roots, &seen, &hosts);
    for (const SshEndpoint& h : hosts) {
      auto [at, fresh] = first_on_host.emplace(h.name, i);
      if (!fresh) joined[root(i)] = root(at->second);
    }
  }
  std::map<size_t, std::vector<Member*>> by_root;  // each lane in plan order
  for (size_t i = 0; i < members.size(); ++i)
    if (members[i].runs) by_root[root(i)].push_back(&members[i]);
  std::vector<std::vector<Member*>> lanes;
  for (auto& [r, lane] : by_root) lanes.push_back(std::move(lane));
  // The lanes start together; after a failure, a question or a stop no
  // lane starts its next step; steps under way finish. A journal that
  // cannot be written is rethrown once every lane has ended.
  std::atomic<bool> stop_starting{false};
  for (const Member& m : members)
    if (!m.out.failed.empty() && m.step->on_failure != OnFailure::Continue) stop_starting = true;
  std::exception_ptr thrown;
  std::mutex thrown_mutex;
  auto lane_runs = [&](const std::vector<Member*>& lane) {
    try {
      for (size_t k = 0; k < lane.size(); ++k) {
        Member* m = lane[k];
        if (k > 0 && (stop_starting || stop_requested())) {
          for (size_t rest = k; rest < lane.size(); ++rest) lane[rest]->runs = false;  // left for the next run
          break;
        }
        m->results = run_iterations(run, *m->step, m->items, where(*m->step));
        for (const auto& r : m->results)
          if ((r.outcome == Outcome::Failed && m->step->on_failure != OnFailure::Continue) ||
              r.outcome == Outcome::Awaiting || r.outcome == Outcome::Interrupted)
            stop_starting = true;
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(thrown_mutex);
      if (!thrown) thrown = std::current_exception();
      stop_starting = true;
    }
    run.connections.hand_back();
  };
  run.connections.hand_back();
  std::vector<std::thread> threads;
  for (const auto& lane : lanes) threads.emplace_back(lane_runs, std::cref(lane));
  for (auto& t : threads) t.join();
  if (thrown) std::rethrow_exception(thrown);

  // After: outputs published and outcomes in plan order, on this thread.
  std::vector<std::pair<const Step*, StepOutcome>> outcomes;
  for (Member& m : members) {
    if (m.runs) outcomes.emplace_back(m.step, end_step(run, *m.step, m.results));
    else if (!m.out.failed.empty()) outcomes.emplace_back(m.step, m.out);  // its `when` could not be decided
  }
  return outcomes;
}

}  // namespace she
