// The connections a run (or a dry run's live reads) makes: one engine
// client, direct or through an SSH tunnel from a host (`via`), and one SSH
// session per host and thread, each made on first use and kept. Secrets
// (engine password, SSH passphrase or password) are read through the run's
// SecretStore, the one resolver, which hands each value to the run's
// redactor; they are read at the last moment and never leave in messages.
// One trust anchor per run: the engine CA accepted first (from ca_file, a
// pinned fingerprint, the fingerprint the run recorded, or trusted on first
// use) is the only CA every engine client of the run trusts.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "engine_api/client.h"
#include "hosts/ssh_session.h"
#include "hosts/ssh_tunnel.h"
#include "workflows/environment.h"
#include "workflows/plan.h"
#include "workflows/secret_store.h"
#include "workflows/step_type.h"

namespace she {

class RunConnections {
 public:
  /// `secrets`: the run's store (Mode::Resolve), kept by reference: it
  /// must outlive these connections. `say`: a line for the operator
  /// (tunnels opened, tunnel errors).
  RunConnections(const Environment& env, const SecretStore& secrets, std::function<void(const std::string&)> say);
  ~RunConnections();

  /// For a dry run: fail fast instead of waiting out retries (one attempt
  /// per read, short connect timeouts: it must not hang on a dead engine),
  /// and never add a host key to known_hosts (it writes nothing).
  void set_dry_run(bool dry_run) { dry_run_ = dry_run; }

  /// The fingerprint of the engine CA this run trusted on first use, from
  /// its journal: a resumed run accepts that CA only (unless the
  /// environment sets ca_file or ca_fingerprint). Call before engine().
  void set_recorded_ca_fingerprint(const std::string& fingerprint);
  /// Called once per run, with the fingerprint, when the engine CA is
  /// trusted on first use (after it is printed, before any credential is
  /// sent under it): the executor journals it. If it throws, the CA is not
  /// trusted and the engine call fails with that exception.
  void on_ca_trusted_first_use(std::function<void(const std::string& fingerprint)> callback);
  /// The run's trust anchor (shared by every engine client it makes).
  const engine_api::TrustAnchor& trust() const { return *trust_; }

  /// The engine client, direct (`via` null) or through a tunnel from `via`.
  /// Throws StepError when it cannot be made.
  engine_api::EngineClient& engine(const SshEndpoint* via);
  /// This thread's session to a host (libssh2 sessions are not shared
  /// between threads); a second `lane` is a second session. The first one
  /// asked for a host takes over its warmed session when there is one.
  SshSession& ssh(const SshEndpoint& ep, int lane);

  /// Leaves this thread's sessions (lane 0) for the next thread that asks
  /// for their host, one a host: the steps of a group run on threads of
  /// their own, and the walk after them goes on with what they opened
  /// instead of opening again.
  void hand_back();

  /// Opens a session to each of `hosts` in the background, so the first
  /// step on a host finds it open: otherwise each host's first command
  /// waits for its handshake (~0.2 s a host in the lab, more over a WAN)
  /// on the run's critical path. Only where nothing can differ from a
  /// step's own connection: a real run, a key file without passphrase or
  /// password (no secret is read off the step's thread), and a host key
  /// already in known_hosts (nothing is written). A host not reached so is
  /// left to the step that needs it, which connects and reports as ever.
  /// `for_tunnel`: for the engine's tunnel from each host (a session of
  /// its own, taken by engine(via), beside the steps' session to the host).
  void prewarm(const std::vector<SshEndpoint>& hosts, bool for_tunnel = false);
  /// Adds to `out` the hosts `step` reaches over SSH as its parameters
  /// name them against `roots`: a host's name, or a host item of a loop.
  /// What is not known yet (a later step's output) is left out, as is a
  /// host already in `seen`.
  /// `tunnels`: instead, the hosts the step reaches the engine through
  /// (its `via`).
  static void hosts_named(const Plan& plan, const Step& step, const Value& roots, std::set<std::string>* seen,
                          std::vector<SshEndpoint>* out, bool tunnels = false);
  /// Points a step's services at these connections.
  void provide(RunServices& services);
  /// The items of a loop over a live host query: the engine's hosts it
  /// selects now. Throws EvalError, engine_api::EngineError or StepError.
  Value live_hosts(const Foreach& query, const Value& roots, std::function<bool()> should_stop);

 private:
  SshTarget ssh_target(const SshEndpoint& ep) const;

  const Environment& env_;
  const SecretStore& secrets_;
  std::function<void(const std::string&)> say_;
  bool dry_run_ = false;
  std::shared_ptr<engine_api::TrustAnchor> trust_ = std::make_shared<engine_api::TrustAnchor>();
  std::function<void(const std::string&)> on_first_use_;
  std::mutex engine_mutex_;
  struct EngineLink {
    std::unique_ptr<SshTunnel> tunnel;  // declared first: the client logs out through it
    std::unique_ptr<engine_api::EngineClient> client;
  };
  std::map<std::string, EngineLink> engines_;  // "" is the direct one
  std::mutex ssh_mutex_;
  /// A step's session: its host (endpoint_key), lane and thread.
  using SessionKey = std::tuple<std::string, int, std::thread::id>;
  std::map<SessionKey, std::unique_ptr<SshSession>> ssh_;
  struct Warm {
    std::unique_ptr<SshSession> session;
    std::thread opening;
    bool open = false;  // read once `opening` is joined
  };
  std::map<std::string, std::unique_ptr<Warm>> warm_;  // by endpoint (and use), until taken
  /// The warm session kept under `key`, once open; null when none was
  /// warmed or it could not be opened.
  std::unique_ptr<SshSession> take_warm(const std::string& key);
  std::atomic<bool> closing_{false};
};

}  // namespace she
