#include "lab/engine_server.h"
#include "lab/ascii_case.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <httplib.h>
#include <openssl/evp.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>

#include "hosts/backup_archive.h"
#include "lab/api_handlers.h"
#include "lab/https_server.h"
#include "lab/iso_time.h"
#include "lab/lab_pki.h"

namespace she::lab {

namespace {

constexpr const char* kApiRoot = "/ovirt-engine/api";

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The servlet container's error page (EnforceAuthFilter calls sendError):
// HTML, never a <fault>. With the SSO's refusal (SSO_AUTHENTICATION_ERR_MSG,
// set by SsoRestApiAuthFilter for refused Basic credentials) Undertow puts
// that message, HTML-escaped, in place of the reason.
HttpReply unauthorized(const std::string& message) {
  std::string escaped;
  for (char c : message.empty() ? std::string("Unauthorized") : message) {
    switch (c) {
      case '&': escaped += "&amp;"; break;
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '"': escaped += "&#34;"; break;
      case '\'': escaped += "&#39;"; break;
      default: escaped += c;
    }
  }
  HttpReply r{401, "text/html;charset=UTF-8", "<html><head><title>Error</title></head><body>" + escaped + "</body></html>",
              {}};
  r.headers.push_back({"WWW-Authenticate", "Basic realm=\"RESTAPI\""});
  return r;
}

HttpReply html_error(int status, const std::string& title) {
  return {status, "text/html;charset=UTF-8",
          "<html><head><title>Error</title></head><body>" + title + "</body></html>", {}};
}

// What Apache in front of the engine answers while the engine is unavailable.
HttpReply service_unavailable() {
  return {503, "text/html; charset=iso-8859-1",
          "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>503 Service Unavailable</title>\n"
          "</head><body>\n<h1>Service Unavailable</h1>\n<p>The server is temporarily unable to service your\nrequest "
          "due to maintenance downtime or capacity\nproblems. Please try again later.</p>\n</body></html>\n",
          {}};
}

std::string base64_decode(const std::string& in) {
  std::string out(in.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return {};
  std::size_t len = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts the bytes the padding stands for.
  if (!in.empty() && in.back() == '=') --len;
  if (in.size() > 1 && in[in.size() - 2] == '=') --len;
  out.resize(std::min(len, out.size()));
  return out;
}

std::string param(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : std::string();
}

nlohmann::json faults_json(const Faults& f) {
  return {{"http_503", {{"count", f.http_503_count}, {"methods", f.http_503_methods}}},
          {"slow_ms", f.slow_ms},
          {"token_ttl_s", f.token_ttl_s},
          {"restore_leaves_stale_host", f.restore_leaves_stale_host}};
}

bool deploy_host_of(const nlohmann::json& j, DeployHost* out) {
  if (!j.contains("host") || !j["host"].is_object()) return false;
  const auto& h = j["host"];
  for (const char* k : {"name", "address", "hardware_id"})
    if (h.contains(k) && !h[k].is_string()) return false;
  out->name = h.value("name", "");
  out->address = h.value("address", "");
  out->hardware_id = h.value("hardware_id", "");
  return !out->name.empty() && !out->address.empty();
}

HttpReply json_reply(int status, const nlohmann::json& j) { return HttpReply::json(status, j.dump(2) + "\n"); }

HttpReply json_error(int status, const std::string& message) { return json_reply(status, {{"error", message}}); }

/// Runs `server`'s accept loop on a thread of its own and returns once it
/// accepts (stop() only works on a running server).
std::thread listen_in_background(httplib::Server* server) {
  std::thread t([server] {
    // A client that hangs up mid-answer must not kill the process with
    // SIGPIPE: block it here, and the library's worker threads, started
    // from this one, inherit the mask (writes then fail with EPIPE).
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    server->listen_after_bind();
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!server->is_running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return t;
}

}  // namespace

LabEngineServer::LabEngineServer(World& world, LabPkiFiles pki) : world_(world), pki_(std::move(pki)) {
  ca_pem_ = read_text(pki_.ca_file);
  cert_pem_ = read_text(pki_.cert_file);
}

LabEngineServer::~LabEngineServer() { stop(); }

int LabEngineServer::start(const std::string& address, int port) {
  if (server_) throw std::runtime_error("the lab engine is already started");
  {
    std::lock_guard<std::mutex> lock(delay_mutex_);
    stopping_ = false;
  }
  auto server = std::make_unique<HttpsServer>(pki_.cert_file.c_str(), pki_.key_file.c_str());
  if (!server->is_valid())
    throw std::runtime_error("the lab engine cannot use its certificate " + pki_.cert_file.string() + " and key " +
                             pki_.key_file.string());
  // Clients poll: keep their connections (and TLS sessions) for a while.
  server->set_keep_alive_max_count(1000);
  auto handler = [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); };
  // One handler for everything: routing, auth, faults and logging are the
  // lab's, not the library's.
  server->Get(".*", handler);
  server->Post(".*", handler);
  server->Put(".*", handler);
  server->Delete(".*", handler);
  server->Patch(".*", handler);
  const int bound = port == 0 ? server->bind_to_any_port(address) : (server->bind_to_port(address, port) ? port : -1);
  if (bound <= 0) throw std::runtime_error(fmt::format("the lab engine cannot listen on {}:{}", address, port));
  server_ = std::move(server);
  port_ = bound;
  thread_ = listen_in_background(server_.get());
  try {
    start_agent_socket();
  } catch (...) {
    stop();
    throw;
  }
  return port_;
}

void LabEngineServer::start_agent_socket() {
  std::string dir = (std::filesystem::temp_directory_path() / "she-lab-XXXXXX").string();
  if (!::mkdtemp(dir.data())) throw std::runtime_error("the lab engine cannot make a directory for its agents' socket in " + dir);
  const std::filesystem::path socket = std::filesystem::path(dir) / "agents.sock";
  agent_socket_ = socket;
  // sockaddr_un's sun_path: 108 bytes with the terminating NUL.
  if (socket.string().size() > 107)
    throw std::runtime_error("the lab agents' socket path " + socket.string() + " is too long (TMPDIR)");
  auto server = std::make_unique<httplib::Server>();
  server->set_address_family(AF_UNIX);
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    if (starts_with(req.path, "/lab/")) return handle(req, res);
    res.status = 404;
  };
  server->Get(".*", handler);
  server->Post(".*", handler);
  if (!server->bind_to_port(socket.string(), 80))
    throw std::runtime_error("the lab engine cannot listen on " + socket.string());
  agent_server_ = std::move(server);
  agent_thread_ = listen_in_background(agent_server_.get());
}

void LabEngineServer::stop_agent_socket() {
  if (agent_server_) {
    agent_server_->stop();
    if (agent_thread_.joinable()) agent_thread_.join();
    agent_server_.reset();
  }
  if (!agent_socket_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(agent_socket_.parent_path(), ec);
    agent_socket_.clear();
  }
}

void LabEngineServer::stop() {
  if (!server_) return;
  {
    // Requests held by slow_ms end now: stopping must not wait them out.
    std::lock_guard<std::mutex> lock(delay_mutex_);
    stopping_ = true;
  }
  delay_cv_.notify_all();
  stop_agent_socket();
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

void LabEngineServer::set_before_handle(BeforeHandle hook) {
  std::lock_guard<std::mutex> lock(hooks_mutex_);
  before_handle_ = std::move(hook);
}

void LabEngineServer::set_after_handle(AfterHandle hook) {
  std::lock_guard<std::mutex> lock(hooks_mutex_);
  after_handle_ = std::move(hook);
}

// A connection that ends with no reply at all: what a client sees when
// nothing answers (the engine VM off, or a request dropped by a test hook).
static void no_reply(httplib::Response& res) {
  res.set_content_provider(
      1, "text/plain", [](size_t, size_t, httplib::DataSink&) { return false; }, nullptr);
}

void LabEngineServer::handle(const httplib::Request& req, httplib::Response& res) {
  // Logged as the time it arrived, not answered: a test asking whether
  // anything reached the engine after an instant must see a request held
  // by slow_ms at that instant, not 20 s later.
  const auto arrived = std::chrono::system_clock::now();
  HttpReply reply;
  const bool engine = !starts_with(req.path, "/lab/");
  BeforeHandle before;
  AfterHandle after;
  if (engine) {
    // Copied, not called under the lock: a hook may block (it kills and
    // waits for a client) while other requests go on.
    std::lock_guard<std::mutex> lock(hooks_mutex_);
    before = before_handle_;
    after = after_handle_;
  }
  if (before && !before(req.method, req.path)) {
    no_reply(res);
    return;
  }
  if (!engine) {
    reply = lab_request(req);
  } else if (!world_.engine().running) {
    // The engine VM is off: the connection ends with no reply at all (a
    // client sees a transport error, as when nothing answers at the FQDN).
    log_request(req, 0, "", arrived);
    no_reply(res);
    if (after) after(req.method, req.path);
    return;
  } else {
    std::string correlation_id = req.get_header_value("Correlation-Id");
    if (correlation_id.empty()) correlation_id = param(req, "correlation_id");
    const Faults faults = world_.faults();
    if (faults.slow_ms > 0) {
      std::unique_lock<std::mutex> lock(delay_mutex_);
      delay_cv_.wait_for(lock, std::chrono::milliseconds(faults.slow_ms), [this] { return stopping_; });
    }
    if (world_.take_http_503(req.method)) {
      reply = service_unavailable();  // before any effect, the clock included
    } else {
      world_.tick();
      reply = engine_request(req, correlation_id);
    }
    if (!correlation_id.empty()) reply.headers.push_back({"Correlation-Id", correlation_id});
    log_request(req, reply.status, correlation_id, arrived);
    if (after) after(req.method, req.path);
  }
  res.status = reply.status;
  for (const auto& [name, value] : reply.headers) res.set_header(name.c_str(), value);
  if (!reply.body.empty()) res.set_content(reply.body, reply.content_type.c_str());
}

void LabEngineServer::log_request(const httplib::Request& req, int status, const std::string& correlation_id,
                                  std::chrono::system_clock::time_point arrived) {
  LoggedRequest entry;
  entry.time = iso_time(arrived);
  entry.method = req.method;
  entry.path = RequestLog::redact(req.target.empty() ? req.path : req.target);
  entry.status = status;
  entry.correlation_id = correlation_id;
  log_.add(std::move(entry));
}

HttpReply LabEngineServer::engine_request(const httplib::Request& req, const std::string& correlation_id) {
  const std::string& path = req.path;
  if (path == "/ovirt-engine/sso/oauth/token") return sso_token(req);
  if (path == "/ovirt-engine/services/sso-logout") return sso_logout(req);
  if (path == "/ovirt-engine/services/health") return health();
  if (path == "/ovirt-engine/services/pki-resource") return pki_resource(req);
  if (path == kApiRoot || starts_with(path, std::string(kApiRoot) + "/")) return api(req, correlation_id);
  return html_error(404, "Not Found");
}

// --- SSO ---

HttpReply LabEngineServer::sso_token(const httplib::Request& req) {
  const std::string grant_type = param(req, "grant_type");
  const std::string scope = param(req, "scope");
  const std::string username = param(req, "username");
  const std::string password = param(req, "password");
  // SsoService.sendJsonDataWithMessage: the REST API scope gets
  // {error_code, error}; other scopes the OAuth form {error, error_description}.
  const bool api_scope = (" " + scope + " ").find(" ovirt-app-api ") != std::string::npos;
  auto error = [&](const std::string& code, const std::string& message) {
    nlohmann::json j = api_scope ? nlohmann::json{{"error_code", code}, {"error", message}}
                                 : nlohmann::json{{"error", code}, {"error_description", message}};
    return HttpReply::json(400, j.dump());
  };
  if (grant_type != "password")
    return error("unsupported_grant_type", "The authorization grant type is not supported by the authorization server.");
  if (scope.empty()) return error("invalid_request", "The request is missing a required parameter: scope.");
  const EngineInfo engine = world_.engine();
  if (username.empty() || password.empty() || username != engine.admin_user || engine.admin_password.empty() ||
      password != engine.admin_password)
    return error("access_denied",
                 fmt::format("Cannot authenticate user '{}': The username or password is incorrect..", username));
  const TokenStore::Issued t = tokens_.issue(username, scope, world_.faults().token_ttl_s);
  nlohmann::json j = {{"access_token", t.token}, {"scope", scope}, {"exp", t.exp}, {"token_type", "bearer"}};
  return HttpReply::json(200, j.dump());
}

HttpReply LabEngineServer::sso_logout(const httplib::Request& req) {
  const std::string token = param(req, "token");
  if (!token.empty()) tokens_.revoke(token);
  return HttpReply::json(200, "{}");
}

std::string LabEngineServer::authenticate(const httplib::Request& req, std::string& refusal) {
  const std::string auth = req.get_header_value("Authorization");
  const auto space = auth.find(' ');
  if (space == std::string::npos) return {};
  const std::string scheme = lower(auth.substr(0, space));
  std::string credentials = auth.substr(space + 1);
  while (!credentials.empty() && credentials.front() == ' ') credentials.erase(credentials.begin());
  if (scheme == "bearer") return tokens_.api_user(credentials).value_or("");
  if (scheme == "basic") {
    // Basic auth is still accepted (deprecated since 4.0).
    const std::string decoded = base64_decode(credentials);
    const auto colon = decoded.find(':');
    if (colon == std::string::npos) return {};
    const EngineInfo engine = world_.engine();
    const std::string user = decoded.substr(0, colon), password = decoded.substr(colon + 1);
    if (user == engine.admin_user && !engine.admin_password.empty() && password == engine.admin_password) return user;
    // What the SSO answered the filter (FiltersHelper.isStatusOk: "error_code: error").
    refusal = fmt::format("access_denied: Cannot authenticate user '{}': The username or password is incorrect..", user);
  }
  return {};
}

void LabEngineServer::note_session(const httplib::Request& req, const std::string& user,
                                   const std::string& correlation_id) {
  const std::size_t key = std::hash<std::string>{}(req.get_header_value("Authorization"));
  std::string session;
  {
    std::lock_guard<std::mutex> lock(sessions_mutex_);
    if (sessions_.count(key)) return;
    // The engine's session ids are opaque; this one says nothing of the token.
    session = fmt::format("{:016x}", (sessions_.size() + 1) * 0x9e3779b97f4a7c15ULL);
    sessions_[key] = session;
  }
  // Events name users by their authz profile: admin@internal-authz.
  world_.log_login(user + "-authz", req.remote_addr, session, correlation_id);
}

// --- services ---

HttpReply LabEngineServer::health() {
  if (world_.engine().health_up) return {200, "text/html", "DB Up!Welcome to Health Status!", {}};
  return {500, "text/html", "DB Down!", {}};
}

HttpReply LabEngineServer::pki_resource(const httplib::Request& req) {
  const std::string resource = param(req, "resource");
  const std::string format = param(req, "format");
  const bool ca = resource == "ca-certificate" || resource == "qemu-ca-certificate";
  if (!ca && resource != "engine-certificate") return html_error(400, "Bad Request");
  const std::string& pem = ca ? ca_pem_ : cert_pem_;
  if (format == "X509-PEM-CA") return {200, "application/x-x509-ca-cert", pem, {}};
  if (format == "X509-PEM") return {200, "application/x-x509-cert", pem, {}};
  if (format == "OPENSSH-PUBKEY") return {200, "text/plain", openssh_public_key(pem, "ovirt-engine") + "\n", {}};
  return html_error(400, "Bad Request");
}

HttpReply LabEngineServer::api(const httplib::Request& req, const std::string& correlation_id) {
  std::string refusal;
  const std::string user = authenticate(req, refusal);
  if (user.empty()) return unauthorized(refusal);
  note_session(req, user, correlation_id);

  ApiCall call;
  call.method = req.method == "HEAD" ? "GET" : req.method;
  call.user = user;
  call.correlation_id = correlation_id;
  call.body = req.body;
  // Location headers name the engine as the client addressed it.
  const std::string host_header = req.get_header_value("Host");
  call.origin = "https://" + (host_header.empty() ? fmt::format("{}:{}", world_.engine().fqdn, port_) : host_header);
  for (const auto& [name, value] : req.params) call.query.emplace(name, value);
  for (const auto& [name, value] : req.headers) call.headers[lower(name)] = value;

  // The version: a /v4 prefix, else the Version header, else 4. Only 4 exists.
  std::string rest = req.path.substr(std::string(kApiRoot).size());
  std::vector<std::string> segments;
  std::size_t i = 0;
  while (i < rest.size()) {
    std::size_t j = rest.find('/', i);
    if (j == std::string::npos) j = rest.size();
    if (j > i) segments.push_back(rest.substr(i, j - i));
    i = j + 1;
  }
  if (!segments.empty() && segments[0].size() >= 2 && segments[0][0] == 'v' &&
      std::all_of(segments[0].begin() + 1, segments[0].end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    if (segments[0] != "v4") return HttpReply::empty(400);
    segments.erase(segments.begin());
  }
  const std::string version = req.get_header_value("Version");
  if (!version.empty() && version != "4") return HttpReply::empty(400);

  // Matrix parameters on the last segment: /hosts/{id};force=true.
  if (!segments.empty()) {
    std::string& last = segments.back();
    std::size_t semi = last.find(';');
    if (semi != std::string::npos) {
      std::string matrix = last.substr(semi + 1);
      last.erase(semi);
      std::size_t k = 0;
      while (k <= matrix.size()) {
        std::size_t end = matrix.find(';', k);
        if (end == std::string::npos) end = matrix.size();
        const std::string pair = matrix.substr(k, end - k);
        const auto eq = pair.find('=');
        if (!pair.empty()) call.matrix[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
        k = end + 1;
      }
    }
  }
  call.segments = std::move(segments);
  return handle_api_call(world_, call);
}

// --- lab controls ---

HttpReply LabEngineServer::lab_request(const httplib::Request& req) {
  const std::string& p = req.path;
  auto body_json = [&](nlohmann::json& out) {
    try {
      out = req.body.empty() ? nlohmann::json::object() : nlohmann::json::parse(req.body);
      return out.is_object();
    } catch (const nlohmann::json::exception&) {
      return false;
    }
  };
  if (req.method == "GET" && p == "/lab/world") return json_reply(200, world_.to_json());
  if (req.method == "GET" && p == "/lab/requests") return json_reply(200, log_.to_json());
  if (req.method == "POST" && p == "/lab/reset-requests") {
    log_.clear();
    return json_reply(200, {{"cleared", true}});
  }
  if (req.method == "POST" && p == "/lab/expire-tokens") return json_reply(200, {{"expired", tokens_.expire_all()}});
  nlohmann::json j;
  if (req.method == "POST" && p == "/lab/faults") {
    if (!body_json(j)) return json_error(400, "the body must be a JSON object");
    Faults f = world_.faults();
    try {
      if (j.contains("http_503")) {
        const auto& b = j.at("http_503");
        f.http_503_count = b.value("count", 0);
        f.http_503_methods = b.value("methods", std::vector<std::string>{});
      }
      if (j.contains("slow_ms")) f.slow_ms = j.at("slow_ms").get<int>();
      if (j.contains("token_ttl_s")) f.token_ttl_s = j.at("token_ttl_s").get<int>();
      if (j.contains("restore_leaves_stale_host"))
        f.restore_leaves_stale_host = j.at("restore_leaves_stale_host").get<bool>();
    } catch (const nlohmann::json::exception& e) {
      return json_error(400, e.what());
    }
    world_.set_faults(f);
    return json_reply(200, faults_json(f));
  }
  if (req.method == "POST" && p == "/lab/host-status") {
    if (!body_json(j) || !j.contains("host") || !j.contains("status") || !j["host"].is_string() ||
        !j["status"].is_string())
      return json_error(400, "give {\"host\": NAME_OR_ID, \"status\": STATUS}");
    auto status = parse_host_status(j["status"].get<std::string>());
    if (!status) return json_error(400, "unknown host status " + j["status"].get<std::string>());
    if (!world_.set_host_status(j["host"].get<std::string>(), *status, j.value("status_detail", std::string())))
      return json_error(404, "no host " + j["host"].get<std::string>());
    return json_reply(200, {{"host", j["host"]}, {"status", j["status"]}});
  }
  if (req.method == "POST" && p == "/lab/engine-health") {
    if (!body_json(j) || !j.contains("health") || (j["health"] != "up" && j["health"] != "down" && j["health"] != "off"))
      return json_error(400, "give {\"health\": \"up\"}, {\"health\": \"down\"} or {\"health\": \"off\"}");
    world_.set_engine_running(j["health"] != "off");
    world_.set_engine_health(j["health"] == "up");
    return json_reply(200, {{"health", j["health"]}});
  }
  if (req.method == "POST" && p == "/lab/time-scale") {
    if (!body_json(j) || !j.contains("time_scale") || !j["time_scale"].is_number() || j["time_scale"].get<double>() < 0)
      return json_error(400, "give {\"time_scale\": N} with N >= 0");
    world_.set_time_scale(j["time_scale"].get<double>());
    return json_reply(200, {{"time_scale", j["time_scale"]}});
  }
  // The lab hosts' agent (lab/agent/): hosted-engine as the HA agents see it.
  if (req.method == "GET" && p == "/lab/he-vm-status")
    return HttpReply::json(200, world_.he_vm_status().dump(2) + "\n");
  if (req.method == "POST" && p == "/lab/he-maintenance") {
    if (!body_json(j) || !j.contains("host") || !j["host"].is_string() || !j.contains("mode") || !j["mode"].is_string())
      return json_error(400, "give {\"host\": NAME, \"mode\": \"global\" | \"local\" | \"none\"}");
    const OpResult r = world_.he_set_maintenance(j["host"].get<std::string>(), j["mode"].get<std::string>());
    if (!r.ok()) return json_error(r.http_status, r.message);
    return json_reply(200, {{"host", j["host"]}, {"mode", j["mode"]}, {"global_maintenance", world_.global_maintenance()}});
  }
  if (req.method == "POST" && p == "/lab/he-clean-metadata") {
    if (!body_json(j) || !j.contains("host_id") || !j["host_id"].is_number_integer())
      return json_error(400, "give {\"host_id\": N, \"force\": BOOL}");
    const OpResult r = world_.he_clean_metadata(j["host_id"].get<int>(), j.value("force", false));
    return json_reply(200, {{"cleaned", r.entity_id == "cleaned"}, {"message", r.message}});
  }
  if (req.method == "POST" && p == "/lab/he-restore") {
    DeployHost host;
    if (!body_json(j) || !j.contains("db") || !j["db"].is_object() || !deploy_host_of(j, &host) ||
        (j.contains("backup_version") && !j["backup_version"].is_string()) ||
        (j.contains("installed_version") && !j["installed_version"].is_string()))
      return json_error(400, "give {\"db\": WORLD_JSON, \"host\": {\"name\": N, \"address\": A, \"hardware_id\": H}, "
                             "\"backup_version\": V, \"installed_version\": V (else the engine's)}");
    // engine-backup --mode=restore's version check, before anything is
    // restored: here, where the engine's version is, in the same request.
    if (j.contains("backup_version")) {
      const std::string installed = j.value("installed_version", world_.engine().version);
      const std::string problem = she::version_pair_problem(j["backup_version"].get<std::string>(), installed);
      if (!problem.empty()) return json_error(412, problem);
    }
    const OpResult r = world_.he_restore(j["db"], host);
    if (!r.ok()) return json_error(r.http_status, r.message);
    nlohmann::json removed = nlohmann::json::array();
    std::size_t i = 0;
    while (i < r.message.size()) {
      std::size_t k = r.message.find(',', i);
      if (k == std::string::npos) k = r.message.size();
      removed.push_back(r.message.substr(i, k - i));
      i = k + 1;
    }
    return json_reply(200, {{"removed", removed}});
  }
  if (req.method == "POST" && p == "/lab/he-add-host") {
    DeployHost host;
    if (!body_json(j) || !deploy_host_of(j, &host))
      return json_error(400, "give {\"host\": {\"name\": N, \"address\": A, \"hardware_id\": H}}");
    OpContext ctx;
    ctx.user = world_.engine().admin_user;
    const OpResult r = world_.he_deploy_add_host(host, ctx);
    if (!r.ok()) return json_error(r.http_status, r.message);
    return json_reply(201, {{"host", host.name}, {"host_id", std::stoi(r.entity_id)}});
  }
  // The legacy (4.0-4.2) restore: engine-setup inside the engine VM, the
  // deploy's add of its host, the engine VM's power.
  if (req.method == "POST" && p == "/lab/he-legacy-engine-setup") {
    if (!body_json(j) || !j.contains("db") || !j["db"].is_object()) return json_error(400, "give {\"db\": WORLD_JSON}");
    const OpResult r = world_.he_legacy_engine_setup(j["db"]);
    if (!r.ok()) return json_error(r.http_status, r.message);
    return json_reply(200, {{"health", "up"}});
  }
  if (req.method == "POST" && p == "/lab/he-legacy-add-host") {
    DeployHost host;
    if (!body_json(j) || !deploy_host_of(j, &host))
      return json_error(400, "give {\"host\": {\"name\": N, \"address\": A, \"hardware_id\": H}}");
    OpContext ctx;
    ctx.user = world_.engine().admin_user;
    const OpResult r = world_.he_legacy_add_host(host, ctx);
    if (!r.ok()) return json_error(r.http_status, r.message);
    return json_reply(201, {{"host", host.name}, {"id", r.entity_id}});
  }
  if (req.method == "POST" && p == "/lab/he-legacy-engine-vm") {
    if (!body_json(j) || !j.contains("power") || (j["power"] != "on" && j["power"] != "off" && j["power"] != "created"))
      return json_error(400, "give {\"power\": \"created\" | \"off\" | \"on\", \"host\": NAME}");
    const OpResult r = world_.he_legacy_engine_vm(j["power"].get<std::string>(), j.value("host", std::string()));
    return json_reply(200, {{"power", j["power"]}, {"host_id", r.entity_id}});
  }
  return json_error(404, "no lab endpoint " + req.method + " " + p);
}

}  // namespace she::lab
