// One HTTP answer of the lab engine, independent of the HTTP library, so the
// REST resources can be written (and read) without transport code.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace she::lab {

struct HttpReply {
  int status = 200;
  std::string content_type;  // empty with an empty body
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpReply xml(int status, std::string body) { return {status, "application/xml", std::move(body), {}}; }
  static HttpReply json(int status, std::string body) { return {status, "application/json", std::move(body), {}}; }
  /// The engine's 404 for an unknown entity: no body at all.
  static HttpReply empty(int status) { return {status, "", "", {}}; }
};

}  // namespace she::lab
