// The operator, as every step of a run meets them: one question at a time
// (loop threads take turns), answers journaled with who and when. A prompt
// answered before an interruption is not asked again; questions about one
// attempt carry the attempt in their key.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "orchestrator/run_state.h"
#include "workflows/step_type.h"

namespace she {

class JournaledOperator : public OperatorChannel {
 public:
  /// `record` makes an answer durable before it is acted on.
  JournaledOperator(OperatorChannel& inner, std::function<void(const Value&)> record)
      : inner_(inner), record_(std::move(record)) {}

  /// The answers the journal already holds (the run's opening reads them).
  void remember(const std::map<std::string, Answer>& answers);

  std::optional<std::string> ask(const std::string& key, const std::string& question,
                                 const std::vector<std::string>& choices) override;
  std::string who() const override { return inner_.who(); }
  std::string source() const override { return inner_.source(); }

 private:
  OperatorChannel& inner_;
  std::function<void(const Value&)> record_;
  std::map<std::string, Answer> known_;
  std::mutex mutex_;
};

}  // namespace she
