// Secret values, scrubbed by value from everything a run writes: log,
// journal, reports, progress and error messages. Plans only hold references
// (env:NAME, file:PATH); the values reach it from the run's one SecretStore
// (the only resolver), as it resolves them and, through preload, at start,
// so that a value a host or a step echoes back is caught too (Ansible's
// no_log gap), even before the run itself first uses it.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "workflows/expression.h"
#include "workflows/plan.h"
#include "workflows/secret_store.h"

namespace she {

class Redactor {
 public:
  Redactor(const Redactor&) = delete;
  Redactor& operator=(const Redactor&) = delete;
  Redactor() = default;

  /// Every secret reference the plan can reach: its environment (engine
  /// password, SSH passphrases and passwords), parameters, variables and
  /// the step parameters typed as secrets.
  static std::vector<std::string> plan_secret_refs(const Plan& plan);
  /// Registers, read through `store`, the value of each of the plan's
  /// references that can be read now. One that cannot is left alone: its
  /// point of use fails naming the reference. A rehearsal store's stand-ins
  /// are not secrets and are not registered.
  void preload(const Plan& plan, const SecretStore& store);

  void add_value(const std::string& value);
  std::string scrub(std::string text) const;
  Value scrub(const Value& v) const;

 private:
  mutable std::mutex mutex_;  // values are added as a run resolves them
  std::vector<std::string> values_;
};


}  // namespace she
