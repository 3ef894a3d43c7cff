// The Oracle VM Manager command line as a step (`ovm.cli`): one CLI command
// as data, sent over SSH to the manager's CLI port (the environment names
// the manager as an SSH target: port 10000, user admin, a password or key
// reference), its answer parsed into outputs later steps can use. show,
// list and getXxx are reads a dry run performs live; every other verb is a
// write the runner records.
#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>

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

  static Sent cli(const StepContext& ctx, const ovm::CliCommand& c, bool missing_ok = false) {
    SshSession& ssh = session(ctx, "manager");
    const std::string line = c.line();
    ExecOptions o;
    o.runner = ctx.services().runner;
    o.writes = !c.reads();
    o.should_stop = ctx.services().should_stop;
    if (ctx.services().progress && !c.reads()) ctx.services().progress(ssh.target().name + ": OVM> " + line);
    ExecResult r = ssh.exec(line, o);
    Sent s;
    if (r.rehearsed) {
      s.rehearsed = true;
      s.answer.parsed = s.answer.success = true;
      return s;
    }
    s.answer = ovm::parse_cli_answer(r.stdout_tail);
    if (!s.answer.parsed)
      throw StepError("command", fmt::format("{}: no OVM CLI answer to `{}` (exit {}): {}", ssh.target().name, line,
                                             r.exit_status, (r.stderr_tail.empty() ? r.stdout_tail : r.stderr_tail).substr(0, 300)));
    if (!s.answer.success && !(missing_ok && s.answer.failure == ovm::CliFailure::NotFound))
      throw StepError(error_class(s.answer.failure),
                      fmt::format("{}: the OVM CLI refused `{}` ({}): {}; fix what the manager names, then run again",
                                  ssh.target().name, line, ovm::failure_name(s.answer.failure),
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
    const std::string key = !c.attribute("id").empty() ? "id" : !c.attribute("name").empty() ? "name" : "";
    if ((c.verb == "start" || c.verb == "stop") && !c.object.empty() && !key.empty()) {
      Sent vm = cli(ctx, show(c.object, key, c.attribute(key)), true);
      if (!vm.answer.success) return CheckResult::Unknown;
      return vm.answer.field("Status") == (c.verb == "start" ? "Running" : "Stopped") ? CheckResult::Done
                                                                                      : CheckResult::NotDone;
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
    outputs = found.answer.to_value();
    outputs["found"] = true;
    return CheckResult::Done;
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
    const Value& d = ctx.params().at("definition");
    const std::string name = to_text(d["name"]);
    Value added = Value::array();
    auto write = [&](const ovm::CliCommand& c) {
      added.push_back(c.line());
      return cli(ctx, c);
    };
    Sent vm = cli(ctx, show("Vm", "name", name), true);
    const bool exists = vm.answer.success;
    std::string id = vm.answer.id();
    std::vector<std::string> macs;
    std::vector<int> slots;
    if (exists) have(ctx, vm.answer, macs, slots);
    else {
      ovm::CliCommand c{"create", "Vm", {{"name", name}, {"repository", to_text(d["repository"])}}, "on",
                        {"ServerPool", "name", to_text(d["server_pool"])}};
      if (d.contains("attributes"))
        for (auto& [k, v] : d["attributes"].items()) c.attributes.emplace_back(k, to_text(v));
      Sent made = write(c);
      id = made.answer.id();
    }
    if (d.contains("vnics"))
      for (auto& n : d["vnics"]) {
        const std::string mac = to_text(n["mac"]);
        if (std::find(macs.begin(), macs.end(), mac) != macs.end()) continue;
        // A vNIC left by an interrupted run is added, not created again.
        if (!cli(ctx, show("Vnic", "name", mac), true).answer.success)
          write({"create", "Vnic", {{"name", mac}, {"network", to_text(n["network"])}}, "", {}});
        write({"add", "Vnic", {{"name", mac}}, "to", {"Vm", "name", name}});
      }
    if (d.contains("disks"))
      for (auto& k : d["disks"]) {
        int slot = k["slot"].is_number() ? k["slot"].get<int>() : std::atoi(to_text(k["slot"]).c_str());
        if (std::find(slots.begin(), slots.end(), slot) != slots.end()) continue;
        write({"create", "VmDiskMapping",
               {{"slot", std::to_string(slot)}, {"storageDevice", to_text(k["disk"])}, {"name", to_text(k["name"])}},
               "on", {"Vm", "name", name}});
      }
    StepResult out;
    out.outputs = {{"id", id}, {"created", !exists}, {"added", added}};
    return out;
  }

  // Done when the VM has every MAC and every slot of its definition.
  CheckResult probe(const StepContext& ctx, Value& outputs) const override {
    const Value& d = ctx.params().at("definition");
    Sent vm = cli(ctx, show("Vm", "name", to_text(d["name"])), true);
    if (!vm.answer.success) return CheckResult::NotDone;
    std::vector<std::string> macs;
    std::vector<int> slots;
    have(ctx, vm.answer, macs, slots);
    if (d.contains("vnics"))
      for (auto& n : d["vnics"])
        if (std::find(macs.begin(), macs.end(), to_text(n["mac"])) == macs.end()) return CheckResult::NotDone;
    if (d.contains("disks"))
      for (auto& k : d["disks"])
        if (std::find(slots.begin(), slots.end(), k["slot"].get<int>()) == slots.end()) return CheckResult::NotDone;
    outputs = {{"id", vm.answer.id()}, {"created", false}, {"added", Value::array()}};
    return CheckResult::Done;
  }

 private:
  // The MACs of a VM's vNICs and the slots its disks are mapped in.
  static void have(const StepContext& ctx, const ovm::CliAnswer& vm, std::vector<std::string>& macs, std::vector<int>& slots) {
    if (vm.lists.count("Vnic"))
      for (auto& n : vm.lists.at("Vnic")) macs.push_back(n.name);
    if (vm.lists.count("VmDiskMapping"))
      for (auto& m : vm.lists.at("VmDiskMapping"))
        slots.push_back(std::atoi(cli(ctx, show("VmDiskMapping", "id", m.id)).answer.field("Slot").c_str()));
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

}  // namespace

void register_ovm_steps(StepCatalog& c) {
  c.add(std::make_unique<OvmVmDefinitions>());
  c.add(std::make_unique<OvmCli>());
  c.add(std::make_unique<OvmVmCapture>());
  c.add(std::make_unique<OvmVmRecreate>());
}

}  // namespace she
