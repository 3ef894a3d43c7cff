// Typed failures of engine calls: what a step needs to decide (retry,
// treat as done, stop) and what an operator needs to read (the engine's own
// words, from either fault shape).
#pragma once

#include <stdexcept>
#include <string>

namespace she::engine_api {

class EngineError : public std::runtime_error {
 public:
  enum class Kind {
    NotFound,     // 404 (the engine answers with an empty body)
    Conflict,     // 409: the engine refused in its current state; detail says why
    BadRequest,   // 400
    Auth,         // 401/403, or the SSO endpoint refused the credentials
    Tls,          // the certificate did not verify, or the CA fingerprint did not match
    Transport,    // no connection, reset, DNS
    Timeout,      // the request or a wait ran out of time
    Server,       // 5xx
    Protocol,     // an answer that is not what the API promises
  };
  // A call its stop predicate abandoned is not an engine failure: it throws
  // she::Interrupted (base/interrupted.h).

  EngineError(Kind kind, int http_status, std::string message, std::string detail = {})
      : std::runtime_error(std::move(message)), kind_(kind), http_status_(http_status), detail_(std::move(detail)) {}

  Kind kind() const { return kind_; }
  int http_status() const { return http_status_; }
  /// The engine's detail text without its [ ] list brackets, if it gave one.
  const std::string& detail() const { return detail_; }
  /// The retry class of a step's `retry.on` this error belongs to.
  std::string error_class() const;

 private:
  Kind kind_;
  int http_status_;
  std::string detail_;
};

const char* kind_name(EngineError::Kind kind);

struct Fault {
  std::string reason;
  std::string detail;  // brackets removed
};

/// Reads a bare <fault> or the <fault> inside an <action>; false when the
/// body holds neither (an HTML 401 page, an empty 404).
bool parse_fault(const std::string& body, Fault* out);

}  // namespace she::engine_api
