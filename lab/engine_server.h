// The lab engine's HTTPS server: the oVirt engine REST API, SSO, health and
// PKI endpoints over the lab's World, with the engine's exact shapes
// (reference: ovirt-engine-api.md): SSO token JSON, 401 as an HTML page with
// WWW-Authenticate, 404 with an empty body, actions answered with the
// request's <action> echoed, refusals as <fault> inside <action> (a bare
// <fault> for DELETE and add), DELETE answering 200 with an <action>.
//
// Every request under /ovirt-engine/ is logged, honours Correlation-Id (echoed
// back, stored on the events it creates) and the Version header, suffers the
// world's faults (503 bursts before any effect, a delay per response that
// holds the request before the engine sees it: a slow or silent engine) and
// applies the world's due transitions first. The log says when each request
// arrived, so a request held by the delay counts from then.
//
// Control endpoints for tests live under /lab/ (no auth, not logged, no
// faults), served also, alone, on a Unix socket for the lab hosts' agents: GET /lab/world, GET /lab/requests, POST /lab/reset-requests,
// POST /lab/faults, POST /lab/expire-tokens, POST /lab/host-status,
// POST /lab/engine-health, POST /lab/time-scale; for the lab hosts' agent
// GET /lab/he-vm-status, POST /lab/he-maintenance, POST
// /lab/he-clean-metadata, POST /lab/he-restore, POST /lab/he-add-host; for
// the legacy restore POST /lab/he-legacy-engine-setup, /lab/he-legacy-add-host,
// /lab/he-legacy-engine-vm.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "lab/http_reply.h"
#include "lab/lab_pki.h"
#include "lab/request_log.h"
#include "lab/token_store.h"
#include "lab/world.h"

namespace httplib {
class Server;
class SSLServer;
struct Request;
struct Response;
}  // namespace httplib

namespace she::lab {

class LabEngineServer {
 public:
  /// `pki`: the CA (served by pki-resource), the server certificate and key.
  LabEngineServer(World& world, LabPkiFiles pki);
  ~LabEngineServer();  // stops
  LabEngineServer(const LabEngineServer&) = delete;
  LabEngineServer& operator=(const LabEngineServer&) = delete;

  /// Listens on `address`:`port` (0: a free port) in a background thread,
  /// and on agent_socket(); returns the port. Throws std::runtime_error if
  /// it cannot.
  int start(const std::string& address, int port);
  /// Stops listening and joins the threads; safe to call twice.
  void stop();
  int port() const { return port_; }
  /// The /lab/ endpoints alone, plain HTTP on a Unix socket, for the lab
  /// hosts' agents (HostFleet::start): a request without TLS's handshake,
  /// which each agent, a fresh process, would pay again. In a directory of
  /// mode 0700 made by start() and removed by stop(): only the lab's user
  /// reaches it, as only it reads the lab's files. Empty until started.
  const std::filesystem::path& agent_socket() const { return agent_socket_; }

  RequestLog& request_log() { return log_; }

  /// Test hooks, for crash tests that need an instant no timer can hit: a
  /// client killed exactly between "the engine acted" and "it heard back".
  /// `before` sees each engine request (not /lab/) as it arrives; returning
  /// false drops it unhandled: no effect, not logged, the connection closed
  /// with no reply (as if it never reached the engine). `after` sees it once
  /// the engine has handled and logged it, before the reply is sent. Both
  /// run on the server's worker thread; an empty function removes a hook.
  using BeforeHandle = std::function<bool(const std::string& method, const std::string& path)>;
  using AfterHandle = std::function<void(const std::string& method, const std::string& path)>;
  void set_before_handle(BeforeHandle hook);
  void set_after_handle(AfterHandle hook);
  TokenStore& tokens() { return tokens_; }

 private:
  using Reply = HttpReply;

  void handle(const httplib::Request& req, httplib::Response& res);
  Reply engine_request(const httplib::Request& req, const std::string& correlation_id);
  Reply lab_request(const httplib::Request& req);
  void log_request(const httplib::Request& req, int status, const std::string& correlation_id,
                   std::chrono::system_clock::time_point arrived);
  Reply sso_token(const httplib::Request& req);
  Reply sso_logout(const httplib::Request& req);
  Reply health();
  Reply pki_resource(const httplib::Request& req);
  Reply api(const httplib::Request& req, const std::string& correlation_id);
  /// The authenticated user, from a bearer token or Basic credentials; when
  /// none, `refusal` may hold the SSO's reason (refused Basic credentials).
  std::string authenticate(const httplib::Request& req, std::string& refusal);
  /// Logs the user's login on the first request of a session.
  void note_session(const httplib::Request& req, const std::string& user, const std::string& correlation_id);

  World& world_;
  LabPkiFiles pki_;
  std::string ca_pem_, cert_pem_;
  void start_agent_socket();
  void stop_agent_socket();

  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::unique_ptr<httplib::Server> agent_server_;
  std::thread agent_thread_;
  std::filesystem::path agent_socket_;
  RequestLog log_;
  TokenStore tokens_;
  // slow_ms holds each request on this, so that stop() ends the wait.
  std::mutex delay_mutex_;
  std::condition_variable delay_cv_;
  bool stopping_ = false;
  std::mutex hooks_mutex_;
  BeforeHandle before_handle_;
  // Sessions already logged in (a hash of the credentials, never the
  // credentials): the first request of each logs USER_VDC_LOGIN.
  std::mutex sessions_mutex_;
  std::map<std::size_t, std::string> sessions_;
  AfterHandle after_handle_;
};

}  // namespace she::lab
