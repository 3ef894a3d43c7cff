// Step types that act on the engine through its REST API.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <thread>
#include <utility>

#include "base/interrupted.h"
#include "base/poller.h"
#include "engine_api/client.h"
#include "engine_api/restored_engine.h"
#include "engine_api/requests.h"
#include "workflows/steps/schema.h"

namespace she {

namespace api = engine_api;
using namespace schema;

namespace {

ParamSchema host_param() {
  return required("host", ParamType::EngineHost,
                  "the host: its name in the engine, or a host item of a live query");
}

/// A step that talks to the engine's REST API, directly or, with `via`,
/// through an SSH tunnel from a host: while a deploy holds the new engine
/// VM on its bootstrap network, only the deploying host reaches it.
class EngineStep : public StepType {
 public:
  EngineStep(std::string name, StepKind kind, std::string summary, std::vector<ParamSchema> params,
             std::vector<OutputSchema> outputs)
      : StepType(std::move(name), kind, std::move(summary), with_via(std::move(params)), std::move(outputs)) {}

  bool runnable() const override { return true; }

  // The engine's typed errors become step errors whose class a step's
  // `retry.on` can name; a probe that cannot reach the engine cannot tell.
  StepResult apply(const StepContext& ctx) const final {
    return translated([&] { return run(ctx, api(ctx)); });
  }
  void verify(const StepContext& ctx) const final {
    translated([&] {
      confirm(ctx, api(ctx));
      return StepResult{};
    });
  }
  CheckResult check(const StepContext& ctx, Value& outputs) const final {
    try {
      return probe(ctx, api(ctx), outputs);
    } catch (const Interrupted&) {
      throw;  // a probe cut short found nothing: the run stops, it does not ask
    } catch (const std::exception&) {
      return CheckResult::Unknown;
    }
  }

 protected:
  struct Api {
    api::EngineClient& client;
    api::CallOptions call;
  };

  virtual StepResult run(const StepContext& ctx, Api a) const = 0;
  virtual void confirm(const StepContext&, Api) const {}
  virtual CheckResult probe(const StepContext&, Api, Value& /*outputs*/) const { return CheckResult::Unknown; }

  /// The id of the host a step names: a live item carries it (no request);
  /// a name is looked up.
  static std::string host_id(const StepContext& ctx, Api& a, const char* param = "host") {
    EngineHostRef ref = ctx.engine_host(param);
    return ref.id.empty() ? resolve(ctx, a, param).id : ref.id;
  }

  /// The host a step names: a live item carries its id; a name is looked up.
  static api::Host resolve(const StepContext& ctx, Api& a, const char* param = "host") {
    EngineHostRef ref = ctx.engine_host(param);
    if (!ref.id.empty()) return a.client.get_host(a.call, ref.id, true);
    if (auto h = a.client.find_host(a.call, ref.name)) return *h;
    throw StepError("fatal", fmt::format("the engine has no host named {}", ref.name));
  }

  static std::chrono::milliseconds forever() { return std::chrono::hours(24 * 7); }

  enum class Looks { OnSchedule, OnEvents };
  /// Looks with `reached` until it holds. OnEvents: again whenever the
  /// engine's event log has news, through the connection's one watcher
  /// (VMs, data centers, the SPM). OnSchedule, for what logs no event (the
  /// health page while the engine is down): at the environment's poll
  /// interval, growing by half up to 10 s (base/poller.h). The reads
  /// `reached` makes through `a` meanwhile retry transient engine errors
  /// for as long as the wait lasts (a 503 burst is not the wait's failure).
  static void wait_until(const StepContext& ctx, Api& a, Looks looks, const std::string& what,
                         const std::function<bool()>& reached) {
    const auto before = std::exchange(a.call.retry_reads_until, std::chrono::steady_clock::now() + forever());
    Poller::Outcome outcome =
        looks == Looks::OnEvents
            ? a.client.await_events(a.call, what, forever(), reached)
            : Poller(a.call.runner, {ctx.env().engine.poll_interval, std::chrono::seconds(10)}, a.call.should_stop)
                  .wait("engine", what, forever(), reached);
    a.call.retry_reads_until = before;
    if (outcome == Poller::Outcome::Stopped) throw Interrupted("stopped while waiting until " + what);
  }

 private:
  static Api api(const StepContext& ctx) {
    const RunServices& s = ctx.services();
    if (!s.engine) throw StepError("fatal", "no engine connection here");
    std::optional<SshEndpoint> via;
    if (ctx.has("via")) via = ctx.ssh("via");
    return {s.engine(via ? &*via : nullptr), {s.correlation_id, s.should_stop, s.progress, s.runner}};
  }

  template <class F>
  static StepResult translated(F f) {
    try {
      return f();
    } catch (const api::EngineError& e) {
      throw StepError(e.error_class(), e.what());
    }
  }

 private:
  static std::vector<ParamSchema> with_via(std::vector<ParamSchema> params) {
    params.push_back(optional("via", ParamType::SshTarget, nullptr,
                              "reach the engine through an SSH tunnel from this host (during a deploy)"));
    return params;
  }
};

class EngineHealth : public EngineStep {
 public:
  EngineHealth()
      : EngineStep("engine.health", StepKind::Read,
                 "wait for the engine's health page, or make sure no engine answers",
                 {choice("expect", {"up", "down"}, "up",
                         "up: wait for 'DB Up!Welcome to Health Status!'; down: the old "
                         "engine must not answer (split-brain guard)")},
                 {{"status", false, "health text, or 'unreachable'"}}) {}

  StepResult run(const StepContext& ctx, Api a) const override {
    StepResult r;
    if (ctx.text("expect") == "down") {
      try {
        std::string body = a.client.health(a.call);
        throw StepError("fatal", fmt::format("an engine answers at {} ({}): the old engine is still running. Shut it "
                                             "down (hosted-engine --vm-shutdown, or systemctl stop ovirt-engine) "
                                             "before restoring, or two engines will manage the same hosts",
                                             ctx.env().engine.fqdn, body.substr(0, 40)));
      } catch (const api::EngineError& e) {
        if (e.kind() != api::EngineError::Kind::Transport && e.kind() != api::EngineError::Kind::Timeout) throw;
      }
      r.outputs["status"] = "unreachable";
      return r;
    }
    std::string body, last;
    wait_until(ctx, a, Looks::OnSchedule, "the engine's health page says 'DB Up!Welcome to Health Status!'", [&] {
      try {
        body = a.client.health(a.call);
      } catch (const api::EngineError& e) {
        if (e.kind() != api::EngineError::Kind::Transport && e.kind() != api::EngineError::Kind::Timeout) throw;
        body = "unreachable";
      }
      if (body.find("DB Up!Welcome to Health Status!") != std::string::npos) return true;
      if (body != last && a.call.progress) a.call.progress("engine health: " + body.substr(0, 60) + "; waiting");
      last = body;
      return false;
    });
    r.outputs["status"] = body;
    return r;
  }
};

class SelectHosts : public EngineStep {
 public:
  SelectHosts()
      : EngineStep("engine.hosts.select", StepKind::Read,
                 "select hosts from live engine state",
                 {optional("status", ParamType::StringList, Value::array(),
                           "keep hosts in one of these statuses (empty: any)"),
                  choice("hosted_engine", {"any", "yes", "no"}, "any",
                         "keep only hosted-engine hosts (yes) or only regular ones (no)"),
                  optional("exclude", ParamType::StringList, Value::array(), "host names to leave out")},
                 {{"hosts", true, "host items: id, name, address, status, spm, hosted_engine"},
                  {"names", true, "their names"},
                  {"count", false, "how many"}}) {}

  StepResult run(const StepContext& ctx, Api a) const override {
    Value hosts = Value::array(), names = Value::array();
    for (auto& h : api::select_hosts(a.client.list_hosts(a.call, "", true), ctx.texts("status"),
                                     ctx.text("hosted_engine"), ctx.texts("exclude"))) {
      hosts.push_back(h.to_value());
      names.push_back(h.name);
    }
    StepResult r;
    r.outputs = {{"hosts", hosts}, {"names", names}, {"count", hosts.size()}};
    return r;
  }
};

class SelectVms : public EngineStep {
 public:
  SelectVms()
      : EngineStep("engine.vms.select", StepKind::Read, "list the engine's VMs (the backup records them)",
                 {optional("status", ParamType::StringList, Value::array(),
                           "keep VMs in one of these statuses (empty: any)")},
                 {{"vms", true, "VM items: id, name, status, host_id, origin"},
                  {"names", true, "their names"},
                  {"count", false, "how many"}}) {}

  StepResult run(const StepContext& ctx, Api a) const override {
    const std::vector<std::string> statuses = ctx.texts("status");
    Value vms = Value::array(), names = Value::array();
    for (auto& vm : a.client.list_vms(a.call)) {
      if (!statuses.empty() && std::find(statuses.begin(), statuses.end(), vm.status) == statuses.end()) continue;
      vms.push_back(vm.to_value());
      names.push_back(vm.name);
    }
    StepResult r;
    r.outputs = {{"vms", vms}, {"names", names}, {"count", vms.size()}};
    return r;
  }
};

class FindHost : public EngineStep {
 public:
  FindHost()
      : EngineStep("engine.host.find", StepKind::Read,
                 "find every engine record matching a host's name, address or hardware id",
                 {optional("name", ParamType::HostName, nullptr, "host name"),
                  optional("address", ParamType::HostAddress, nullptr, "FQDN or IP address"),
                  optional("hardware_id", ParamType::String, nullptr, "hardware UUID (vds_unique_id)")},
                 {{"found", false, "true when any record matches"},
                  {"hosts", true, "the matching host items"},
                  {"ids", true, "their ids"}}) {}

  void check_rules(const StepContext& ctx) const override {
    // Matching on all three identities is what oVirt's own restore misses
    // (ovirt-he-automation.md section 4, item 3).
    if (!ctx.has("name") && !ctx.has("address") && !ctx.has("hardware_id"))
      throw StepRuleError("engine.host.find needs at least one of name, address, hardware_id");
  }

  StepResult run(const StepContext& ctx, Api a) const override {
    auto same = [](const std::string& x, const std::string& y) { return !x.empty() && api::same_engine_name(x, y); };
    Value hosts = Value::array(), ids = Value::array();
    for (auto& h : a.client.list_hosts(a.call, "", true)) {
      if (same(ctx.text("name"), h.name) || same(ctx.text("address"), h.address) ||
          same(ctx.text("hardware_id"), h.hardware_uuid)) {
        hosts.push_back(h.to_value());
        ids.push_back(h.id);
      }
    }
    StepResult r;
    r.outputs = {{"found", !hosts.empty()}, {"hosts", hosts}, {"ids", ids}};
    return r;
  }
};

class HostMaintenance : public EngineStep {
 public:
  HostMaintenance()
      : EngineStep("engine.host.maintenance", StepKind::Idempotent,
                 "move a host to maintenance and wait for it",
                 {host_param(),
                  optional("reason", ParamType::String, "she-restore", "reason recorded by the engine")},
                 {}) {}

  StepResult run(const StepContext& ctx, Api a) const override {
    api::Host h = resolve(ctx, a);
    if (h.status != "maintenance" && h.status != "preparing_for_maintenance")
      a.client.deactivate(a.call, h.id, ctx.text("reason"));
    return {};
  }
  void confirm(const StepContext& ctx, Api a) const override {
    api::Host h = resolve(ctx, a);
    // Not non_operational: maintenance is the way out of it (seed 000 step
    // 8, the host the legacy deploy left Non Operational).
    a.client.wait_for_status(a.call, h.id, {"maintenance"}, {"error", "non_responsive", "install_failed"}, forever());
  }
  CheckResult probe(const StepContext& ctx, Api a, Value&) const override {
    return resolve(ctx, a).status == "maintenance" ? CheckResult::Done : CheckResult::NotDone;
  }
};

class HostActivate : public EngineStep {
 public:
  HostActivate()
      : EngineStep("engine.host.activate", StepKind::Idempotent, "activate a host and wait until it is up",
                 {host_param()}, {}) {}

  StepResult run(const StepContext& ctx, Api a) const override {
    api::Host h = resolve(ctx, a);
    if (h.status != "up") a.client.activate(a.call, h.id);
    return {};
  }
  void confirm(const StepContext& ctx, Api a) const override {
    api::Host h = resolve(ctx, a);
    a.client.wait_for_status(a.call, h.id, {"up"}, {"error", "non_operational", "install_failed"}, forever());
  }
  CheckResult probe(const StepContext& ctx, Api a, Value&) const override {
    return resolve(ctx, a).status == "up" ? CheckResult::Done : CheckResult::NotDone;
  }
};

class HostFenceManual : public EngineStep {
 public:
  HostFenceManual()
      : EngineStep("engine.host.fence_manual", StepKind::Once,
                 "confirm 'host has been rebooted': its VMs go down and its SPM role is released",
                 {host_param()}, {}) {}

  StepResult run(const StepContext& ctx, Api a) const override {
    a.client.fence_manual(a.call, host_id(ctx, a));
    return {};
  }
  // A host with no VMs and no SPM role looks the same fenced or not; only
  // the engine's own record tells: it logs VDS_MANUAL_FENCE_STATUS (494)
  // with the Correlation-Id of the call that confirmed the reboot
  // (ovirt-engine-api.md, events and correlation). Our id found: done; the
  // engine answering without it: our call never reached it.
  CheckResult probe(const StepContext& ctx, Api a, Value&) const override {
    api::Host h = resolve(ctx, a);
    if (a.call.correlation_id.empty()) return CheckResult::Unknown;
    for (auto& e : a.client.events_since(a.call, 0, "correlation_id=" + a.call.correlation_id.substr(0, 36)))
      if (e.code == kManualFenceEvent && e.host_id == h.id && e.correlation_id == a.call.correlation_id.substr(0, 36))
        return CheckResult::Done;
    return CheckResult::NotDone;
  }
  static constexpr int kManualFenceEvent = 494;  // VDS_MANUAL_FENCE_STATUS
};

class HostRemove : public EngineStep {
 public:
  HostRemove()
      : EngineStep("engine.host.remove", StepKind::Once, "remove a host from the engine",
                 {host_param(),
                  optional("force", ParamType::Bool, true,
                           "force the removal (the engine still needs it fenced or in maintenance, with no VMs)")},
                 {}) {}

  StepResult run(const StepContext& ctx, Api a) const override {
    std::string id;
    try {
      id = host_id(ctx, a);
      a.client.remove(a.call, id, ctx.flag("force"));
    } catch (const api::EngineError& e) {
      if (e.kind() == api::EngineError::Kind::NotFound) return {};  // already gone
      throw;
    }
    StepResult r;
    r.outputs["id"] = id;
    return r;
  }
  void confirm(const StepContext& ctx, Api a) const override {
    // The engine removes the record before it answers the DELETE: one read
    // shows it gone now, where waiting meant the watcher's next round (a
    // pipeline's second item, removed during the first item's round, waited
    // a round's length for it). That read is the wait's first look: a
    // transient engine error is retried for as long as the wait would.
    a.call.retry_reads_until = std::chrono::steady_clock::now() + forever();
    Value unused;
    if (probe(ctx, a, unused) == CheckResult::Done) return;
    EngineHostRef ref = ctx.engine_host("host");
    if (ref.id.empty()) throw StepError("fatal", "host " + ref.name + " is still in the engine after its removal");
    a.client.wait_for_removal(a.call, ref.id, forever());
  }
  // The state only a removal produces: the record is gone (404 for its
  // id, no host of its name). Anything else the engine says is no evidence.
  CheckResult probe(const StepContext& ctx, Api a, Value&) const override {
    EngineHostRef ref = ctx.engine_host("host");
    if (ref.id.empty()) return a.client.find_host(a.call, ref.name) ? CheckResult::NotDone : CheckResult::Done;
    try {
      a.client.get_host(a.call, ref.id, false);
      return CheckResult::NotDone;
    } catch (const api::EngineError& e) {
      if (e.kind() == api::EngineError::Kind::NotFound) return CheckResult::Done;
      throw;
    }
  }
};

std::vector<ParamSchema> install_params(bool add) {
  std::vector<ParamSchema> p;
  if (add) {
    p.push_back(required("name", ParamType::HostName, "name of the new host"));
    p.push_back(required("address", ParamType::HostAddress, "FQDN or IP address the engine uses"));
    p.push_back(optional("cluster", ParamType::String, "${env.engine.cluster}", "cluster to join"));
  } else {
    p.push_back(host_param());
  }
  // A host being added has no hosted-engine configuration to undeploy.
  p.push_back(choice("hosted_engine", add ? std::vector<std::string>{"deploy", "none"}
                                          : std::vector<std::string>{"deploy", "undeploy", "none"},
                     "deploy", "deploy: make it a hosted-engine host"));
  p.push_back(choice("auth", {"publickey", "password"}, "publickey",
                     "how the engine logs in to the host"));
  p.push_back(optional("root_password", ParamType::Secret, nullptr, "with auth: password"));
  p.push_back(optional("activate", ParamType::Bool, true, "activate after installing"));
  p.push_back(optional("reboot", ParamType::Bool, false, "reboot after installing"));
  return p;
}

void check_auth(const StepContext& ctx) {
  if (ctx.text("auth") == "password" && !ctx.has("root_password"))
    throw StepRuleError("auth: password needs root_password (a secret reference)");
}

api::InstallOptions install_options(const StepContext& ctx) {
  api::InstallOptions o;
  o.deploy_hosted_engine = ctx.text("hosted_engine") == "deploy";
  o.undeploy_hosted_engine = ctx.text("hosted_engine") == "undeploy";
  o.activate = ctx.flag("activate");
  o.reboot = ctx.flag("reboot");
  o.auth = ctx.text("auth");
  if (o.auth == "password") o.root_password = ctx.secret("root_password");
  return o;
}

api::AddHostOptions add_options(const StepContext& ctx) {
  api::AddHostOptions o;
  static_cast<api::InstallOptions&>(o) = install_options(ctx);
  o.name = ctx.text("name");
  o.address = ctx.text("address");
  o.cluster = ctx.text("cluster");
  return o;
}

/// Statuses a host passes through while the engine installs it.
bool install_under_way(const std::string& status) {
  return status == "installing" || status == "initializing" || status == "connecting" || status == "reboot";
}

std::vector<std::string> install_target(const StepContext& ctx) {
  return {ctx.flag("activate") ? "up" : "maintenance"};
}

class HostInstall : public EngineStep {
 public:
  void check_rules(const StepContext& ctx) const override { check_auth(ctx); }

 public:
  HostInstall()
      : EngineStep("engine.host.install", StepKind::Once,
                 "reinstall a host (from maintenance), deploying hosted engine on it",
                 install_params(false), {}) {}

  StepResult run(const StepContext& ctx, Api a) const override {
    a.client.install(a.call, host_id(ctx, a), install_options(ctx));
    return {};
  }
  void confirm(const StepContext& ctx, Api a) const override {
    a.client.wait_for_status(a.call, host_id(ctx, a), install_target(ctx), {"install_failed", "non_operational", "error"},
                             forever());
  }
  CheckResult probe(const StepContext& ctx, Api a, Value&) const override {
    api::Host h = resolve(ctx, a);
    bool he_ok = ctx.text("hosted_engine") != "deploy" || (h.hosted_engine && h.hosted_engine->configured);
    // Without activation the host ends where it started (maintenance): its
    // status cannot tell a finished reinstall from one never sent.
    if (h.status == install_target(ctx)[0] && he_ok && ctx.flag("activate")) return CheckResult::Done;
    if (install_under_way(h.status)) return CheckResult::InProgress;
    return CheckResult::NotDone;
  }
};

class HostAdd : public EngineStep {
 public:
  void check_rules(const StepContext& ctx) const override { check_auth(ctx); }

 public:
  HostAdd()
      : EngineStep("engine.host.add", StepKind::Once, "add a host to the engine",
                 install_params(true), {{"id", false, "id of the new host"}}) {}

  StepResult run(const StepContext& ctx, Api a) const override {
    StepResult r;
    if (auto existing = a.client.find_host(a.call, ctx.text("name"))) {
      r.outputs["id"] = existing->id;  // added by an earlier attempt
      // Its install failed then (and the cause is fixed now, or the run
      // would not be here again): install it again, as "Reinstall" does.
      if (existing->status == "install_failed") a.client.install(a.call, existing->id, install_options(ctx));
      return r;
    }
    r.outputs["id"] = a.client.add(a.call, add_options(ctx)).id;
    return r;
  }
  void confirm(const StepContext& ctx, Api a) const override {
    auto h = a.client.find_host(a.call, ctx.text("name"));
    if (!h) throw StepError("fatal", "host " + ctx.text("name") + " is not in the engine after being added");
    a.client.wait_for_status(a.call, h->id, install_target(ctx), {"install_failed", "non_operational", "error"}, forever());
  }
  CheckResult probe(const StepContext& ctx, Api a, Value& outputs) const override {
    auto h = a.client.find_host(a.call, ctx.text("name"));
    if (!h) return CheckResult::NotDone;
    outputs["id"] = h->id;
    if (h->status == install_target(ctx)[0]) return CheckResult::Done;
    if (install_under_way(h->status)) return CheckResult::InProgress;
    // Failed: run() installs it again; anything else is no evidence.
    return h->status == "install_failed" ? CheckResult::NotDone : CheckResult::Unknown;
  }
};

class HostWait : public EngineStep {
 public:
  HostWait()
      : EngineStep("engine.host.wait", StepKind::Read, "wait until a host reaches a status",
                 {host_param(),
                  required("status", ParamType::StringList, "statuses that end the wait"),
                  optional("fail_on", ParamType::StringList,
                           Value::array({"error", "install_failed"}), "statuses that fail it at once")},
                 {{"status", false, "the status reached"}}) {}

  StepResult run(const StepContext& ctx, Api a) const override {
    api::Host h = a.client.wait_for_status(a.call, host_id(ctx, a), ctx.texts("status"), ctx.texts("fail_on"), forever());
    StepResult r;
    r.outputs["status"] = h.status;
    return r;
  }
};

class StartVms : public EngineStep {
 public:
  StartVms()
      : EngineStep("engine.vms.start", StepKind::Idempotent, "start VMs (those already up are left alone)",
                 {required("vms", ParamType::StringList, "VM names"),
                  optional("wait", ParamType::Bool, true,
                           "wait until every VM is up; false: done once the engine reports each one starting "
                           "(powering up) or up, so later steps run while they boot (a later start step with "
                           "wait waits for them up)")},
                 {}) {}

  StepResult run(const StepContext& ctx, Api a) const override {
    // A VM the engine last saw on a host it cannot reach is "unknown": it
    // may still run there, and the engine refuses to start it ("VM is
    // running") until that host is back or confirmed rebooted. Say which.
    std::vector<std::string> stuck;
    for (auto& name : ctx.texts("vms")) {
      api::Vm vm = find_vm(a, name);
      if (vm.status != "unknown") continue;
      std::string host = vm.host_id.empty() ? "its last host" : a.client.get_host(a.call, vm.host_id, false).name;
      stuck.push_back(fmt::format("{} (on {})", name, host));
    }
    if (!stuck.empty())
      throw StepError("conflict", fmt::format("the engine cannot tell whether these VMs still run: {}. Bring their "
                                              "host back, or make sure it is powered off and confirm it has been "
                                              "rebooted (manual fence); then run again",
                                              fmt::join(stuck, ", ")));
    for (auto& name : ctx.texts("vms")) {
      api::Vm vm = find_vm(a, name);
      if (!reached(vm.status, false)) a.client.start_vm(a.call, vm.id);
    }
    return {};
  }
  void confirm(const StepContext& ctx, Api a) const override {
    std::vector<std::string> waiting = ctx.texts("vms");
    const bool up = ctx.flag("wait");
    const char* what = up ? "up" : "starting or up";
    wait_until(ctx, a, Looks::OnEvents, fmt::format("VMs {} are {}", fmt::join(waiting, ", "), what), [&] {
      std::vector<std::string> still;
      for (auto& name : waiting)
        if (!reached(find_vm(a, name).status, up)) still.push_back(name);
      waiting = still;
      if (still.empty()) return true;
      if (a.call.progress) a.call.progress(fmt::format("waiting for VMs to be {}: {}", what, fmt::join(still, ", ")));
      return false;
    });
  }
  CheckResult probe(const StepContext& ctx, Api a, Value&) const override {
    for (auto& name : ctx.texts("vms"))
      if (!reached(find_vm(a, name).status, ctx.flag("wait"))) return CheckResult::NotDone;
    return CheckResult::Done;
  }

 private:
  static api::Vm find_vm(Api& a, const std::string& name) {
    for (auto& vm : a.client.list_vms(a.call, api::host_name_search(name)))
      if (vm.name == name) return vm;
    throw StepError("fatal", "the engine has no VM named " + name);
  }
  /// Up, or (not waiting for up) the engine launching it: what the engine
  /// reports once it took the start, not our request alone.
  static bool reached(const std::string& status, bool up) {
    return status == "up" || (!up && (status == "powering_up" || status == "wait_for_launch"));
  }
};

class DataCenterWait : public EngineStep {
 public:
  DataCenterWait()
      : EngineStep("engine.datacenter.wait", StepKind::Read,
                 "wait until a data center is up and has an SPM",
                 {optional("name", ParamType::String, "${env.engine.datacenter}", "data center name")},
                 {{"spm_host", false, "name of the SPM host"}}) {}

  StepResult run(const StepContext& ctx, Api a) const override {
    std::string name = ctx.text("name"), last, spm;
    wait_until(ctx, a, Looks::OnEvents, fmt::format("data center {} is up and one host is SPM", name), [&] {
      std::string status = "missing", spm_status;
      spm.clear();
      for (auto& dc : a.client.list_datacenters(a.call))
        if (dc.name == name) status = dc.status;
      for (auto& h : a.client.list_hosts(a.call, "", false))
        if (h.spm_status == "spm") {
          spm = h.name;
          spm_status = h.status;
        }
      if (status == "up" && !spm.empty()) return true;
      std::string now = fmt::format("data center {} is {}, SPM {}", name, status, spm.empty() ? "none" : spm);
      // The engine keeps the SPM role on a host it cannot reach until that
      // host is fenced: say so, it is what the operator must decide.
      if (!spm.empty() && spm_status != "up")
        now += fmt::format(" ({}). If {} is gone for good, confirm it has been rebooted (Administration Portal: "
                           "Compute > Hosts > {} > Confirm 'Host has been rebooted', or an engine.host.fence_manual "
                           "step) so the engine elects another SPM; else bring it back",
                           spm_status, spm, spm);
      if (now != last && a.call.progress) a.call.progress(now + "; waiting");
      last = now;
      return false;
    });
    StepResult r;
    r.outputs["spm_host"] = spm;
    return r;
  }
};

class SpmInfo : public EngineStep {
 public:
  SpmInfo()
      : EngineStep("engine.spm", StepKind::Read, "find the SPM host and whether it is a hosted-engine host",
                 {}, {{"host", false, "name of the SPM host, empty if none"},
                      {"hosted_engine", false, "true when the SPM host is a hosted-engine host"}}) {}

  StepResult run(const StepContext&, Api a) const override {
    StepResult r;
    r.outputs = {{"host", ""}, {"hosted_engine", false}};
    for (auto& h : a.client.list_hosts(a.call, "", true))
      if (h.spm_status == "spm")
        r.outputs = {{"host", h.name}, {"hosted_engine", h.hosted_engine.has_value() && h.hosted_engine->configured}};
    return r;
  }
};

}  // namespace

void register_engine_steps(StepCatalog& c) {
  c.add(std::make_unique<EngineHealth>());
  c.add(std::make_unique<SelectHosts>());
  c.add(std::make_unique<FindHost>());
  c.add(std::make_unique<HostMaintenance>());
  c.add(std::make_unique<HostActivate>());
  c.add(std::make_unique<HostFenceManual>());
  c.add(std::make_unique<HostRemove>());
  c.add(std::make_unique<HostInstall>());
  c.add(std::make_unique<HostAdd>());
  c.add(std::make_unique<HostWait>());
  c.add(std::make_unique<StartVms>());
  c.add(std::make_unique<SelectVms>());
  c.add(std::make_unique<DataCenterWait>());
  c.add(std::make_unique<SpmInfo>());
}

}  // namespace she
