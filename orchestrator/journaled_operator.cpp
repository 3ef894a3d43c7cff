#include "orchestrator/journaled_operator.h"

#include "orchestrator/stop_signals.h"

namespace she {

void JournaledOperator::remember(const std::map<std::string, Answer>& answers) {
  std::lock_guard<std::mutex> lock(mutex_);
  known_ = answers;
}

std::optional<std::string> JournaledOperator::ask(const std::string& key, const std::string& question,
                                                  const std::vector<std::string>& choices) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = known_.find(key); it != known_.end()) return it->second.answer;
  // A run asked to stop asks nothing more: the question waits for the resume.
  if (stop_requested()) return std::nullopt;
  auto answer = inner_.ask(key, question, choices);
  if (answer) {
    record_({{"t", rec::kAnswer}, {"key", key}, {"answer", *answer}, {"who", inner_.who()},
             {"source", inner_.source()}});
    known_[key] = {key, *answer, inner_.who(), "", inner_.source()};
  }
  return answer;
}

}  // namespace she
