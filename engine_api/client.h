// The engine REST client (libcurl + pugixml). One connection, kept alive
// and reused; TLS always verified against the pinned engine CA only (never
// libcurl's or OpenSSL's default CA bundle or path): the plan's CA file, or
// a CA fetched from the engine and accepted only if its SHA-256 fingerprint
// matches the pinned one (or, on explicit request, trusted on first use
// with its fingerprint reported for pinning). The accepted CA is a
// TrustAnchor that every client of a run shares. SSO bearer tokens with one
// re-login on 401; Basic auth as a fallback. Reads retry transport errors
// and 5xx with backoff; actions are never repeated blindly.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <vector>

#include "base/operation.h"
#include "base/poller.h"
#include "engine_api/engine_error.h"
#include "engine_api/engine_watcher.h"
#include "engine_api/model.h"
#include "engine_api/requests.h"

namespace she::engine_api {

/// The one CA a run trusts, shared by all its engine clients (direct and
/// through tunnels): set once, from ca_file, from a CA fetched and checked
/// against a pinned fingerprint, or trusted on first use; the clients that
/// come later use it as it is and fetch nothing. Thread-safe.
class TrustAnchor {
 public:
  /// A fingerprint recorded earlier (a resumed run's trust on first use):
  /// a pin, like ca_fingerprint, unless ca_file or ca_fingerprint is set.
  void set_recorded_fingerprint(std::string fingerprint);
  std::string recorded_fingerprint() const;
  /// Called once, with the fingerprint, when a CA is trusted on first use,
  /// before anything is sent under it; if it throws, the CA is not trusted.
  void on_first_use(std::function<void(const std::string& fingerprint)> callback);

  bool ready() const;
  std::string pem() const;          // the accepted CA certificate(s), PEM
  std::string fingerprint() const;  // SHA256:... of its (first) certificate
  /// How it was accepted: "ca_file", "fingerprint", "recorded", "first_use"
  /// ("" before).
  std::string source() const;

 private:
  friend class EngineClient;
  mutable std::mutex mutex_;
  std::mutex establish_;  // one client fetches; the others wait for its answer
  bool ready_ = false;
  std::string pem_, fingerprint_, source_, recorded_;
  std::vector<std::string> der_digests_;  // SHA-256 of each accepted certificate's DER
  std::function<void(const std::string&)> on_first_use_;
};

struct ClientConfig {
  std::string api_url;          // https://FQDN/ovirt-engine/api
  std::string user = "admin@internal";
  std::string password;         // the value, resolved at the last moment; never logged
  bool basic_auth = false;      // instead of SSO tokens
  std::string ca_file;          // the engine CA (PEM)
  std::string ca_fingerprint;   // SHA256:AA:BB:... of the CA to fetch and pin
  bool trust_on_first_use = false;
  /// The run's trust anchor, shared by its clients; null: the client's own.
  std::shared_ptr<TrustAnchor> trust;
  /// A socket for a connection to the engine and where to connect it,
  /// instead of the URL's host and port (an SSH tunnel's end,
  /// hosts/ssh_tunnel.h); -1 on failure. TLS still verifies the certificate
  /// for the URL's host name.
  std::function<int(sockaddr_in* connect_to)> open_socket;
  /// True once the run is stopping (a signal): from then on no request is
  /// sent, not even the logout, whatever a call's own should_stop says.
  std::function<bool()> stopping;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds request_timeout{120000};
  int read_attempts = 4;        // for GET: first try plus retries
  std::chrono::milliseconds read_backoff{500};
  std::chrono::milliseconds poll_initial{1000};  // adaptive polling of waits
  std::chrono::milliseconds poll_max{10000};
  WatchPolicy watch;  // waits: the shared watcher's pace
};

/// Per call: the step's correlation id, its stop flag, its progress line.
struct CallOptions {
  std::string correlation_id;
  /// Asked every 100 ms while a request is in flight, and between retries
  /// and polls: once true the call is abandoned at once and throws
  /// she::Interrupted. A step's says so on a signal and when its time is up,
  /// so no call outlives the step's timeout.
  std::function<bool()> should_stop;
  std::function<void(const std::string&)> progress;
  /// Performs (or, in a rehearsal, records) each request and wait; none:
  /// performed directly.
  OperationRunner* runner = nullptr;
  /// Set by waits to their own deadline: until then a read that meets a
  /// transient error (no connection, reset, no answer in time, 502, 503,
  /// 504) is tried again with back-off rather than read_attempts times, so
  /// a burst of them does not fail a wait that has time left.
  std::chrono::steady_clock::time_point retry_reads_until{};
};

struct Response {
  long status = 0;
  std::string body;
};

class EngineClient {
 public:
  explicit EngineClient(ClientConfig config);
  ~EngineClient();  // logs out, unless the run is stopping
  EngineClient(const EngineClient&) = delete;
  EngineClient& operator=(const EngineClient&) = delete;

  /// One request, authenticated; throws EngineError for anything but 2xx.
  Response send(const CallOptions& o, const Request& r);
  /// The fingerprint of the CA in use when it was fetched from the engine.
  std::string fetched_ca_fingerprint() const;

  ApiInfo api_root(const CallOptions& o);
  /// The health page's text; EngineError(Transport) when nothing answers.
  std::string health(const CallOptions& o);
  std::vector<Host> list_hosts(const CallOptions& o, const std::string& search = "", bool all_content = true);
  Host get_host(const CallOptions& o, const std::string& id, bool all_content = true);
  std::optional<Host> find_host(const CallOptions& o, const std::string& name);
  void deactivate(const CallOptions& o, const std::string& id, const std::string& reason);
  void activate(const CallOptions& o, const std::string& id);
  void fence_manual(const CallOptions& o, const std::string& id);
  void install(const CallOptions& o, const std::string& id, const InstallOptions& opts);
  Host add(const CallOptions& o, const AddHostOptions& opts);
  void remove(const CallOptions& o, const std::string& id, bool force);
  /// Polls (adaptively: slow at first, then less often) until the host is in
  /// one of `targets`; fails at once on `fail_on`, quoting its last events.
  Host wait_for_status(const CallOptions& o, const std::string& id, const std::vector<std::string>& targets,
                       const std::vector<std::string>& fail_on, std::chrono::milliseconds timeout);
  /// Polls until GET answers 404.
  void wait_for_removal(const CallOptions& o, const std::string& id, std::chrono::milliseconds timeout);
  /// Waits until `look` holds, for state the engine logs events about (a
  /// VM's status, a data center's, the SPM): in a run `look` is asked again
  /// when the event log has news (and at the watcher's safety interval), not
  /// on a polling schedule of its own; in a rehearsal it looks once through
  /// the Poller. `what` says what is awaited.
  Poller::Outcome await_events(const CallOptions& o, const std::string& what, std::chrono::milliseconds timeout,
                               const std::function<bool()>& look);
  std::vector<Vm> list_vms(const CallOptions& o, const std::string& search = "");
  std::optional<Vm> hosted_engine_vm(const CallOptions& o);
  void start_vm(const CallOptions& o, const std::string& id);
  void set_global_maintenance(const CallOptions& o, bool enabled);
  std::vector<DataCenter> list_datacenters(const CallOptions& o);
  std::string job_status(const CallOptions& o, const std::string& id);
  /// Events with an id above `after`, newest first.
  std::vector<Event> events_since(const CallOptions& o, long long after, const std::string& search = "");
  /// The newest `max` events, newest first.
  std::vector<Event> latest_events(const CallOptions& o, int max);
  /// The watcher every wait of this connection shares.
  EngineWatcher& watcher();

 private:
  struct Curl;
  /// Throws she::Interrupted when the call or the run must stop.
  void check_stop(const CallOptions& o) const;
  void ensure_trust(const CallOptions& o);
  void establish_trust(const CallOptions& o);  // under the anchor's establish_ lock
  void login(const CallOptions& o);
  void logout();
  Response perform(const CallOptions& o, const std::string& method, const std::string& url, const std::string& body,
                   const std::vector<std::string>& headers, bool verify, bool basic_auth = false);
  Response send_once(const CallOptions& o, const Request& r, bool authenticated);
  Response send_now(const CallOptions& o, const Request& r);
  /// A rehearsal's expectations laid over what the engine says of hosts
  /// and VMs.
  static void overlay(const CallOptions& o, std::vector<Host>& hosts);
  static void overlay(const CallOptions& o, std::vector<Vm>& vms);
  /// Waits until `look` holds for host `id` (null: no such host): in a
  /// rehearsal one look through the Poller, in a run through the watcher.
  Poller::Outcome await_host(const CallOptions& polls, const std::string& id, const std::string& what,
                             std::chrono::milliseconds timeout, const std::function<bool(const Host*)>& look);
  /// A rehearsal's read of `r` answered by `answer` from a prediction of
  /// the engine (engine_api/restored_engine.h) rather than sent.
  static void answer_predicted(const CallOptions& o, const Request& r, const std::string& basis,
                               const std::function<void()>& answer);
  std::string origin() const;  // https://host:port

  ClientConfig config_;
  std::unique_ptr<Curl> curl_;
  std::recursive_mutex mutex_;  // one connection, shared by loop threads
  std::string token_;
  std::shared_ptr<TrustAnchor> trust_;
  std::once_flag watcher_once_;
  std::unique_ptr<EngineWatcher> watcher_;
  std::string ca_pem_;                     // the anchor's CA, once it is ready
  std::vector<std::string> ca_digests_;    // and its certificates' DER SHA-256
};

/// The host (an IPv6 address without its brackets) and port an https URL
/// names (443 when it names none).
struct UrlEndpoint {
  std::string host;
  int port = 443;
};
UrlEndpoint url_endpoint(const std::string& url);

/// SHA256:AA:BB:... of the first certificate in `pem`, or "" if unreadable.
std::string certificate_fingerprint(const std::string& pem);
/// Compares fingerprints written with or without "SHA256:", colons or case.
bool same_fingerprint(const std::string& a, const std::string& b);

}  // namespace she::engine_api
