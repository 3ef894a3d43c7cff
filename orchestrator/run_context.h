// What every part of one run shares: the plan and options, the journal and
// the one run state it feeds, the lifecycle, the lock, the operator, the
// connections, and the progress lines. The run's opening fills it, the walk
// and its steps use it (executor.cpp lists the parts).
//
// One run state: the journal is read once, when the run opens; from then
// on every record is applied to `state` as it becomes durable (record()).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <set>
#include <string>

#include "base/operation.h"
#include "orchestrator/executor.h"
#include "orchestrator/journal.h"
#include "orchestrator/journaled_operator.h"
#include "orchestrator/plan_lock.h"
#include "orchestrator/redactor.h"
#include "orchestrator/run_connections.h"
#include "orchestrator/run_directory.h"
#include "orchestrator/run_lifecycle.h"
#include "orchestrator/run_state.h"
#include "workflows/secret_store.h"

namespace spdlog {
class logger;
}

namespace she {

/// A record that could not be made durable: the run stops at once (exit 70).
class JournalFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RunContext {
  RunContext(const Plan& plan, const RunOptions& opts, OperatorChannel& op);
  ~RunContext();

  /// Appends a record durably, then applies it to the one run state: the
  /// journal is never read again during the run. Throws JournalFailure.
  /// Durably: on disk before this returns, unless its type rides with the
  /// next sync (rec::rides_with_next_sync) or `sync` says it may (the start
  /// of a step that reads only: no action waits for it).
  void record(Value r, Journal::Sync sync = Journal::Sync::Now);
  /// A step's iteration as the run state has it now (loop threads record
  /// while others read).
  std::optional<IterationState> iteration_now(const std::string& step, const std::string& key);

  void start_log();
  /// A progress line for the operator (stderr) and the log, scrubbed.
  void say(const std::string& where, const std::string& message);
  void skip(const Step& s, const std::string& reason, const std::string& where);
  /// Journals that the run waits for the operator and tells them how to answer.
  void await_operator(const std::string& step, const std::string& iter, const std::string& reason);
  /// Whether `s` does not run in this plan's mode; journals its skip then.
  bool skipped_by_mode(const Step& s, const std::string& where);
  /// report.json and report.md from the run state, once the walk is over.
  void finish_reports();

  const Plan& plan;
  RunOptions opts;
  Redactor redactor;
  JournaledOperator journaled;
  RunLifecycle life;
  PlanLock lock;
  Journal journal;
  std::string plan_dir, run_id;
  RunPaths paths;
  RunState state;  // under state_mutex while loop threads run
  std::mutex state_mutex;
  Value roots;     // what ${...} sees: params, vars, env, run, steps
  // Loop steps whose items' hosts were warmed, and hosts a session for the
  // engine's tunnel was warmed for (the walk's thread only).
  std::set<const Step*> loops_warmed;
  std::set<std::string> tunnels_warmed;
  std::shared_ptr<spdlog::logger> log;
  std::mutex say_mutex;
  // A run performs every operation; each value a secret resolves to is
  // scrubbed from then on. The one store: steps and connections read
  // through it (declared before the connections that hold it).
  SecretStore secrets;
  RunConnections connections;
  DirectRunner runner;
};

/// A loop item as progress lines and journal labels show it (60 characters at most).
std::string label_of(const Value& item);

}  // namespace she
