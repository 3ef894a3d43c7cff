#include "engine_api/engine_error.h"

#include <pugixml.hpp>

namespace she::engine_api {

std::string EngineError::error_class() const {
  switch (kind_) {
    case Kind::Transport: return "transport";
    case Kind::Timeout: return "timeout";
    case Kind::Server: return "server";
    case Kind::Conflict: return "conflict";
    default: return "fatal";
  }
}

const char* kind_name(EngineError::Kind kind) {
  switch (kind) {
    case EngineError::Kind::NotFound: return "not found";
    case EngineError::Kind::Conflict: return "conflict";
    case EngineError::Kind::BadRequest: return "bad request";
    case EngineError::Kind::Auth: return "authentication";
    case EngineError::Kind::Tls: return "TLS";
    case EngineError::Kind::Transport: return "transport";
    case EngineError::Kind::Timeout: return "timeout";
    case EngineError::Kind::Server: return "server";
    case EngineError::Kind::Protocol: return "protocol";
  }
  return "?";
}

bool parse_fault(const std::string& body, Fault* out) {
  pugi::xml_document doc;
  if (body.empty() || !doc.load_buffer(body.data(), body.size())) return false;
  pugi::xml_node fault = doc.child("fault");
  if (!fault) fault = doc.child("action").child("fault");
  if (!fault) return false;
  out->reason = fault.child_value("reason");
  std::string detail = fault.child_value("detail");
  // The engine writes its message list as Java's List.toString(): [a, b].
  if (detail.size() >= 2 && detail.front() == '[' && detail.back() == ']') detail = detail.substr(1, detail.size() - 2);
  out->detail = detail;
  return true;
}

}  // namespace she::engine_api
