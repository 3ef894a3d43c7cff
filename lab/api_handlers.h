// The REST resources under /ovirt-engine/api: hosts, VMs, data centers,
// clusters, jobs, events and the API root, each answered from the World with
// the engine's rules for parameters (reference: ovirt-engine-api.md section
// 3: action parameters from the body; add/remove flags as query or matrix
// parameters, a bare ?force meaning true) and for errors (404 with an empty
// body, refusals with the engine's HTTP code and [msg] detail).
//
// The call arrives authenticated and transport-free: the server has already
// checked credentials, the version and the faults.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lab/http_reply.h"
#include "lab/world.h"

namespace she::lab {

struct ApiCall {
  std::string method;                          // GET (HEAD is served as GET), POST, PUT, DELETE
  std::vector<std::string> segments;           // the path after /ovirt-engine/api, /v4 and matrix removed
  std::multimap<std::string, std::string> query;
  std::map<std::string, std::string> matrix;   // ;name=value on the last segment
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  std::string user;            // who is authenticated
  std::string correlation_id;  // from the Correlation-Id header or correlation_id parameter
  std::string origin;          // https://host:port, for Location headers
};

HttpReply handle_api_call(World& world, const ApiCall& call);

}  // namespace she::lab
