// Secret values, scrubbed by value from everything a run writes: log,
// journal, reports, progress and error messages. Plans only hold references
// (env:NAME, file:PATH); the values are looked up here once, so that a value
// a host or a step echoes back is caught too (Ansible's no_log gap).
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "workflows/expression.h"
#include "workflows/plan.h"
#include "workflows/secret_ref.h"

namespace she {

class Redactor {
 public:
  Redactor(const Redactor&) = delete;
  Redactor& operator=(const Redactor&) = delete;
  /// Collects the values behind every secret reference of the plan.
  explicit Redactor(const Plan& plan);
  Redactor() = default;

  void add_value(const std::string& value);
  std::string scrub(std::string text) const;
  Value scrub(const Value& v) const;

 private:
  mutable std::mutex mutex_;  // values are added as a run resolves them
  std::vector<std::string> values_;
};


}  // namespace she
