#include "orchestrator/run_connections.h"

#include <algorithm>
#include <atomic>
#include <fmt/format.h>
#include <functional>
#include <thread>

#include "orchestrator/stop_signals.h"

namespace she {

namespace {

std::string endpoint_key(const SshEndpoint& ep) {
  return fmt::format("{}@{}:{}#{}#{}", ep.user, ep.address, ep.port, ep.known_hosts, ep.accept_new_host_key);
}

/// Where a tunnel's warm session is kept: apart from the steps' one.
std::string tunnel_key(const SshEndpoint& ep) { return "tunnel " + endpoint_key(ep); }

}  // namespace

RunConnections::RunConnections(const Environment& env, const SecretStore& secrets,
                               std::function<void(const std::string&)> say)
    : env_(env), secrets_(secrets), say_(std::move(say)) {
  trust_->on_first_use([this](const std::string& fp) {
    say_(fmt::format("trusting the engine CA on first use: {}; to pin it, set `ca_fingerprint: {}` under engine "
                     "in {}",
                     fp, fp, env_.file));
    if (on_first_use_) on_first_use_(fp);
  });
}

void RunConnections::set_recorded_ca_fingerprint(const std::string& fingerprint) {
  trust_->set_recorded_fingerprint(fingerprint);
}

void RunConnections::on_ca_trusted_first_use(std::function<void(const std::string&)> callback) {
  on_first_use_ = std::move(callback);
}

RunConnections::~RunConnections() {
  // A session still opening (a host that does not answer) gives up at its
  // next look; none outlives the run.
  closing_ = true;
  for (auto& [key, w] : warm_)
    if (w->opening.joinable()) w->opening.join();
  // Each connection says goodbye (an SSH disconnect, the engine's logout,
  // through its tunnel when it has one) side by side with the others, on
  // a bounded number of threads: the run's end waits for the slowest, not
  // for their sum (hundreds of hosts: for their sum over 16).
  std::vector<std::function<void()>> goodbyes;
  for (auto& [key, link] : engines_)
    goodbyes.emplace_back([&l = link] {
      l.client.reset();
      l.tunnel.reset();
    });
  for (auto& [key, session] : ssh_) goodbyes.emplace_back([&s = session] { s.reset(); });
  for (auto& [key, w] : warm_) goodbyes.emplace_back([&x = w] { x.reset(); });
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next++) < goodbyes.size();) goodbyes[i]();
  };
  std::vector<std::thread> threads;
  for (size_t t = 1; t < std::min<size_t>(goodbyes.size(), 16); ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
}

void RunConnections::prewarm(const std::vector<SshEndpoint>& hosts, bool for_tunnel) {
  if (dry_run_) return;
  auto key_of = [for_tunnel](const SshEndpoint& ep) { return for_tunnel ? tunnel_key(ep) : endpoint_key(ep); };
  // Each known_hosts file read once, for every host it vouches for that is
  // not warm already (a new run warms its hosts as it opens, the walk again).
  std::map<std::string, std::vector<const SshEndpoint*>> by_file;
  {
    std::lock_guard<std::mutex> lock(ssh_mutex_);
    for (const SshEndpoint& ep : hosts)
      if (!warm_.count(key_of(ep)) && ep.key_passphrase.empty() && ep.password.empty() && !ep.key.empty() &&
          !ep.known_hosts.empty())
        by_file[ep.known_hosts].push_back(&ep);
  }
  std::vector<const SshEndpoint*> known;
  for (const auto& [path, eps] : by_file) {
    std::vector<std::pair<std::string, int>> addresses;
    for (const SshEndpoint* ep : eps) addresses.emplace_back(ep->address, ep->port);
    auto reading = SshSession::read_known_hosts_file(path, addresses);
    if (!reading.error.empty()) continue;
    for (size_t i = 0; i < eps.size(); ++i)
      if (!reading.methods[i].empty()) known.push_back(eps[i]);
  }
  std::lock_guard<std::mutex> lock(ssh_mutex_);
  for (const SshEndpoint* known_ep : known) {
    const SshEndpoint& ep = *known_ep;
    const std::string key = key_of(ep);
    if (warm_.count(key)) continue;
    auto w = std::make_unique<Warm>();
    try {
      w->session = std::make_unique<SshSession>(ssh_target(ep));
    } catch (const std::exception&) {
      continue;  // the step says why, with its own context
    }
    Warm* raw = w.get();
    w->opening = std::thread([this, raw] {
      try {
        raw->session->open([this] { return closing_.load(); });
        raw->open = true;
      } catch (...) {
        // Any failure is the step's to meet and report on its own attempt.
      }
    });
    warm_[key] = std::move(w);
  }
}

void RunConnections::hosts_named(const Plan& plan, const Step& step, const Value& roots, std::set<std::string>* seen,
                                  std::vector<SshEndpoint>* out, bool tunnels) {
  if (!step.type) return;
  for (const ParamSchema& p : step.type->params()) {
    if (p.type != ParamType::SshTarget && p.type != ParamType::FileEndpoint) continue;
    if (tunnels && p.name != "via") continue;
    const YAML::Node* given = step.param(p.name);
    try {
      Value v = given ? resolve_node(*given, roots) : p.default_value;
      if (contains_deferred(v)) continue;
      const bool item = v.is_object() && v.contains("name") && v["name"].is_string();
      if (!v.is_string() && !item) continue;
      const std::string name = item ? v["name"].get<std::string>() : v.get<std::string>();
      if (name.empty() || name == "local" || !seen->insert(name).second) continue;
      out->push_back(StepContext(plan.env, "", Value{{"host", v}}).ssh("host"));
    } catch (const std::exception&) {
      // Not known yet, or not a host the run can reach as named: its step
      // finds out, and says so.
    }
  }
}

void RunConnections::provide(RunServices& services) {
  services.engine = [this](const SshEndpoint* via) -> engine_api::EngineClient& { return engine(via); };
  services.ssh = [this](const SshEndpoint& ep, int lane) -> SshSession& { return ssh(ep, lane); };
}

Value RunConnections::live_hosts(const Foreach& query, const Value& roots, std::function<bool()> should_stop) {
  std::vector<std::string> exclude;
  if (query.exclude) {
    Value x = resolve_node(query.exclude, roots);
    if (!x.is_array() || contains_deferred(x))
      throw StepError("fatal", "foreach hosts exclude did not give a list: " + to_text(x));
    for (auto& name : x) exclude.push_back(to_text(name));
  }
  engine_api::CallOptions call;
  call.should_stop = std::move(should_stop);
  Value list = Value::array();
  for (auto& h : engine_api::select_hosts(engine(nullptr).list_hosts(call, "", true), query.statuses,
                                          query.hosted_engine, exclude))
    list.push_back(h.to_value());
  return list;
}

SshSession& RunConnections::ssh(const SshEndpoint& ep, int lane) {
  const SessionKey key{endpoint_key(ep), lane, std::this_thread::get_id()};
  {
    std::lock_guard<std::mutex> lock(ssh_mutex_);
    auto it = ssh_.find(key);
    if (it != ssh_.end()) return *it->second;
    if (lane != 0 || !warm_.count(endpoint_key(ep))) return *(ssh_[key] = std::make_unique<SshSession>(ssh_target(ep)));
  }
  std::unique_ptr<SshSession> warm = take_warm(endpoint_key(ep));
  std::lock_guard<std::mutex> lock(ssh_mutex_);
  return *(ssh_[key] = warm ? std::move(warm) : std::make_unique<SshSession>(ssh_target(ep)));
}

void RunConnections::hand_back() {
  const std::thread::id me = std::this_thread::get_id();
  std::lock_guard<std::mutex> lock(ssh_mutex_);
  for (auto it = ssh_.begin(); it != ssh_.end();) {
    const auto& [endpoint, lane, thread] = it->first;
    if (thread != me || lane != 0 || warm_.count(endpoint) || !it->second->connected()) {
      ++it;
      continue;
    }
    auto w = std::make_unique<Warm>();
    w->session = std::move(it->second);
    w->open = true;
    warm_[endpoint] = std::move(w);
    it = ssh_.erase(it);
  }
}

std::unique_ptr<SshSession> RunConnections::take_warm(const std::string& key) {
  std::unique_ptr<Warm> warm;
  {
    std::lock_guard<std::mutex> lock(ssh_mutex_);
    auto w = warm_.find(key);
    if (w == warm_.end()) return nullptr;
    warm = std::move(w->second);
    warm_.erase(w);
  }
  // Waits for a handshake under way rather than starting a second one; the
  // lock is not held meanwhile, so other threads' sessions are not held up.
  if (warm->opening.joinable()) warm->opening.join();
  return warm->open ? std::move(warm->session) : nullptr;
}

SshTarget RunConnections::ssh_target(const SshEndpoint& ep) const {
  if (ep.known_hosts.empty())
    throw StepError("fatal", fmt::format("{}: no known_hosts file for SSH to {}, so its host key cannot be checked: "
                                         "set ssh.known_hosts for it ({}) or in the environment's ssh defaults (with "
                                         "accept_new_host_key: true a host not yet in the file is added to it)",
                                         ep.name, ep.address, ep.settings_at.empty() ? env_.file : ep.settings_at));
  SshTarget t;
  t.name = ep.name;
  t.address = ep.address;
  t.port = ep.port;
  t.user = ep.user;
  t.key_file = ep.key;
  t.known_hosts = ep.known_hosts;
  t.accept_new_host_key = ep.accept_new_host_key;
  if (dry_run_) {
    t.connect_timeout = std::chrono::milliseconds(3000);
    t.accept_new_host_key = false;
  }
  for (auto [ref, value] : {std::pair{&ep.key_passphrase, &t.key_passphrase}, std::pair{&ep.password, &t.password}}) {
    if (ref->empty()) continue;
    try {
      *value = secrets_.value(*ref);
    } catch (const SecretUnavailable& e) {
      // The store's message names the reference, never a value.
      throw StepError("fatal", fmt::format("SSH to {}: {}", ep.name, e.what()));
    }
  }
  return t;
}

// Over a tunnel TLS still verifies the engine's own name: curl connects to
// the tunnel's local end but checks the certificate against the URL.
engine_api::EngineClient& RunConnections::engine(const SshEndpoint* via) {
  std::lock_guard<std::mutex> lock(engine_mutex_);
  EngineLink& link = engines_[via ? endpoint_key(*via) : ""];
  if (link.client) return *link.client;
  const EngineSpec& e = env_.engine;
  engine_api::ClientConfig c;
  c.api_url = e.api_url;
  c.user = e.user;
  try {
    c.password = secrets_.value(e.password);
  } catch (const SecretUnavailable& err) {
    throw StepError("fatal", fmt::format("the engine password: {} (set it, or fix the reference in {})", err.what(),
                                         env_.file));
  }
  c.ca_file = env_.path(e.ca_file);
  c.ca_fingerprint = e.ca_fingerprint;
  c.trust_on_first_use = e.trust_on_first_use;
  c.trust = trust_;  // one anchor for the run: trust on first use happens at most once
  c.poll_initial = e.poll_interval;
  c.stopping = [] { return stop_requested(); };
  if (dry_run_) {
    c.read_attempts = 1;
    c.connect_timeout = std::chrono::milliseconds(3000);
    c.request_timeout = std::chrono::milliseconds(15000);
  }
  if (via) {
    engine_api::UrlEndpoint target = engine_api::url_endpoint(e.api_url);
    try {
      link.tunnel = std::make_unique<SshTunnel>(
          ssh_target(*via), target.host, target.port,
          [this, name = via->name](const std::string& why) { say_(fmt::format("tunnel through {}: {}", name, why)); },
          take_warm(tunnel_key(*via)));
    } catch (const SshError& err) {
      throw StepError(err.error_class(), err.what());
    }
    c.open_socket = [tunnel = link.tunnel.get()](sockaddr_in* to) { return tunnel->open(to); };
    say_(fmt::format("reaching the engine at {}:{} through an SSH tunnel from {}", target.host, target.port,
                     via->str()));
  }
  link.client = std::make_unique<engine_api::EngineClient>(c);
  return *link.client;
}

}  // namespace she
