// The one place a secret reference (env:NAME, file:PATH) becomes its value.
// Every value it reads is handed to the run's redactor at that moment, so
// nothing resolved can reach a log, the journal or a message unscrubbed. A
// rehearsal's store never reads a value: it answers with a stand-in that
// names the reference, which is what a dry run shows in its place.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

namespace she {

class SecretStore {
 public:
  enum class Mode { Resolve, StandIn };

  explicit SecretStore(Mode mode, std::function<void(const std::string& value)> on_resolved = {})
      : mode_(mode), on_resolved_(std::move(on_resolved)) {}

  /// The value behind `reference`; throws SecretUnavailable naming the
  /// reference (never a value) when it cannot be read or is no reference.
  std::string value(const std::string& reference) const;
  bool rehearsal() const { return mode_ == Mode::StandIn; }

  /// What a rehearsal shows in place of the value.
  static std::string stand_in(const std::string& reference) { return "[secret " + reference + "]"; }

 private:
  Mode mode_;
  std::function<void(const std::string&)> on_resolved_;
};

class SecretUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace she
