#include "orchestrator/run_context.h"

#include <fmt/format.h>
#include <iostream>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include "base/clock.h"
#include "orchestrator/report.h"
#include "workflows/step_expansion.h"

namespace she {

RunContext::RunContext(const Plan& p, const RunOptions& o, OperatorChannel& op)
    : plan(p),
      opts(o),
      journaled(op, [this](const Value& r) { record(r); }),
      secrets(SecretStore::Mode::Resolve, [this](const std::string& v) { redactor.add_value(v); }),
      connections(p.env, secrets, [this](const std::string& m) { say("", m); }) {
  redactor.preload(plan, secrets);  // values echoed before their first use are caught too
}

RunContext::~RunContext() = default;

void RunContext::record(Value r, Journal::Sync sync) {
  r["time"] = utc_now_ms();
  r = redactor.scrub(r);
  std::string err;
  if (rec::rides_with_next_sync(r.value("t", std::string()))) sync = Journal::Sync::WithNext;
  Journal::Written written;
  {
    // The state lock spans the write: a checkpoint holds the state of
    // exactly the records written before it (and syncs them first).
    std::lock_guard<std::mutex> guard(state_mutex);
    if (!journal.write(r, &err, &written)) throw JournalFailure(fmt::format("{}: {}", paths.journal(), err));
    state.apply(r);
    if (!journal.checkpoint_if_due(state, &err)) say("", "warning: " + err);
  }
  // Outside it: the records of a loop's iterations written meanwhile reach
  // the disk with one sync. The record's action waits for this.
  if (!journal.settle(written, sync, &err)) throw JournalFailure(fmt::format("{}: {}", paths.journal(), err));
}

std::optional<IterationState> RunContext::iteration_now(const std::string& step, const std::string& key) {
  std::lock_guard<std::mutex> guard(state_mutex);
  const IterationState* it = state.iteration(step, key);
  return it ? std::optional<IterationState>(*it) : std::nullopt;
}

void RunContext::start_log() {
  try {
    log = spdlog::basic_logger_mt("run-" + run_id, paths.log());
    log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
    log->flush_on(spdlog::level::info);
  } catch (const spdlog::spdlog_ex& e) {
    std::cerr << "she-restore: warning: no log file: " << e.what() << "\n";
  }
}

void RunContext::say(const std::string& where, const std::string& message) {
  std::string line = redactor.scrub(where.empty() ? message : where + ": " + message);
  std::lock_guard<std::mutex> guard(say_mutex);
  std::cerr << line << "\n";
  if (log) log->info(line);
}

void RunContext::skip(const Step& s, const std::string& reason, const std::string& where) {
  record({{"t", rec::kStepSkipped}, {"step", s.id}, {"iter", ""}, {"reason", reason}});
  if (!where.empty()) say(where, "skipped: " + reason);
}

void RunContext::await_operator(const std::string& step, const std::string& iter, const std::string& reason) {
  record({{"t", rec::kAwaiting}, {"step", step}, {"iter", iter}, {"reason", reason}});
  say(step, "waiting for the operator: " + reason);
  std::cerr << fmt::format("Answer on a terminal by running `{}` again, or give the answer with "
                           "--yes or --answers FILE. `{}` shows what is awaited.\n",
                           opts.invocation.run(), opts.invocation.status());
}

bool RunContext::skipped_by_mode(const Step& s, const std::string& where) {
  if (runs_in_mode(plan, s)) return false;
  skip(s, mode_restriction(s), where);
  return true;
}

void RunContext::finish_reports() {
  if (!journal.is_open()) return;
  std::string err;
  if (!write_reports(plan, paths, state, redactor, &err)) std::cerr << "she-restore: warning: " << err << "\n";
  if (log) log->flush();
}

std::string label_of(const Value& item) {
  std::string l = item_label(item);
  return l.size() > 60 ? l.substr(0, 57) + "..." : l;
}

}  // namespace she
