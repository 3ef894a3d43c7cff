// A run as its journal tells it: replaying the records gives every step's
// and loop iteration's state, the values they captured, the operator's
// answers and why the run stopped. Resume, status and reports all read this.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "workflows/expression.h"

namespace she {

/// Record types of the journal.
namespace rec {
constexpr const char* kRunStarted = "run_started";
constexpr const char* kRunResumed = "run_resumed";
constexpr const char* kRerunFrom = "rerun_from";
constexpr const char* kReplanned = "replanned";
constexpr const char* kLoopExpanded = "loop_expanded";
constexpr const char* kStepStarted = "step_started";
constexpr const char* kStepSucceeded = "step_succeeded";
constexpr const char* kStepFailed = "step_failed";
constexpr const char* kStepSkipped = "step_skipped";
constexpr const char* kAnswer = "prompt_answered";
constexpr const char* kAwaiting = "awaiting_operator";
constexpr const char* kInterrupted = "interrupted";
constexpr const char* kRunStopped = "run_stopped";    // failed; re-running resumes
constexpr const char* kRunFinished = "run_finished";  // succeeded
constexpr const char* kCaTrusted = "ca_trusted_first_use";  // {"fingerprint": "SHA256:..."}
// A file holding a secret on a host: journaled before it is written, and
// when it is gone; one still placed at the end of a walk is removed then,
// or reported with its host, path and remedy.
constexpr const char* kSecretFilePlaced = "secret_file_placed";    // {"host": name, "path": path}
constexpr const char* kSecretFileRemoved = "secret_file_removed";  // {"host": name, "path": path}
// Damage the journal was opened with and repaired: {"warning": what was lost}.
constexpr const char* kJournalRepaired = "journal_repaired";

/// Whether a record of type `t` may reach the disk with the next sync
/// rather than its own: it tells an outcome (a step done, skipped or
/// failed, a loop's items, an answer, a secret file gone). Every action is
/// announced by a record synced before it (step_started,
/// secret_file_placed), which carries the outcomes before it to disk; one
/// a power cut loses leaves what a crash just before it leaves.
bool rides_with_next_sync(const std::string& t);
}  // namespace rec

struct IterationState {
  std::string status = "pending";  // pending | running | succeeded | failed | skipped
  std::string label;
  int attempts = 0;
  Value outputs = Value::object();
  std::string error;
  std::string error_class;
  std::string started, finished;
  long long duration_ms = 0;
  std::string note;  // how it ended, e.g. "already in place (probe)"
  std::vector<Value> retries;  // the failures a retry followed: {class, error, time}
};

struct StepState {
  bool loop_expanded = false;
  Value items = Value::array();
  std::map<std::string, IterationState> iterations;  // "" for a step without a loop
  std::string skip_reason;

  /// pending | running | succeeded | failed | skipped, over its iterations.
  std::string status() const;
};

struct Answer {
  std::string key, answer, who, time;
  std::string source;  // terminal, --yes, answers file
};

struct RunState {
  std::string run_id, plan_name, plan_file, user, host, started, finished;
  std::string result;        // "" (unfinished), succeeded, failed, awaiting_operator, interrupted
  std::string stop_reason;   // why it stopped, for status and reports
  std::string stop_step;     // where
  Value step_hashes = Value::object();
  std::map<std::string, StepState> steps;
  std::map<std::string, Answer> answers;
  std::vector<std::string> warnings;
  int resumes = 0;
  /// Files holding secrets placed on hosts and not known removed: host -> paths.
  std::map<std::string, std::set<std::string>> secret_files;
  std::string rerun_from;    // the step of the latest --from of this run
  std::string trusted_ca_fingerprint;  // the engine CA trusted on first use; a pin on resume
  long records = 0;          // how many records made it

  /// The state after `records`; read only when a run is opened.
  static RunState replay(const std::vector<Value>& records);
  /// One more record, as it becomes durable.
  void apply(const Value& record);
  /// Every field, for the journal's checkpoint: from_value(to_value()) is
  /// the same state.
  Value to_value() const;
  static RunState from_value(const Value& v);
  const IterationState* iteration(const std::string& step, const std::string& key) const;
};

}  // namespace she
