#include "engine_api/client.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <curl/curl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <fstream>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sstream>
#include <thread>

#include "base/backoff.h"
#include "base/interrupted.h"
#include "base/duration.h"
#include "base/poller.h"
#include "engine_api/restored_engine.h"

namespace she::engine_api {

namespace {

using Clock = std::chrono::steady_clock;
using Kind = EngineError::Kind;

size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::string join(const std::vector<std::string>& v) { return fmt::format("{}", fmt::join(v, ", ")); }

}  // namespace

// The easy handle runs inside a multi handle of its own so that a request
// in flight can be abandoned: curl_easy_perform would only give it up at
// its timeouts. The multi handle also holds the connection cache, so the
// connection is kept between requests as before.
struct EngineClient::Curl {
  CURL* handle = curl_easy_init();
  CURLM* multi = curl_multi_init();
  ~Curl() {
    curl_multi_cleanup(multi);
    curl_easy_cleanup(handle);
  }

  /// Runs the transfer set up on `handle`, asking `stop` every 100 ms
  /// (a signal or a step's deadline is seen within that, whatever the
  /// request's own timeouts). Returns false when stopped: the transfer is
  /// dropped and its connection closed, nothing more is sent on it.
  bool perform(const std::function<bool()>& stop, CURLcode* rc) {
    curl_multi_add_handle(multi, handle);
    bool stopped = false;
    *rc = CURLE_OK;
    for (int running = 1; running;) {
      if (curl_multi_perform(multi, &running) != CURLM_OK) {
        *rc = CURLE_FAILED_INIT;  // the multi interface itself failed: no transfer was made
        break;
      }
      if (!running) break;
      if (stop()) {
        stopped = true;
        break;
      }
      curl_multi_poll(multi, nullptr, 0, 100, nullptr);
    }
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &left))
      if (m->msg == CURLMSG_DONE && m->easy_handle == handle) *rc = m->data.result;
    curl_multi_remove_handle(multi, handle);
    return !stopped;
  }
};

std::string certificate_fingerprint(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = bio ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
  std::string out;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (cert && X509_digest(cert, EVP_sha256(), md, &len)) {
    out = "SHA256:";
    for (unsigned int i = 0; i < len; ++i) out += fmt::format("{}{:02X}", i ? ":" : "", md[i]);
  }
  X509_free(cert);
  BIO_free(bio);
  return out;
}

bool same_fingerprint(const std::string& a, const std::string& b) {
  auto norm = [](std::string s) {
    if (s.rfind("SHA256:", 0) == 0 || s.rfind("sha256:", 0) == 0) s = s.substr(7);
    std::string out;
    for (char c : s)
      if (c != ':') out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
  };
  return !a.empty() && norm(a) == norm(b);
}

void TrustAnchor::set_recorded_fingerprint(std::string fingerprint) {
  std::lock_guard<std::mutex> lock(mutex_);
  recorded_ = std::move(fingerprint);
}
std::string TrustAnchor::recorded_fingerprint() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return recorded_;
}
void TrustAnchor::on_first_use(std::function<void(const std::string&)> callback) {
  std::lock_guard<std::mutex> lock(mutex_);
  on_first_use_ = std::move(callback);
}
bool TrustAnchor::ready() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ready_;
}
std::string TrustAnchor::pem() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return pem_;
}
std::string TrustAnchor::fingerprint() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return fingerprint_;
}
std::string TrustAnchor::source() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return source_;
}

namespace {

std::string der_sha256(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!cert || !X509_digest(cert, EVP_sha256(), md, &len)) return "";
  return std::string(reinterpret_cast<char*>(md), len);
}

/// The SHA-256 of every certificate in `pem` (empty when none is readable).
std::vector<std::string> pem_digests(const std::string& pem) {
  std::vector<std::string> out;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (bio) {
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    if (!cert) break;
    out.push_back(der_sha256(cert));
    X509_free(cert);
  }
  BIO_free(bio);
  return out;
}

// Defence in depth for the pin. libcurl is told to trust only the pinned CA
// (CURLOPT_CAINFO_BLOB, with CURLOPT_CAINFO and CURLOPT_CAPATH cleared); in
// addition, OpenSSL's verify callback accepts a chain only if its anchor
// (the top of the verified chain) is one of the pinned certificates, so a
// CA that reached the X509_STORE any other way cannot vouch for the engine.
int pin_ex_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int verify_pinned_anchor(int ok, X509_STORE_CTX* store) {
  if (!ok) return 0;
  // Depth 0 (the server's own certificate) is verified last; the chain is
  // complete by then.
  if (X509_STORE_CTX_get_error_depth(store) != 0) return ok;
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* pins = ssl ? static_cast<const std::vector<std::string>*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), pin_ex_index()))
                   : nullptr;
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(store);
  if (pins && chain && sk_X509_num(chain) > 0) {
    std::string top = der_sha256(sk_X509_value(chain, sk_X509_num(chain) - 1));
    if (std::find(pins->begin(), pins->end(), top) != pins->end()) return 1;
  }
  X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_UNTRUSTED);
  return 0;
}

CURLcode pin_ssl_ctx(CURL*, void* ssl_ctx, void* pins) {
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  // curl set the verify mode just before calling this; only the callback is added.
  if (!SSL_CTX_set_ex_data(ctx, pin_ex_index(), pins)) return CURLE_SSL_CERTPROBLEM;
  SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), verify_pinned_anchor);
  return CURLE_OK;
}

// The socket and the address curl connects it to (libcurl lets this
// callback change the address; an already connected socket is not an
// option: curl 7.88 connects it again and fails, curl/curl#10626).
curl_socket_t open_tunnel_socket(void* data, curlsocktype, curl_sockaddr* address) {
  sockaddr_in to{};
  int fd = (*static_cast<std::function<int(sockaddr_in*)>*>(data))(&to);
  if (fd < 0) return CURL_SOCKET_BAD;
  static_assert(sizeof(address->addr) >= sizeof(sockaddr_in), "curl_sockaddr holds an IPv4 address");
  std::memcpy(&address->addr, &to, sizeof to);
  address->family = AF_INET;
  address->addrlen = sizeof to;
  return fd;
}

}  // namespace

UrlEndpoint url_endpoint(const std::string& url) {
  UrlEndpoint e;
  CURLU* u = curl_url();
  char* host = nullptr;
  char* port = nullptr;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
    e.host = host;
    if (e.host.size() > 2 && e.host.front() == '[' && e.host.back() == ']') e.host = e.host.substr(1, e.host.size() - 2);
    if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) e.port = std::atoi(port);
  }
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return e;
}

EngineClient::EngineClient(ClientConfig config) : config_(std::move(config)), curl_(std::make_unique<Curl>()) {
  static const bool global = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  (void)global;
  trust_ = config_.trust ? config_.trust : std::make_shared<TrustAnchor>();
}

std::string EngineClient::fetched_ca_fingerprint() const {
  std::string source = trust_->source();
  return source == "ca_file" ? "" : trust_->fingerprint();
}

EngineClient::~EngineClient() { logout(); }

void EngineClient::check_stop(const CallOptions& o) const {
  if ((o.should_stop && o.should_stop()) || (config_.stopping && config_.stopping()))
    throw Interrupted("stopped before a request to the engine");
}

std::string EngineClient::origin() const {
  // https://host[:port] of the API URL: SSO, health and pki-resource live there.
  size_t scheme = config_.api_url.find("://");
  size_t path = config_.api_url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return path == std::string::npos ? config_.api_url : config_.api_url.substr(0, path);
}

Response EngineClient::perform(const CallOptions& o, const std::string& method, const std::string& url,
                               const std::string& body, const std::vector<std::string>& headers, bool verify,
                               bool basic_auth) {
  CURL* c = curl_->handle;
  curl_easy_reset(c);
  Response r;
  curl_slist* list = nullptr;
  for (auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.request_timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  // Only the pinned CA is trusted. curl_easy_reset puts back the build's
  // defaults, which on Debian are CURLOPT_CAINFO
  // /etc/ssl/certs/ca-certificates.crt and CURLOPT_CAPATH /etc/ssl/certs;
  // curl 7.88's OpenSSL backend loads CAPATH even next to a CAINFO_BLOB, so
  // both are cleared. With a blob imported it adds no OpenSSL default paths
  // (that fallback needs CURL_CA_FALLBACK and no CA at all).
  curl_easy_setopt(c, CURLOPT_CAINFO, nullptr);
  curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);
  // Verification is off only for the one fetch of a CA that is then checked
  // against its pinned fingerprint (or reported, on trust-on-first-use); it
  // carries no credentials and its connection and TLS session are not kept
  // for anything else.
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
  if (verify) {
    if (ca_pem_.empty() || ca_digests_.empty())
      throw EngineError(Kind::Tls, 0, "internal: a verified request to the engine before its CA is known");
    curl_blob blob{const_cast<char*>(ca_pem_.data()), ca_pem_.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
    curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, pin_ssl_ctx);
    curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, &ca_digests_);
  } else {
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
  }
  if (basic_auth) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, config_.user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, config_.password.c_str());
  }
  if (method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  else if (method != "GET") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST" || (!body.empty() && method != "GET")) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_slist* resolve = nullptr;
  if (config_.open_socket) {
    // curl connects to the tunnel's end instead of the URL's host, with no
    // name lookup here (only the far host need resolve it); the name checked
    // in the certificate stays the URL's.
    UrlEndpoint e = url_endpoint(url);
    const std::string host = e.host.find(':') != std::string::npos ? "[" + e.host + "]" : e.host;
    resolve = curl_slist_append(nullptr, fmt::format("{}:{}:127.0.0.1", host, e.port).c_str());
    curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_tunnel_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &config_.open_socket);
  }
  check_stop(o);
  CURLcode rc = CURLE_OK;
  const bool finished = curl_->perform(
      [&] { return (o.should_stop && o.should_stop()) || (config_.stopping && config_.stopping()); }, &rc);
  curl_slist_free_all(list);
  curl_slist_free_all(resolve);
  if (!finished) throw Interrupted(fmt::format("{} {}: abandoned in flight", method, url));
  if (rc != CURLE_OK) {
    std::string what = curl_easy_strerror(rc);
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM)
      throw EngineError(Kind::Tls, 0,
                        fmt::format("TLS: the engine's certificate at {} did not verify against the engine CA ({}); "
                                    "check ca_file / ca_fingerprint in the environment",
                                    origin(), what));
    if (rc == CURLE_OPERATION_TIMEDOUT)
      throw EngineError(Kind::Timeout, 0, fmt::format("{} {}: no answer in time ({})", method, url, what));
    if (rc == CURLE_GOT_NOTHING || rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR)
      throw EngineError(Kind::Transport, 0, fmt::format("{} {}: the connection ended with no answer ({})", method, url, what));
    throw EngineError(Kind::Transport, 0, fmt::format("{} {}: {}", method, url, what));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

void EngineClient::ensure_trust(const CallOptions& o) {
  if (ca_pem_.empty()) {
    // One client establishes the run's anchor; the others wait and take it.
    std::lock_guard<std::mutex> once(trust_->establish_);
    if (!trust_->ready()) establish_trust(o);
    std::lock_guard<std::mutex> lock(trust_->mutex_);
    ca_pem_ = trust_->pem_;
    ca_digests_ = trust_->der_digests_;
  }
}

void EngineClient::establish_trust(const CallOptions& o) {
  auto accept = [&](const std::string& pem, const std::string& fp, const std::string& source) {
    std::lock_guard<std::mutex> lock(trust_->mutex_);
    trust_->pem_ = pem;
    trust_->fingerprint_ = fp;
    trust_->source_ = source;
    trust_->der_digests_ = pem_digests(pem);
    trust_->ready_ = true;
  };
  if (!config_.ca_file.empty()) {
    std::ifstream in(config_.ca_file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::string pem = in ? text.str() : "";
    std::string fp = certificate_fingerprint(pem);
    if (fp.empty())
      throw EngineError(Kind::Tls, 0,
                        fmt::format("cannot read a CA certificate (PEM) from ca_file {}; check ca_file in the environment",
                                    config_.ca_file));
    accept(pem, fp, "ca_file");
    return;
  }
  std::string recorded = trust_->recorded_fingerprint();
  const std::string& pin = !config_.ca_fingerprint.empty() ? config_.ca_fingerprint : recorded;
  if (pin.empty() && !config_.trust_on_first_use)
    throw EngineError(Kind::Tls, 0,
                      "no way to verify the engine: set ca_file, or ca_fingerprint, or trust_on_first_use: true");
  std::string url = origin() + "/ovirt-engine/services/pki-resource?resource=ca-certificate&format=X509-PEM-CA";
  Response r = perform(o, "GET", url, "", {}, false);
  // Exactly one certificate: the one whose fingerprint is checked is the
  // only one trusted (a second one in the answer would be trusted unchecked).
  size_t certs = 0;
  for (size_t at = r.body.find("-----BEGIN CERTIFICATE-----"); at != std::string::npos;
       at = r.body.find("-----BEGIN CERTIFICATE-----", at + 1))
    ++certs;
  if (r.status == 200 && certs != 1)
    throw EngineError(Kind::Tls, 0, fmt::format("the engine's CA answer at {} holds {} certificates, not one: refusing it", url, certs));
  std::string fp = r.status == 200 ? certificate_fingerprint(r.body) : "";
  if (fp.empty())
    throw EngineError(Kind::Tls, static_cast<int>(r.status), "the engine did not give a readable CA at " + url);
  if (!config_.ca_fingerprint.empty() && !same_fingerprint(fp, config_.ca_fingerprint))
    throw EngineError(Kind::Tls, 0,
                      fmt::format("the engine's CA fingerprint is {}, not the pinned {}: refusing to talk to it "
                                  "(a different engine, or someone in between)",
                                  fp, config_.ca_fingerprint));
  if (config_.ca_fingerprint.empty() && !recorded.empty() && !same_fingerprint(fp, recorded))
    throw EngineError(Kind::Tls, 0,
                      fmt::format("the engine's CA fingerprint is {}, not the {} this run trusted on first use "
                                  "(recorded in its journal): refusing to talk to it (a different engine, or someone "
                                  "in between). If the engine's CA really changed, pin the new one with "
                                  "ca_fingerprint: in the environment, or start a new run",
                                  fp, recorded));
  if (pin.empty()) {
    std::function<void(const std::string&)> listener;
    {
      std::lock_guard<std::mutex> lock(trust_->mutex_);
      listener = trust_->on_first_use_;
    }
    if (listener) listener(fp);  // recorded before anything is sent under this CA
    else if (o.progress)
      o.progress(fmt::format("trusting the engine CA on first use: {}; pin it with `ca_fingerprint: {}` in the "
                             "environment",
                             fp, fp));
  }
  accept(r.body, fp, !config_.ca_fingerprint.empty() ? "fingerprint" : !recorded.empty() ? "recorded" : "first_use");
}

void EngineClient::login(const CallOptions& o) {
  // The password goes in the form body, never in a URL that could be logged.
  std::string form = "grant_type=password&scope=ovirt-app-api&username=" + url_encode(config_.user) +
                     "&password=" + url_encode(config_.password);
  Response r = perform(o, "POST", origin() + "/ovirt-engine/sso/oauth/token", form,
                       {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"}, true);
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (r.status == 200 && j.is_object() && j.contains("access_token")) {
    token_ = j["access_token"].get<std::string>();
    return;
  }
  // Two error shapes: {error_code, error} for ovirt-app-api, {error, error_description} otherwise.
  std::string why = !j.is_object() ? "an unreadable answer"
                    : j.contains("error_description") ? j.value("error", "") + ": " + j.value("error_description", "")
                                                      : j.value("error", "") + (j.contains("error_code") ? " (" + j.value("error_code", "") + ")" : "");
  throw EngineError(Kind::Auth, static_cast<int>(r.status),
                    fmt::format("the engine refused to log in {}: {} (HTTP {})", config_.user, why, r.status));
}

void EngineClient::logout() {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  // After a signal nothing more goes to the engine: the token expires by
  // itself, and an engine slow enough to be interrupted would hold the
  // exit for the logout's whole timeout.
  if (token_.empty() || (config_.stopping && config_.stopping())) return;
  try {
    CallOptions none;
    perform(none, "POST", origin() + "/ovirt-engine/services/sso-logout",
            "scope=ovirt-app-api&token=" + url_encode(token_),
            {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"}, true);
  } catch (const std::exception&) {
    // Logging out is a courtesy; the token expires by itself.
  }
  token_.clear();
}

Response EngineClient::send_once(const CallOptions& o, const Request& r, bool authenticated) {
  std::vector<std::string> headers = {"Version: 4", "Accept: application/xml"};
  if (!r.body.empty()) headers.push_back("Content-Type: application/xml");
  if (!o.correlation_id.empty()) headers.push_back("Correlation-Id: " + o.correlation_id.substr(0, 36));
  if (authenticated && !config_.basic_auth) headers.push_back("Authorization: Bearer " + token_);
  return perform(o, r.method, origin() + r.path, r.body, headers, true, authenticated && config_.basic_auth);
}

Response EngineClient::send(const CallOptions& o, const Request& r) {
  Operation op(Operation::Kind::Http, r.writes(), "engine", r.method + " " + r.path);
  if (!r.body.empty()) op.detail.push_back(r.body);
  op.expects = r.expects;
  Response resp;
  if (perform_operation(o.runner, op, [&] { resp = send_now(o, r); })) return resp;
  if (!op.writes) throw RehearsalUnknown(op.line);
  return {200, r.rehearsal_reply.empty() ? "<action><status>complete</status></action>" : r.rehearsal_reply};
}

Response EngineClient::send_now(const CallOptions& o, const Request& r) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  ensure_trust(o);
  bool needs_auth = r.path.rfind(kApiPrefix, 0) == 0;
  if (needs_auth && !config_.basic_auth && token_.empty()) login(o);
  bool relogged = false;
  // Reads are safe to repeat after a transport error or a 5xx; actions are
  // not. A wait's reads meeting a transient error go on until its deadline.
  const int attempts = r.writes() ? 1 : std::max(1, config_.read_attempts);
  const bool in_wait = !r.writes() && o.retry_reads_until != Clock::time_point{};
  // The cap only matters for a long series: a wait's, or a configuration
  // with many read attempts.
  const Backoff backoff{config_.read_backoff, in_wait ? config_.poll_max : std::chrono::minutes(1)};
  auto back_off = [&](int attempt, bool transient, const std::string& why) {
    if (r.writes()) return false;
    std::chrono::milliseconds wait = backoff.next(attempt);
    if (in_wait && transient ? Clock::now() + wait >= o.retry_reads_until : attempt >= attempts) return false;
    if (o.progress) o.progress(fmt::format("{} {}: {}; retrying in {} ms", r.method, r.path, why, wait.count()));
    if (!wait_unless(wait, [&] { return (o.should_stop && o.should_stop()) || (config_.stopping && config_.stopping()); }))
      check_stop(o);
    return true;
  };
  for (int attempt = 1;; ++attempt) {
    Response resp;
    try {
      resp = send_once(o, r, needs_auth);
    } catch (const EngineError& e) {
      bool transient = e.kind() == Kind::Transport || e.kind() == Kind::Timeout;
      if (!transient || !back_off(attempt, true, e.what())) throw;
      continue;
    }
    if (resp.status == 401 && needs_auth && !config_.basic_auth && !relogged) {
      // An expired token: fetch a new one once, as the SDK does.
      relogged = true;
      token_.clear();
      login(o);
      --attempt;
      continue;
    }
    if (resp.status >= 500 &&
        back_off(attempt, resp.status == 502 || resp.status == 503 || resp.status == 504,
                 fmt::format("HTTP {}", resp.status)))
      continue;
    if (resp.status >= 200 && resp.status < 300) return resp;
    Fault f;
    bool has_fault = parse_fault(resp.body, &f);
    std::string what = has_fault ? (f.detail.empty() ? f.reason : f.detail) : "";
    std::string where = r.method + " " + r.path;
    int code = static_cast<int>(resp.status);
    if (code == 404) throw EngineError(Kind::NotFound, code, where + ": not found");
    if (code == 409) throw EngineError(Kind::Conflict, code, where + ": the engine refused: " + what, f.detail);
    if (code == 401 || code == 403)
      throw EngineError(Kind::Auth, code, fmt::format("{}: the engine refused the credentials of {} (HTTP {})", where,
                                                      config_.user, code));
    if (code >= 500)
      throw EngineError(Kind::Server, code, fmt::format("{}: engine error HTTP {}{}", where, code, what.empty() ? "" : ": " + what), f.detail);
    throw EngineError(Kind::BadRequest, code, fmt::format("{}: HTTP {}{}", where, code, what.empty() ? "" : ": " + what), f.detail);
  }
}

ApiInfo EngineClient::api_root(const CallOptions& o) { return parse_api(send(o, engine_api::api_root()).body); }

std::string EngineClient::health(const CallOptions& o) {
  const Operation op(Operation::Kind::Http, false, "engine", "GET " + engine_api::health().path);
  std::string body;
  bool made = perform_operation(o.runner, op, [&] {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    ensure_trust(o);
    body = perform(o, "GET", origin() + engine_api::health().path, "", {}, true).body;
  });
  if (!made) throw RehearsalUnknown(op.line);
  return body;
}

void EngineClient::overlay(const CallOptions& o, std::vector<Host>& hosts) {
  if (!o.runner) return;
  hosts.erase(std::remove_if(hosts.begin(), hosts.end(),
                             [&](const Host& h) { return o.runner->expectation("hosts/" + h.id) != nullptr; }),
              hosts.end());
  for (auto& h : hosts)
    if (const std::string* status = o.runner->expectation("hosts/" + h.id + "/status")) h.status = *status;
}

void EngineClient::overlay(const CallOptions& o, std::vector<Vm>& vms) {
  if (!o.runner) return;
  for (auto& vm : vms) {
    if (const std::string* status = o.runner->expectation("vms/" + vm.id + "/status")) {
      vm.status = *status;
    } else if (const std::string* freed = vm.host_id.empty() ? nullptr : o.runner->expectation("hosts/" + vm.host_id + "/vms")) {
      vm.status = *freed;
      vm.host_id.clear();
    }
  }
}

namespace {

/// The name a search for one name asks for (host_name_search's form); null
/// for any other search. "" (no search) asks for all.
std::optional<std::string> searched_name(const std::string& search) {
  const std::string open = "name=\"";
  if (search.size() < open.size() + 1 || search.compare(0, open.size(), open) != 0 || search.back() != '"')
    return std::nullopt;
  std::string name;
  for (size_t i = open.size(); i + 1 < search.size(); ++i) {
    if (search[i] == '\\' && i + 2 < search.size()) ++i;
    name += search[i];
  }
  return name;
}

template <class T>
std::vector<T> named(const std::vector<T>& all, const std::string& search) {
  if (search.empty()) return all;
  std::vector<T> out;
  auto name = searched_name(search);
  for (const auto& x : all)
    if (name && same_engine_name(x.name, *name)) out.push_back(x);
  return out;
}

}  // namespace

void EngineClient::answer_predicted(const CallOptions& o, const Request& r, const std::string& basis,
                                    const std::function<void()>& answer) {
  Operation op(Operation::Kind::Http, false, "engine", r.method + " " + r.path);
  op.predicted_from = basis;
  if (!perform_operation(o.runner, op, answer)) throw RehearsalUnknown(op.line);
}

std::vector<Host> EngineClient::list_hosts(const CallOptions& o, const std::string& search, bool all_content) {
  Request r = engine_api::list_hosts(search, all_content);
  std::vector<Host> hosts;
  auto restored = restored_engine(o.runner);
  if (restored && (search.empty() || searched_name(search)))
    answer_predicted(o, r, restored->basis, [&] { hosts = named(restored->hosts, search); });
  else
    hosts = parse_hosts(send(o, r).body);
  overlay(o, hosts);
  return hosts;
}

Host EngineClient::get_host(const CallOptions& o, const std::string& id, bool all_content) {
  Request r = engine_api::get_host(id, all_content);
  std::vector<Host> one;
  if (auto restored = restored_engine(o.runner)) {
    answer_predicted(o, r, restored->basis, [&] {
      for (const auto& h : restored->hosts)
        if (h.id == id) one.push_back(h);
    });
  } else {
    one.push_back(parse_host(send(o, r).body));
  }
  overlay(o, one);
  if (one.empty()) throw EngineError(Kind::NotFound, 404, r.method + " " + r.path + ": not found");
  return one.front();
}

std::optional<Host> EngineClient::find_host(const CallOptions& o, const std::string& name) {
  for (auto& h : list_hosts(o, host_name_search(name), true))
    if (h.name == name) return h;
  return std::nullopt;
}

void EngineClient::deactivate(const CallOptions& o, const std::string& id, const std::string& reason) {
  send(o, deactivate_host(id, reason));
}
void EngineClient::activate(const CallOptions& o, const std::string& id) { send(o, activate_host(id)); }
void EngineClient::fence_manual(const CallOptions& o, const std::string& id) { send(o, fence_host_manual(id)); }
void EngineClient::install(const CallOptions& o, const std::string& id, const InstallOptions& opts) {
  send(o, install_host(id, opts));
}
Host EngineClient::add(const CallOptions& o, const AddHostOptions& opts) { return parse_host(send(o, add_host(opts)).body); }
void EngineClient::remove(const CallOptions& o, const std::string& id, bool force) { send(o, remove_host(id, force)); }

Poller::Outcome EngineClient::await_host(const CallOptions& polls, const std::string& id, const std::string& what,
                                         std::chrono::milliseconds timeout, const std::function<bool(const Host*)>& look) {
  if (polls.runner && polls.runner->rehearsal()) {
    Poller poller(polls.runner, {config_.poll_initial, config_.poll_max}, polls.should_stop);
    return poller.wait("engine", what, timeout, [&] {
      std::optional<Host> h;
      try {
        h = get_host(polls, id, true);
      } catch (const EngineError& e) {
        if (e.kind() != Kind::NotFound) throw;
      }
      return look(h ? &*h : nullptr);
    });
  }
  return watcher().wait(polls, id, timeout, look);
}

Poller::Outcome EngineClient::await_events(const CallOptions& o, const std::string& what,
                                           std::chrono::milliseconds timeout, const std::function<bool()>& look) {
  if (o.runner && o.runner->rehearsal()) {
    Poller poller(o.runner, {config_.poll_initial, config_.poll_max}, o.should_stop);
    return poller.wait("engine", what, timeout, look);
  }
  return watcher().wait_for(o, timeout, look);
}

Host EngineClient::wait_for_status(const CallOptions& o, const std::string& id, const std::vector<std::string>& targets,
                                   const std::vector<std::string>& fail_on, std::chrono::milliseconds timeout) {
  auto start = Clock::now();
  std::string last;
  Host h;
  h.id = id;
  CallOptions polls = o;
  polls.retry_reads_until = start + timeout;
  auto reached = [&](const Host* seen) {
    if (!seen) throw EngineError(Kind::NotFound, 404, fmt::format("host {} is not in the engine", h.name.empty() ? id : h.name));
    h = *seen;
    if (std::find(targets.begin(), targets.end(), h.status) != targets.end()) return true;
    auto waited = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start).count();
    if (std::find(fail_on.begin(), fail_on.end(), h.status) != fail_on.end()) {
      // Say why, in the engine's words: the host's latest warnings.
      std::vector<std::string> why;
      for (auto& e : latest_events(o, 50))
        if (e.host_id == id && why.size() < 3 && (e.severity == "warning" || e.severity == "error" || e.severity == "alert"))
          why.push_back(e.description);
      throw EngineError(Kind::Conflict, 0,
                        fmt::format("host {} went {}{} while waiting for {}{}", h.name, h.status,
                                    h.status_detail.empty() ? "" : " (" + h.status_detail + ")", join(targets),
                                    why.empty() ? "" : "; engine events: " + join(why)));
    }
    if (h.status != last && o.progress)
      o.progress(fmt::format("host {} is {}, waiting for {} ({}s so far)", h.name, h.status, join(targets), waited));
    last = h.status;
    return false;
  };
  switch (await_host(polls, id, fmt::format("host {} reaches status {} (fail on {})", id, join(targets), join(fail_on)),
                     timeout, reached)) {
    case Poller::Outcome::Reached: return h;
    case Poller::Outcome::Assumed:
      h.status = targets.empty() ? h.status : targets.front();
      return h;
    case Poller::Outcome::Stopped: throw Interrupted(fmt::format("stopped while waiting for host {} to be {}", id, join(targets)));
    case Poller::Outcome::TimedOut: break;
  }
  throw EngineError(Kind::Timeout, 0,
                    fmt::format("host {} is still {} after {}s waiting for {}", h.name, h.status,
                                std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start).count(),
                                join(targets)));
}

void EngineClient::wait_for_removal(const CallOptions& o, const std::string& id, std::chrono::milliseconds timeout) {
  CallOptions polls = o;
  polls.retry_reads_until = Clock::now() + timeout;
  auto gone = [](const Host* seen) { return seen == nullptr; };
  switch (await_host(polls, id, "host " + id + " is gone (GET answers 404)", timeout, gone)) {
    case Poller::Outcome::Reached:
    case Poller::Outcome::Assumed: return;
    case Poller::Outcome::Stopped: throw Interrupted(fmt::format("stopped while waiting for host {} to go", id));
    case Poller::Outcome::TimedOut: break;
  }
  throw EngineError(Kind::Timeout, 0, fmt::format("host {} is still listed after its removal", id));
}

std::vector<Vm> EngineClient::list_vms(const CallOptions& o, const std::string& search) {
  Request r = engine_api::list_vms(search);
  std::vector<Vm> vms;
  auto restored = restored_engine(o.runner);
  if (restored && restored->knows_vms && (search.empty() || searched_name(search)))
    answer_predicted(o, r, restored->basis, [&] { vms = named(restored->vms, search); });
  else
    vms = parse_vms(send(o, r).body);
  overlay(o, vms);
  return vms;
}

std::optional<Vm> EngineClient::hosted_engine_vm(const CallOptions& o) {
  for (auto& vm : list_vms(o))
    if (vm.origin == "managed_hosted_engine") return vm;
  return std::nullopt;
}

void EngineClient::start_vm(const CallOptions& o, const std::string& id) { send(o, engine_api::start_vm(id)); }

void EngineClient::set_global_maintenance(const CallOptions& o, bool enabled) {
  auto vm = hosted_engine_vm(o);
  if (!vm) throw EngineError(Kind::NotFound, 404, "no hosted-engine VM (origin managed_hosted_engine) in the engine");
  send(o, global_maintenance(vm->id, enabled));
}

std::vector<DataCenter> EngineClient::list_datacenters(const CallOptions& o) {
  return parse_datacenters(send(o, engine_api::list_datacenters()).body);
}

std::string EngineClient::job_status(const CallOptions& o, const std::string& id) {
  return parse_job_status(send(o, get_job(id)).body);
}

std::vector<Event> EngineClient::events_since(const CallOptions& o, long long after, const std::string& search) {
  return parse_events(send(o, list_events(after, search)).body);
}

std::vector<Event> EngineClient::latest_events(const CallOptions& o, int max) {
  return parse_events(send(o, newest_events(max)).body);
}

EngineWatcher& EngineClient::watcher() {
  std::call_once(watcher_once_, [this] { watcher_ = std::make_unique<EngineWatcher>(*this, config_.watch); });
  return *watcher_;
}

}  // namespace she::engine_api
