// The Oracle VM Manager command line as a step (`ovm.cli`): one CLI command
// as data, sent over SSH to the manager's CLI port (the environment names
// the manager as an SSH target: port 10000, user admin, a password or key
// reference), its answer parsed into outputs later steps can use. show,
// list and getXxx are reads a dry run performs live; every other verb is a
// write the runner records.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <fmt/format.h>

#include "base/poller.h"
#include "hosts/ovm_cli_answer.h"
#include "hosts/ovm_cli_command.h"
#include "workflows/steps/host_step.h"
#include "workflows/steps/schema.h"

namespace she {

using namespace schema;

namespace {

const char* const kRelations[] = {"on", "to", "from"};

ovm::CliObjectRef related_object(const StepContext& ctx, const std::string& relation) {
  const Value& v = ctx.params().at(relation);
  if (!v.is_object()) throw StepRuleError(relation + " must be a map: {object: Vm, name: ...} or {object: Vm, id: ...}");
  ovm::CliObjectRef ref;
  if (!v.contains("object") || !v["object"].is_string())
    throw StepRuleError(relation + " needs `object`, the type of the object (Vm, ServerPool...)");
  ref.type = v["object"].get<std::string>();
  for (const char* key : {"id", "name"})
    if (v.contains(key)) {
      if (!ref.key.empty()) throw StepRuleError(relation + " names its object by id or by name, not both");
      ref.key = key;
      ref.value = to_text(v[key]);
    }
  if (ref.key.empty()) throw StepRuleError(relation + " needs `id` or `name`");
  for (auto& [k, _] : v.items())
    if (k != "object" && k != "id" && k != "name")
      throw StepRuleError(fmt::format("{} has `{}`: only object, id and name", relation, k));
  return ref;
}

ovm::CliCommand build_command(const StepContext& ctx) {
  ovm::CliCommand c;
  c.verb = ctx.text("verb");
  if (ctx.has("object")) c.object = ctx.text("object");
  if (ctx.has("attributes")) {
    const Value& attrs = ctx.params().at("attributes");
    if (!attrs.is_object()) throw StepRuleError("attributes must be a map of CLI attributes (name: value)");
    // The identifying attributes first, as the CLI's own examples write them.
    for (const char* key : {"id", "name"})
      if (attrs.contains(key)) c.attributes.emplace_back(key, to_text(attrs[key]));
    for (auto& [k, v] : attrs.items())
      if (k != "id" && k != "name") {
        if ((v.is_object() || v.is_array()) && !is_deferred(v))
          throw StepRuleError("attribute " + k + " must be a single value");
        c.attributes.emplace_back(k, v.is_boolean() ? (v.get<bool>() ? "yes" : "no") : to_text(v));
      }
  }
  int relations = 0;
  for (const char* rel : kRelations)
    if (ctx.has(rel)) {
      ++relations;
      c.relation = rel;
      c.related = related_object(ctx, rel);
    }
  if (relations > 1) throw StepRuleError("give one of on, to and from");
  try {
    c.line();
  } catch (const ovm::CliCommandError& e) {
    throw StepRuleError(e.what());
  }
  return c;
}

// Whether an object's answer names `owner` where it names an object of
// that type ("Vm = <id>  [slot021]", "Server Pool = <id>  [slot]"); true
// when it names none, as nothing then says otherwise.
bool related_to(const ovm::CliAnswer& a, const ovm::CliObjectRef& owner) {
  for (auto& [key, id] : a.fields) {
    std::string type = key;
    type.erase(std::remove(type.begin(), type.end(), ' '), type.end());
    if (type != owner.type) continue;
    if (owner.key == "id") return id == owner.value;
    return a.labels.count(key) && a.labels.at(key) == owner.value;
  }
  return true;
}

// What the OVM steps share: one CLI command at a time over the manager's
// session, each a read or a write by its verb (a dry run makes the reads
// live and shows the writes), failures stopping the step with the CLI's
// own message.
class OvmStep : public HostStep {
 public:
  using HostStep::HostStep;

 protected:
  struct Sent {
    ovm::CliAnswer answer;
    bool rehearsed = false;
  };

  /// Sends one command. One that carries a secret (discoverServer's
  /// password=) goes to the CLI's session on standard input (ssh -p 10000
  /// admin@manager < script) instead of on the command line, so the
  /// password is in no process list or log of one; the dry run and logs
  /// show c.shown().
  static Sent cli(const StepContext& ctx, const ovm::CliCommand& c, bool missing_ok = false) {
    const bool on_stdin = std::any_of(c.attributes.begin(), c.attributes.end(),
                                      [](auto& a) { return ovm::cli_attribute_secret(a.first); });
    SshSession& ssh = session(ctx, "manager");
    const std::string input = on_stdin ? c.line() + "\nexit\n" : "";
    ExecOptions o;
    o.runner = ctx.services().runner;
    o.writes = !c.reads();
    o.should_stop = ctx.services().should_stop;
    size_t sent_bytes = 0;
    if (on_stdin) {
      o.shown_input = c.shown() + "\nexit\n";
      o.stdin_source = [&](char* buf, size_t cap) {
        size_t n = std::min(cap, input.size() - sent_bytes);
        std::copy(input.data() + sent_bytes, input.data() + sent_bytes + n, buf);
        sent_bytes += n;
        return n;
      };
    }
    if (ctx.services().progress && !c.reads()) ctx.services().progress(ssh.target().name + ": OVM> " + c.shown());
    ExecResult r = ssh.exec(on_stdin ? "" : c.line(), o);
    Sent s;
    if (r.rehearsed) {
      s.rehearsed = true;
      s.answer.parsed = s.answer.success = true;
      return s;
    }
    s.answer = ovm::parse_cli_answer(r.stdout_tail);
    if (!s.answer.parsed)
      throw StepError("command", fmt::format("{}: no OVM CLI answer to `{}` (exit {}): {}", ssh.target().name, c.shown(),
                                             r.exit_status, (r.stderr_tail.empty() ? r.stdout_tail : r.stderr_tail).substr(0, 300)));
    if (!s.answer.success && !(missing_ok && s.answer.failure == ovm::CliFailure::NotFound))
      throw StepError(error_class(s.answer.failure),
                      fmt::format("{}: the OVM CLI refused `{}` ({}): {}; fix what the manager names, then run again",
                                  ssh.target().name, c.shown(), ovm::failure_name(s.answer.failure),
                                  s.answer.error.empty() ? "no Error Msg" : s.answer.error));
    return s;
  }

  static std::string error_class(ovm::CliFailure f) {
    switch (f) {
      case ovm::CliFailure::InUse:
      case ovm::CliFailure::Exists: return "conflict";
      case ovm::CliFailure::NotFound: return "fatal";
      default: return "command";
    }
  }

  static ovm::CliCommand show(const std::string& type, const std::string& key, const std::string& value) {
    return {"show", type, {{key, value}}, "", {}};
  }

  static ParamSchema manager_param() {
    return schema::required("manager", ParamType::SshTarget,
                            "the manager's CLI as an SSH target of the environment (port 10000, user admin)");
  }
};

class OvmCli : public OvmStep {
 public:
  OvmCli()
      : OvmStep("ovm.cli", StepKind::Once,
                "run one Oracle VM Manager CLI command (ssh -p 10000 admin@manager) and read its answer",
                {required("manager", ParamType::SshTarget,
                           "the manager's CLI as an SSH target of the environment (port 10000, user admin, password "
                           "or key as a secret reference)"),
                  required("verb", ParamType::String,
                           "show, list, getXxx (reads: run live in a dry run), or create, delete, add, remove, edit, "
                           "refresh, start, stop... (writes)"),
                  optional("object", ParamType::String, nullptr, "the object type: Vm, Vnic, VmDiskMapping, Repository..."),
                  optional("attributes", ParamType::Map, Value::object(),
                           "the object's attributes, name: value (id and name identify it); values are quoted for the CLI"),
                  optional("on", ParamType::Map, nullptr, "create ... on {object: ServerPool, name: ...}"),
                  optional("to", ParamType::Map, nullptr, "add ... to {object: Vm, name: ...}"),
                  optional("from", ParamType::Map, nullptr, "remove ... from {object: Vm, name: ...}"),
                  optional("missing_ok", ParamType::Bool, false,
                           "a show of an object that does not exist succeeds with found: false (to skip what is absent)")},
                 {{"status", false, "Success or Failure"},
                  {"found", false, "false when missing_ok and the object does not exist"},
                  {"id", false, "the object's id (a show's Id, the object a create made)"},
                  {"name", false, "the object's name"},
                  {"job_id", false, "the manager's job id of a write"},
                  {"fields", false, "every field of a show, by name (a [label] kept apart in labels)"},
                  {"labels", false, "the [label] of each field that has one"},
                  {"lists", false, "numbered fields by name: lists.Vnic, lists.VmDiskMapping, each [{id, name}]"},
                  {"items", true, "the lines of a list, each {id, name, ...}"}}) {}

  void check_rules(const StepContext& ctx) const override {
    ovm::CliCommand c = build_command(ctx);
    if (ctx.flag("missing_ok") && !c.reads()) throw StepRuleError("missing_ok is for show, list and getXxx");
  }

 protected:
  StepResult run(const StepContext& ctx) const override {
    ovm::CliCommand c = build_command(ctx);
    Sent sent = cli(ctx, c, ctx.flag("missing_ok"));
    StepResult out;
    if (sent.rehearsed) {
      // A write a rehearsal did not make answers as on success; its ids are
      // known only at run time.
      out.outputs = {{"status", "Success"}, {"found", true}};
      return out;
    }
    out.outputs = sent.answer.to_value();
    out.outputs["found"] = sent.answer.success;  // false only for missing_ok's absent object
    return out;
  }

  // Done only on evidence of the command's own effect: a create's object
  // exists (its id captured), a delete's is gone, a started VM runs, a
  // stopped one is stopped, an added vNIC is listed by its VM. A read or a
  // refresh is simply made again.
  CheckResult probe(const StepContext& ctx, Value& outputs) const override {
    ovm::CliCommand c = build_command(ctx);
    if (c.reads() || c.verb == "refresh") return CheckResult::NotDone;
    const std::string key = key_of(c);
    if (const Transition t = transition(c); !t.target.empty()) {
      Sent vm = cli(ctx, show(c.object, key, c.attribute(key)), true);
      if (!vm.answer.success) return CheckResult::Unknown;
      const std::string status = vm.answer.field("Status");
      return status == t.target ? CheckResult::Done : status == t.under_way ? CheckResult::InProgress : CheckResult::NotDone;
    }
    if (c.verb == "add" && c.relation == "to" && !c.attribute("name").empty()) {
      Sent to = cli(ctx, show(c.related.type, c.related.key, c.related.value), true);
      if (!to.answer.success) return CheckResult::Unknown;
      if (to.answer.lists.count(c.object))
        for (auto& item : to.answer.lists.at(c.object))
          if (item.name == c.attribute("name")) return CheckResult::Done;
      return CheckResult::NotDone;
    }
    if (key.empty() || c.object.empty() || (c.verb != "create" && c.verb != "delete")) return CheckResult::Unknown;
    Sent found = cli(ctx, show(c.object, key, c.attribute(key)), true);
    const bool absent = !found.answer.success;  // cli() let through only a not-found failure
    if (c.verb == "delete") return absent ? CheckResult::Done : CheckResult::NotDone;
    if (absent) return CheckResult::NotDone;
    // A name need not be unique (every VM may have a mapping "xvda"): a
    // create `on` an object is done only when the object found belongs to
    // that one, where its answer says whom it belongs to.
    if (c.relation == "on" && !related_to(found.answer, c.related)) return CheckResult::NotDone;
    outputs = found.answer.to_value();
    outputs["found"] = true;
    return CheckResult::Done;
  }

  // A VM's start or stop goes on as the manager's job once accepted (and
  // after a run was cut off in the middle of it): the step ends when the VM
  // is there, not when the command was taken.
  void verify(const StepContext& ctx) const override {
    const ovm::CliCommand c = build_command(ctx);
    const Transition t = transition(c);
    if (t.target.empty() || c.object != "Vm") return;  // a VM's status is what the CLI shows of it
    const std::string key = key_of(c);
    const std::string what = fmt::format("{} {} is {}", c.object, c.attribute(key), t.target);
    Poller poller(ctx.services().runner, {std::chrono::milliseconds(500), std::chrono::seconds(5)},
                  ctx.services().should_stop);
    const Poller::Outcome outcome = poller.wait(ctx.ssh("manager").name, what, std::chrono::hours(24 * 7), [&] {
      const std::string status = cli(ctx, show(c.object, key, c.attribute(key))).answer.field("Status");
      if (status != t.target && status != t.under_way)
        throw StepError("command", fmt::format("{} {} is {} after `{}`, neither {} nor {}: see the manager's jobs for "
                                               "why, then run again",
                                               c.object, c.attribute(key), status.empty() ? "without a status" : status,
                                               c.shown(), t.under_way, t.target));
      return status == t.target;
    });
    if (outcome == Poller::Outcome::Stopped) throw Interrupted("stopped while waiting until " + what);
  }

 private:
  // What a start or stop leads to, and the status on the way.
  struct Transition {
    std::string target, under_way;  // empty: not a start or stop of an object named by id or name
  };
  static Transition transition(const ovm::CliCommand& c) {
    if (c.object.empty() || key_of(c).empty()) return {};
    if (c.verb == "start") return {"Running", "Starting"};
    if (c.verb == "stop") return {"Stopped", "Stopping"};
    return {};
  }
  static std::string key_of(const ovm::CliCommand& c) {
    return !c.attribute("id").empty() ? "id" : !c.attribute("name").empty() ? "name" : "";
  }
};

// The CLI's field names for the attributes `create Vm` takes.
const std::pair<const char*, const char*> kVmAttributes[] = {
    {"Memory (MB)", "memory"},     {"Processors", "cpuCount"},         {"Domain Type", "domainType"},
    {"Operating System", "osType"}, {"Boot Order 1", "bootOrder"},      {"High Availability", "highAvailability"}};

class OvmVmCapture : public OvmStep {
 public:
  OvmVmCapture()
      : OvmStep("ovm.vm.capture", StepKind::Read,
                  "read a VM's definition through the OVM CLI: attributes, vNICs with their MACs, disk mappings with "
                  "their slots (what ovm.vm.recreate needs), and the CLI script that recreates it",
                  {manager_param(), required("vm", ParamType::String, "the VM's name"),
                   optional("disk", ParamType::String, nullptr,
                            "a virtual disk of the VM (its name or file): its mapping is returned as `disk`")},
                  {{"definition", false, "{name, id, repository, server_pool, status, attributes, vnics, disks}"},
                   {"script", false, "the OVM CLI commands that recreate the VM"},
                   {"disk", false, "with `disk`: {slot, name, disk, disk_id, file, mapping_id}"}}) {}

 protected:
  StepResult run(const StepContext& ctx) const override {
    const std::string name = ctx.text("vm");
    ovm::CliAnswer vm = cli(ctx, show("Vm", "name", name)).answer;
    Value d = {{"name", name},
               {"id", vm.id()},
               {"status", vm.field("Status")},
               {"repository", vm.labels.count("Repository") ? vm.labels.at("Repository") : vm.field("Repository")},
               {"repository_id", vm.field("Repository")},
               {"server_pool", vm.labels.count("Server Pool") ? vm.labels.at("Server Pool") : vm.field("Server Pool")},
               {"attributes", Value::object()},
               {"vnics", Value::array()},
               {"disks", Value::array()}};
    for (auto& [field, attr] : kVmAttributes)
      if (!vm.field(field).empty()) d["attributes"][attr] = vm.field(field);
    if (vm.lists.count("Vnic"))
      for (auto& n : vm.lists.at("Vnic")) {
        ovm::CliAnswer a = cli(ctx, show("Vnic", "id", n.id)).answer;
        std::string mac = a.field("Mac Address").empty() ? n.name : a.field("Mac Address");
        d["vnics"].push_back({{"mac", mac}, {"network", a.labels.count("Network") ? a.labels.at("Network") : a.field("Network")}});
      }
    StepResult out;
    if (vm.lists.count("VmDiskMapping"))
      for (auto& m : vm.lists.at("VmDiskMapping")) {
        ovm::CliAnswer a = cli(ctx, show("VmDiskMapping", "id", m.id)).answer;
        const std::string disk_id = a.field("Virtual Disk Id");
        ovm::CliAnswer disk = cli(ctx, show("VirtualDisk", "id", disk_id)).answer;
        std::string path = disk.field("Path");
        Value entry = {{"slot", std::atoi(a.field("Slot").c_str())},
                       {"name", a.field("Name")},
                       {"disk", disk.field("Name")},
                       {"disk_id", disk_id},
                       {"file", path.substr(path.rfind('/') + 1)},
                       {"mapping_id", m.id}};
        if (ctx.has("disk") && (ctx.text("disk") == entry["disk"] || ctx.text("disk") == entry["file"]))
          out.outputs["disk"] = entry;
        d["disks"].push_back(entry);
      }
    if (ctx.has("disk") && !out.outputs.contains("disk"))
      throw StepError("fatal", fmt::format("VM {} has no disk {} mapped (its disks: {}); check the disk's name with "
                                           "`show Vm name={}`",
                                           name, ctx.text("disk"), d["disks"].size(), name));
    out.outputs["definition"] = d;
    out.outputs["script"] = script(d);
    return out;
  }

 private:
  // The recreate script, as the talk keeps one per VM.
  static std::string script(const Value& d) {
    ovm::CliCommand vm{"create", "Vm", {{"name", d["name"]}, {"repository", d["repository"]}}, "on",
                       {"ServerPool", "name", d["server_pool"]}};
    for (auto& [k, v] : d["attributes"].items()) vm.attributes.emplace_back(k, v.get<std::string>());
    std::string out = vm.line() + "\n";
    for (auto& n : d["vnics"]) {
      out += ovm::CliCommand{"create", "Vnic", {{"name", n["mac"]}, {"network", n["network"]}}, "", {}}.line() + "\n";
      out += ovm::CliCommand{"add", "Vnic", {{"name", n["mac"]}}, "to", {"Vm", "name", d["name"]}}.line() + "\n";
    }
    for (auto& k : d["disks"])
      out += ovm::CliCommand{"create", "VmDiskMapping",
                             {{"slot", std::to_string(k["slot"].get<int>())}, {"storageDevice", k["disk"]}, {"name", k["name"]}},
                             "on", {"Vm", "name", d["name"]}}
                 .line() + "\n";
    return out;
  }
};

class OvmVmRecreate : public OvmStep {
 public:
  OvmVmRecreate()
      : OvmStep("ovm.vm.recreate", StepKind::Idempotent,
                  "define a VM again from its captured definition (ovm.vm.capture): the VM, its vNICs with the same "
                  "MACs, its disks mapped in the same slots; what exists already is left as it is, so a repeat "
                  "(a resumed run) never creates anything twice",
                  {manager_param(), required("definition", ParamType::Map, "the VM's definition, as captured")},
                  {{"id", false, "the VM's id"},
                   {"created", false, "whether the VM itself was created (false: it existed)"},
                   {"added", true, "what was added, as CLI command lines"}}) {}

  void check_rules(const StepContext& ctx) const override {
    if (!ctx.params().contains("definition")) return;  // a missing parameter is reported by validation
    const Value& d = ctx.params()["definition"];
    if (is_deferred(d) || contains_deferred(d)) return;
    if (!d.is_object()) throw StepRuleError("definition must be a map, as ovm.vm.capture gives it");
    for (const char* key : {"name", "repository", "server_pool"})
      if (!d.contains(key)) throw StepRuleError(std::string("definition has no `") + key + "`");
  }

 protected:
  StepResult run(const StepContext& ctx) const override {
    Missing m = missing(ctx, ctx.params().at("definition"));
    StepResult out;
    out.outputs = {{"id", m.id}, {"created", !m.exists}, {"added", Value::array()}};
    for (const ovm::CliCommand& c : m.writes) {
      out.outputs["added"].push_back(c.line());
      Sent made = cli(ctx, c);
      if (!m.exists && c.verb == "create" && c.object == "Vm") out.outputs["id"] = made.answer.id();
    }
    return out;
  }

  // Done when the VM has every MAC and every disk of its definition in
  // that disk's slot: nothing is missing.
  CheckResult probe(const StepContext& ctx, Value& outputs) const override {
    Missing m = missing(ctx, ctx.params().at("definition"));
    if (!m.exists || !m.writes.empty()) return CheckResult::NotDone;
    outputs = {{"id", m.id}, {"created", false}, {"added", Value::array()}};
    return CheckResult::Done;
  }

 private:
  struct Missing {
    bool exists = false;  // the VM itself
    std::string id;       // its id when it exists
    std::vector<ovm::CliCommand> writes;  // what makes it whole, in order
  };

  // A part of the definition; of one known only at run time (an offline
  // dry run's loop item), that part as a deferred value.
  static Value part(const Value& d, const char* key) {
    if (is_deferred(d)) return deferred(deferred_text(d) + "." + key);
    if (!d.contains(key)) throw StepError("fatal", fmt::format("a VM definition has no `{}`: {}", key, dump_json(d).substr(0, 200)));
    return d[key];
  }

  // Every read before any write: what the VM lacks is decided from the
  // manager as it is, so a dry run, which makes no read after a write of
  // its step, shows every command the run sends.
  static Missing missing(const StepContext& ctx, const Value& d) {
    const std::string name = to_text(part(d, "name"));
    Missing m;
    Sent vm = cli(ctx, show("Vm", "name", name), true);
    m.exists = vm.answer.success;
    m.id = vm.answer.id();
    std::vector<std::string> macs;
    std::map<int, std::string> disk_in_slot;
    if (m.exists) {
      if (vm.answer.lists.count("Vnic"))
        for (auto& n : vm.answer.lists.at("Vnic")) macs.push_back(n.name);
      if (vm.answer.lists.count("VmDiskMapping"))
        for (auto& k : vm.answer.lists.at("VmDiskMapping")) {
          ovm::CliAnswer a = cli(ctx, show("VmDiskMapping", "id", k.id)).answer;
          disk_in_slot[std::atoi(a.field("Slot").c_str())] =
              a.labels.count("Virtual Disk Id") ? a.labels.at("Virtual Disk Id") : a.field("Virtual Disk Id");
        }
    } else {
      ovm::CliCommand c{"create", "Vm", {{"name", name}, {"repository", to_text(part(d, "repository"))}}, "on",
                        {"ServerPool", "name", to_text(part(d, "server_pool"))}};
      if (d.contains("attributes"))
        for (auto& [k, v] : d["attributes"].items()) c.attributes.emplace_back(k, to_text(v));
      m.writes.push_back(std::move(c));
    }
    if (d.contains("vnics"))
      for (auto& n : d["vnics"]) {
        const std::string mac = to_text(part(n, "mac"));
        if (std::find(macs.begin(), macs.end(), mac) != macs.end()) continue;
        // A vNIC left by an interrupted run is added, not created again.
        if (!cli(ctx, show("Vnic", "name", mac), true).answer.success)
          m.writes.push_back({"create", "Vnic", {{"name", mac}, {"network", to_text(part(n, "network"))}}, "", {}});
        m.writes.push_back({"add", "Vnic", {{"name", mac}}, "to", {"Vm", "name", name}});
      }
    if (d.contains("disks"))
      for (auto& k : d["disks"]) {
        const Value slot_value = part(k, "slot");
        const int slot = slot_value.is_number() ? slot_value.get<int>() : std::atoi(to_text(slot_value).c_str());
        const std::string disk = to_text(part(k, "disk"));
        auto there = disk_in_slot.find(slot);
        if (there == disk_in_slot.end())
          m.writes.push_back({"create", "VmDiskMapping",
                              {{"slot", std::to_string(slot)}, {"storageDevice", disk}, {"name", to_text(part(k, "name"))}},
                              "on", {"Vm", "name", name}});
        else if (there->second != disk)
          // Left as it is, the VM would come back with another disk where
          // its definition has this one.
          throw StepError("conflict", fmt::format("VM {} has disk {} in slot {}, where its definition maps {}; remove "
                                                  "that mapping (delete VmDiskMapping) or fix the definition, then run "
                                                  "again",
                                                  name, there->second, slot, disk));
      }
    return m;
  }
};

// The definitions file ovm-backup writes ({vms: [definition...]}), read
// and checked so a later loop gets a list of whole definitions.
class OvmVmDefinitions : public HostStep {
 public:
  OvmVmDefinitions()
      : HostStep("ovm.vm.definitions", StepKind::Read,
                 "read the VM definitions ovm-backup captured (JSON {vms: [...]}) from a host",
                 {optional("host", ParamType::SshTarget, "backup_storage", "where the file is"),
                  required("path", ParamType::RemotePath, "the definitions file")},
                 {{"vms", true, "each VM's definition, as ovm.vm.capture gives it"},
                  {"names", true, "the VMs' names"}}) {}

 protected:
  StepResult run(const StepContext& ctx) const override {
    SshSession& ssh = session(ctx);
    ExecResult r = exec_ok(ctx, ssh, {"cat", "--", ctx.text("path")}, Effect::Reads);
    Value file = Value::parse(r.stdout_tail, nullptr, false);
    if (!file.is_object() || !file.contains("vms") || !file["vms"].is_array())
      throw StepError("fatal", fmt::format("{}: {} is not a VM definitions file (JSON with a list `vms`, as ovm-backup "
                                           "writes it)",
                                           ssh.target().name, ctx.text("path")));
    StepResult out;
    out.outputs = {{"vms", Value::array()}, {"names", Value::array()}};
    for (auto& d : file["vms"]) {
      if (!d.is_object() || !d.contains("name") || !d.contains("repository") || !d.contains("server_pool"))
        throw StepError("fatal", fmt::format("{}: {}: a VM definition lacks name, repository or server_pool: {}",
                                             ssh.target().name, ctx.text("path"), dump_json(d).substr(0, 200)));
      out.outputs["vms"].push_back(d);
      out.outputs["names"].push_back(d["name"]);
    }
    return out;
  }
};

// discoverServer: a server back under a (reinstalled) manager. The agent
// password is a secret reference, resolved only here and given to the CLI
// on its session's standard input, never on a command line.
class OvmServerDiscover : public OvmStep {
 public:
  OvmServerDiscover()
      : OvmStep("ovm.server.discover", StepKind::Idempotent,
                "discover an Oracle VM server through the OVM CLI (discoverServer), its agent password given on the "
                "CLI session's standard input; skipped when the manager knows the server",
                {manager_param(),
                 required("server", ParamType::String, "the server's address as the manager reaches it (ipAddress=)"),
                 required("password", ParamType::Secret, "the server's Oracle VM agent password (a secret reference)"),
                 optional("take_ownership", ParamType::Bool, false,
                          "takeOwnership=Yes: take a server another manager owns (not needed with the same UUID)")},
                {{"id", false, "the server's id in the manager"}, {"discovered", false, "false when it was known"}}) {}

 protected:
  StepResult run(const StepContext& ctx) const override {
    StepResult out;
    // A dry run shows the discovery: the manager it would ask may not run
    // yet (its reinstall only shown).
    const bool rehearsal = ctx.services().runner && ctx.services().runner->rehearsal();
    if (!rehearsal) {
      Sent known = cli(ctx, show("Server", "name", ctx.text("server")), true);
      if (known.answer.success) {
        out.outputs = {{"id", known.answer.id()}, {"discovered", false}};
        return out;
      }
    }
    ovm::CliCommand c{"discoverServer", "", {{"ipAddress", ctx.text("server")}, {"password", ctx.secret("password")}}, "", {}};
    if (ctx.flag("take_ownership")) c.attributes.emplace_back("takeOwnership", "Yes");
    Sent sent = cli(ctx, c);
    out.outputs = {{"id", sent.answer.id()}, {"discovered", true}};
    return out;
  }

  CheckResult probe(const StepContext& ctx, Value& outputs) const override {
    Sent known = cli(ctx, show("Server", "name", ctx.text("server")), true);
    if (!known.answer.success) return CheckResult::NotDone;
    outputs = {{"id", known.answer.id()}, {"discovered", false}};
    return CheckResult::Done;
  }
};

// The manager's .config as ovm-backup keeps it (KEY=VALUE lines): its UUID
// is what a reinstall must reuse, so the servers and repositories, which
// record their manager's UUID, take the new manager for the old one.
class OvmManagerConfig : public HostStep {
 public:
  OvmManagerConfig()
      : HostStep("ovm.manager.config", StepKind::Read,
                 "read an Oracle VM Manager .config (the copy ovm-backup keeps) from a host: its UUID and fields",
                 {optional("host", ParamType::SshTarget, "backup_storage", "where the file is"),
                  // Optional for the loader: a plan that reinstalls only when given a
                  // .config names it from a parameter that may be empty.
                  optional("path", ParamType::String, "", "the .config file (required to run)")},
                 {{"uuid", false, "the manager's UUID (UUID=)"}, {"fields", false, "every KEY=VALUE"}}) {}

 protected:
  StepResult run(const StepContext& ctx) const override {
    if (ctx.text("path").empty()) throw StepError("fatal", "ovm.manager.config needs path: the manager's .config file");
    SshSession& ssh = session(ctx);
    ExecResult r = exec_ok(ctx, ssh, {"cat", "--", ctx.text("path")}, Effect::Reads);
    StepResult out;
    out.outputs = {{"fields", Value::object()}};
    size_t at = 0;
    for (size_t nl; at < r.stdout_tail.size(); at = nl + 1) {
      nl = r.stdout_tail.find('\n', at);
      if (nl == std::string::npos) nl = r.stdout_tail.size();
      const std::string line = r.stdout_tail.substr(at, nl - at);
      const size_t eq = line.find('=');
      if (eq != std::string::npos && eq > 0) out.outputs["fields"][line.substr(0, eq)] = line.substr(eq + 1);
    }
    const Value& f = out.outputs["fields"];
    const std::string uuid = f.contains("UUID") ? f["UUID"].get<std::string>() : "";
    if (uuid.size() != 32 || uuid.find_first_not_of("0123456789abcdef") != std::string::npos)
      throw StepError("fatal", fmt::format("{}: {} has no manager UUID (a line UUID= with 32 hex digits): is it the "
                                           "manager's .config as ovm-backup copies it?",
                                           ssh.target().name, ctx.text("path")));
    out.outputs["uuid"] = uuid;
    return out;
  }
};

}  // namespace

void register_ovm_steps(StepCatalog& c) {
  c.add(std::make_unique<OvmServerDiscover>());
  c.add(std::make_unique<OvmManagerConfig>());
  c.add(std::make_unique<OvmVmDefinitions>());
  c.add(std::make_unique<OvmCli>());
  c.add(std::make_unique<OvmVmCapture>());
  c.add(std::make_unique<OvmVmRecreate>());
}

}  // namespace she
