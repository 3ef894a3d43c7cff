// The log of every request the lab engine answered, so tests can assert
// what a plan did to the engine: that no destructive call was made twice, or
// none at all in a dry run. Secrets in query strings (password=, token=) are
// redacted before they are stored. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace she::lab {

struct LoggedRequest {
  std::int64_t seq = 0;
  std::string time;            // when it arrived, ISO 8601 with milliseconds
  std::string method;
  std::string path;            // with the query, secrets redacted
  int status = 0;
  std::string correlation_id;  // the Correlation-Id header or correlation_id parameter
};

class RequestLog {
 public:
  void add(LoggedRequest r);
  std::vector<LoggedRequest> all() const;
  void clear();
  nlohmann::json to_json() const;

  /// `target` with the values of password= and token= query parameters
  /// replaced by [redacted].
  static std::string redact(const std::string& target);

 private:
  mutable std::mutex mutex_;
  std::vector<LoggedRequest> entries_;
  std::int64_t next_seq_ = 1;
};

}  // namespace she::lab
