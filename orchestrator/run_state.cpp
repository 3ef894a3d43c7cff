#include "orchestrator/run_state.h"

namespace she {

bool rec::rides_with_next_sync(const std::string& t) {
  return t == kStepSucceeded || t == kStepSkipped || t == kStepFailed || t == kLoopExpanded || t == kAnswer ||
         t == kSecretFileRemoved;
}

// The checkpoint keeps every field: one missing here would be lost on the
// resume that reads the checkpoint. The sizes catch a field added to a
// struct and not to its list below.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(IterationState, status, label, attempts, outputs, error, error_class,
                                                started, finished, duration_ms, note, retries)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(StepState, loop_expanded, items, iterations, skip_reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Answer, key, answer, who, time, source)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(RunState, run_id, plan_name, plan_file, user, host, started, finished,
                                                result, stop_reason, stop_step, step_hashes, steps, answers, warnings,
                                                resumes, secret_files, rerun_from, trusted_ca_fingerprint, records)
static_assert(sizeof(IterationState) == 280, "a field added to IterationState: list it above");
static_assert(sizeof(StepState) == 104, "a field added to StepState: list it above");
static_assert(sizeof(Answer) == 160, "a field added to Answer: list it above");
static_assert(sizeof(RunState) == 584, "a field added to RunState: list it above");

Value RunState::to_value() const { return *this; }

RunState RunState::from_value(const Value& v) { return v.get<RunState>(); }

std::string StepState::status() const {
  if (!skip_reason.empty()) return "skipped";
  if (iterations.empty()) return loop_expanded ? "succeeded" : "pending";
  bool any_running = false, any_failed = false, any_pending = false;
  for (auto& [key, it] : iterations) {
    any_running |= it.status == "running";
    any_failed |= it.status == "failed";
    any_pending |= it.status == "pending";
  }
  if (any_running) return "running";
  if (any_failed) return "failed";
  if (any_pending) return "pending";
  if (loop_expanded && iterations.size() < items.size()) return "pending";
  return "succeeded";
}

const IterationState* RunState::iteration(const std::string& step, const std::string& key) const {
  auto s = steps.find(step);
  if (s == steps.end()) return nullptr;
  auto it = s->second.iterations.find(key);
  return it == s->second.iterations.end() ? nullptr : &it->second;
}

RunState RunState::replay(const std::vector<Value>& records) {
  RunState st;
  for (const Value& r : records) st.apply(r);
  return st;
}

void RunState::apply(const Value& r) {
  RunState& st = *this;
  ++st.records;
  {
    std::string t = r.value("t", "");
    std::string step = r.value("step", "");
    std::string key = r.value("iter", "");
    std::string time = r.value("time", "");
    if (t == rec::kRunStarted) {
      st.run_id = r.value("run", "");
      st.plan_name = r.value("plan", "");
      st.plan_file = r.value("plan_file", "");
      st.user = r.value("user", "");
      st.host = r.value("host", "");
      st.started = time;
      st.step_hashes = r.value("step_hashes", Value::object());
    } else if (t == rec::kRunResumed) {
      ++st.resumes;
      st.result.clear();
      st.stop_reason.clear();
      st.stop_step.clear();
    } else if (t == rec::kReplanned) {
      st.step_hashes = r.value("step_hashes", st.step_hashes);
      st.warnings.push_back("resumed with a changed plan (--replan) at " + time);
    } else if (t == rec::kRerunFrom) {
      // --from: this step and those after it run again.
      for (const auto& id : r.value("steps", std::vector<std::string>{})) st.steps.erase(id);
      st.rerun_from = r.value("from", "");
      st.result.clear();
    } else if (t == rec::kLoopExpanded) {
      auto& s = st.steps[step];
      s.loop_expanded = true;
      s.items = r.value("items", Value::array());
      auto labels = r.value("labels", std::vector<std::string>{});
      for (size_t i = 0; i < labels.size(); ++i) s.iterations[std::to_string(i)].label = labels[i];
    } else if (t == rec::kStepStarted) {
      auto& it = st.steps[step].iterations[key];
      it.status = "running";
      it.attempts = r.value("attempt", it.attempts + 1);
      if (it.started.empty()) it.started = time;
      if (r.contains("label")) it.label = r.value("label", "");
    } else if (t == rec::kStepSucceeded) {
      auto& it = st.steps[step].iterations[key];
      it.status = "succeeded";
      it.outputs = r.value("outputs", Value::object());
      it.finished = time;
      it.duration_ms = r.value("ms", 0LL);
      it.note = r.value("note", "");
      it.error.clear();
    } else if (t == rec::kStepFailed) {
      auto& it = st.steps[step].iterations[key];
      it.error = r.value("error", "");
      it.error_class = r.value("class", "");
      if (r.value("final", true)) {
        it.status = "failed";
        it.finished = time;
      } else {
        it.status = "pending";  // a retry follows
        it.retries.push_back({{"class", it.error_class}, {"error", it.error}, {"time", time}});
      }
    } else if (t == rec::kStepSkipped) {
      if (key.empty() && !st.steps[step].loop_expanded) {
        st.steps[step].skip_reason = r.value("reason", "skipped");
      } else {
        auto& it = st.steps[step].iterations[key];
        it.status = "skipped";
        it.note = r.value("reason", "");
      }
    } else if (t == rec::kAnswer) {
      st.answers[r.value("key", "")] = {r.value("key", ""), r.value("answer", ""), r.value("who", ""), time,
                                        r.value("source", "")};
    } else if (t == rec::kAwaiting) {
      st.result = "awaiting_operator";
      st.stop_reason = r.value("reason", "");
      st.stop_step = step;
    } else if (t == rec::kInterrupted) {
      st.result = "interrupted";
      st.stop_reason = r.value("reason", "interrupted");
      st.stop_step = step;
    } else if (t == rec::kRunStopped) {
      st.result = "failed";
      st.stop_reason = r.value("reason", "");
      st.stop_step = step;
      st.finished = time;
    } else if (t == rec::kCaTrusted) {
      st.trusted_ca_fingerprint = r.value("fingerprint", "");
    } else if (t == rec::kSecretFilePlaced) {
      st.secret_files[r.value("host", "")].insert(r.value("path", ""));
    } else if (t == rec::kSecretFileRemoved) {
      auto it = st.secret_files.find(r.value("host", ""));
      if (it != st.secret_files.end()) {
        it->second.erase(r.value("path", ""));
        if (it->second.empty()) st.secret_files.erase(it);
      }
    } else if (t == rec::kJournalRepaired) {
      st.warnings.push_back(r.value("warning", ""));
    } else if (t == rec::kRunFinished) {
      st.result = "succeeded";
      st.finished = time;
    }
  }
}

}  // namespace she
