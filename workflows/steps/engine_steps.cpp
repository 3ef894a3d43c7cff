// Step types that act on the engine through its REST API.
#include <fmt/format.h>

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

std::string list_text(const std::vector<std::string>& items) {
  return "[" + fmt::format("{}", fmt::join(items, ", ")) + "]";
}

Operation wait_for_host(const EngineHostRef& h, const std::string& statuses,
                        const std::string& fail_on) {
  return {false,
          fmt::format("wait until host {} reaches status {} (poll GET {}; fail on {})", h.name, statuses,
                      api::get_host(h.id_or_placeholder(), false).path, fail_on),
          {}};
}

/// A step that talks to the engine's REST API, directly or, with `via`,
/// through an SSH tunnel from a host: while a deploy holds the new engine
/// VM on its bootstrap network, only the deploying host reaches it.
class EngineStep : public StepType {
 public:
  EngineStep(std::string name, StepKind kind, std::string summary, std::vector<ParamSchema> params,
             std::vector<OutputSchema> outputs)
      : StepType(std::move(name), kind, std::move(summary), with_via(std::move(params)), std::move(outputs)) {}

  std::vector<Operation> describe(const StepContext& ctx) const final {
    std::vector<Operation> ops;
    if (ctx.has("via"))
      ops.push_back(note(fmt::format("reach the engine through an SSH tunnel: {} -> {}:443", ctx.ssh("via").str(),
                                     ctx.env().engine.fqdn)));
    for (auto& op : describe_calls(ctx)) ops.push_back(std::move(op));
    return ops;
  }

 protected:
  virtual std::vector<Operation> describe_calls(const StepContext& ctx) const = 0;

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

  std::vector<Operation> describe_calls(const StepContext& ctx) const override {
    std::vector<Operation> ops{http(api::health())};
    if (ctx.text("expect") == "down")
      ops.push_back(note(fmt::format("expect no engine to answer at {}: stop if one does",
                                     ctx.env().engine.fqdn)));
    else
      ops.push_back(note("wait until the body is 'DB Up!Welcome to Health Status!'"));
    return ops;
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

  std::vector<Operation> describe_calls(const StepContext& ctx) const override {
    return {http(api::list_hosts("", true)), note("select " + selection(ctx))};
  }

  static std::string selection(const StepContext& ctx) {
    std::string out = "hosts";
    auto statuses = ctx.texts("status");
    if (!statuses.empty()) out += " with status in " + list_text(statuses);
    if (ctx.text("hosted_engine") == "yes") out += ", hosted-engine hosts only";
    if (ctx.text("hosted_engine") == "no") out += ", regular hosts only";
    auto exclude = ctx.texts("exclude");
    if (!exclude.empty()) out += ", except " + list_text(exclude);
    return out;
  }
};

class FindHost : public EngineStep {
 public:
  FindHost()
      : EngineStep("engine.host.find", StepKind::Read,
                 "find every engine record matching a host's name, address or hardware id",
                 {optional("name", ParamType::String, nullptr, "host name"),
                  optional("address", ParamType::String, nullptr, "FQDN or IP address"),
                  optional("hardware_id", ParamType::String, nullptr, "hardware UUID (vds_unique_id)")},
                 {{"found", false, "true when any record matches"},
                  {"hosts", true, "the matching host items"},
                  {"ids", true, "their ids"}}) {}

  std::vector<Operation> describe_calls(const StepContext& ctx) const override {
    std::vector<std::string> keys;
    for (const char* k : {"name", "address", "hardware_id"})
      if (ctx.has(k)) keys.push_back(fmt::format("{} = {}", k, ctx.text(k)));
    if (keys.empty()) throw StepRuleError("engine.host.find needs at least one of name, address, hardware_id");
    // Matching on all three identities is what oVirt's own restore misses
    // (ovirt-he-automation.md section 4, item 3).
    return {http(api::list_hosts("", true)),
            note("match records where " + fmt::format("{}", fmt::join(keys, " or ")))};
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

  std::vector<Operation> describe_calls(const StepContext& ctx) const override {
    auto h = ctx.engine_host("host");
    std::vector<Operation> ops;
    lookup_host(h, ops);
    ops.push_back(http(api::deactivate_host(h.id_or_placeholder(), ctx.text("reason"))));
    ops.push_back(wait_for_host(h, "maintenance", "error, non_responsive, non_operational"));
    return ops;
  }
};

class HostActivate : public EngineStep {
 public:
  HostActivate()
      : EngineStep("engine.host.activate", StepKind::Idempotent, "activate a host and wait until it is up",
                 {host_param()}, {}) {}

  std::vector<Operation> describe_calls(const StepContext& ctx) const override {
    auto h = ctx.engine_host("host");
    std::vector<Operation> ops;
    lookup_host(h, ops);
    ops.push_back(http(api::activate_host(h.id_or_placeholder())));
    ops.push_back(wait_for_host(h, "up", "error, non_operational, install_failed"));
    return ops;
  }
};

class HostFenceManual : public EngineStep {
 public:
  HostFenceManual()
      : EngineStep("engine.host.fence_manual", StepKind::Once,
                 "confirm 'host has been rebooted': its VMs go down and its SPM role is released",
                 {host_param()}, {}) {}

  std::vector<Operation> describe_calls(const StepContext& ctx) const override {
    auto h = ctx.engine_host("host");
    std::vector<Operation> ops;
    lookup_host(h, ops);
    ops.push_back(http(api::fence_host_manual(h.id_or_placeholder())));
    return ops;
  }
};

class HostRemove : public EngineStep {
 public:
  HostRemove()
      : EngineStep("engine.host.remove", StepKind::Once, "remove a host from the engine",
                 {host_param(),
                  optional("force", ParamType::Bool, true,
                           "force the removal (the engine still needs it fenced or in maintenance, with no VMs)")},
                 {}) {}

  std::vector<Operation> describe_calls(const StepContext& ctx) const override {
    auto h = ctx.engine_host("host");
    std::vector<Operation> ops;
    lookup_host(h, ops);
    ops.push_back(http(api::remove_host(h.id_or_placeholder(), ctx.flag("force"))));
    ops.push_back(note(fmt::format("wait until GET {} answers 404",
                                   api::get_host(h.id_or_placeholder(), false).path)));
    return ops;
  }
};

std::vector<ParamSchema> install_params(bool add) {
  std::vector<ParamSchema> p;
  if (add) {
    p.push_back(required("name", ParamType::String, "name of the new host"));
    p.push_back(required("address", ParamType::String, "FQDN or IP address the engine uses"));
    p.push_back(optional("cluster", ParamType::String, "${env.engine.cluster}", "cluster to join"));
  } else {
    p.push_back(host_param());
  }
  p.push_back(choice("hosted_engine", {"deploy", "undeploy", "none"}, "deploy",
                     "deploy: make it a hosted-engine host"));
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

class HostInstall : public EngineStep {
 public:
  HostInstall()
      : EngineStep("engine.host.install", StepKind::Once,
                 "reinstall a host (from maintenance), deploying hosted engine on it",
                 install_params(false), {}) {}

  std::vector<Operation> describe_calls(const StepContext& ctx) const override {
    check_auth(ctx);
    auto h = ctx.engine_host("host");
    api::InstallOptions o;
    o.deploy_hosted_engine = ctx.text("hosted_engine") == "deploy";
    o.undeploy_hosted_engine = ctx.text("hosted_engine") == "undeploy";
    o.activate = ctx.flag("activate");
    o.reboot = ctx.flag("reboot");
    o.auth = ctx.text("auth");
    o.root_password = "[secret " + ctx.text("root_password") + "]";
    std::vector<Operation> ops;
    lookup_host(h, ops);
    ops.push_back(http(api::install_host(h.id_or_placeholder(), o)));
    ops.push_back(wait_for_host(h, o.activate ? "up" : "maintenance",
                                "install_failed, non_operational, error"));
    return ops;
  }
};

class HostAdd : public EngineStep {
 public:
  HostAdd()
      : EngineStep("engine.host.add", StepKind::Once, "add a host to the engine",
                 install_params(true), {{"id", false, "id of the new host"}}) {}

  std::vector<Operation> describe_calls(const StepContext& ctx) const override {
    check_auth(ctx);
    api::AddHostOptions o;
    o.name = ctx.text("name");
    o.address = ctx.text("address");
    o.cluster = ctx.text("cluster");
    o.deploy_hosted_engine = ctx.text("hosted_engine") == "deploy";
    o.activate = ctx.flag("activate");
    o.reboot = ctx.flag("reboot");
    o.auth = ctx.text("auth");
    o.root_password = "[secret " + ctx.text("root_password") + "]";
    EngineHostRef h{o.name, "<id of the new host>"};
    return {http(api::add_host(o)),
            wait_for_host(h, o.activate ? "up" : "maintenance", "install_failed, non_operational, error")};
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

  std::vector<Operation> describe_calls(const StepContext& ctx) const override {
    auto h = ctx.engine_host("host");
    std::vector<Operation> ops;
    lookup_host(h, ops);
    ops.push_back(wait_for_host(h, fmt::format("{}", fmt::join(ctx.texts("status"), " or ")),
                                fmt::format("{}", fmt::join(ctx.texts("fail_on"), ", "))));
    return ops;
  }
};

class StartVms : public EngineStep {
 public:
  StartVms()
      : EngineStep("engine.vms.start", StepKind::Idempotent, "start VMs (those already up are left alone)",
                 {required("vms", ParamType::StringList, "VM names")}, {}) {}

  std::vector<Operation> describe_calls(const StepContext& ctx) const override {
    std::vector<Operation> ops;
    for (auto& vm : ctx.texts("vms")) {
      ops.push_back(http(api::list_vms(api::host_name_search(vm))));
      ops.push_back(http(api::start_vm("<id of " + vm + ">")));
    }
    ops.push_back(note("wait until every VM is up"));
    return ops;
  }
};

class DataCenterWait : public EngineStep {
 public:
  DataCenterWait()
      : EngineStep("engine.datacenter.wait", StepKind::Read,
                 "wait until a data center is up and has an SPM",
                 {optional("name", ParamType::String, "${env.engine.datacenter}", "data center name")},
                 {{"spm_host", false, "name of the SPM host"}}) {}

  std::vector<Operation> describe_calls(const StepContext& ctx) const override {
    return {http(api::list_datacenters()), http(api::list_hosts("", true)),
            note(fmt::format("wait until data center {} is up and one host is SPM", ctx.text("name")))};
  }
};

class SpmInfo : public EngineStep {
 public:
  SpmInfo()
      : EngineStep("engine.spm", StepKind::Read, "find the SPM host and whether it is a hosted-engine host",
                 {}, {{"host", false, "name of the SPM host, empty if none"},
                      {"hosted_engine", false, "true when the SPM host is a hosted-engine host"}}) {}

  std::vector<Operation> describe_calls(const StepContext&) const override {
    return {http(api::list_hosts("", true)), note("pick the host whose spm status is 'spm'")};
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
  c.add(std::make_unique<DataCenterWait>());
  c.add(std::make_unique<SpmInfo>());
}

}  // namespace she
