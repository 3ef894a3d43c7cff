// Step types of the legacy self-hosted deploy (oVirt/RHV 4.0-4.2,
// `hosted-engine --deploy --noansible`, seed 000): start the dialog in a
// screen session and drive it to its first "Continue setup" menu, then,
// once the plan has restored the engine inside the new VM and removed the
// stale host, answer the menus and follow the deploy to its end. The
// dialog lives on the host, not in she-restore: a run cut off between
// these steps finds it where it was.
#include <fmt/format.h>
#include <functional>
#include <optional>

#include "base/poller.h"
#include "engine_api/restored_engine.h"
#include "hosts/hosted_engine_command.h"
#include "hosts/legacy_deploy_dialog.h"
#include "workflows/steps/host_step.h"
#include "workflows/steps/schema.h"

namespace she {

using namespace schema;

namespace {

constexpr size_t kTranscriptLimit = 8 << 20;
/// How often one question may be answered before the step takes the
/// tool's repeated asking as a refusal of the answer.
constexpr int kAnswerLimit = 3;

ParamSchema dialog_param() {
  return optional("dialog", ParamType::Map, Value::object(),
                  "answers typed at the terminal, by the tool's exact question (as the seed quotes it), for what "
                  "the answer file cannot carry (a detected LUN, an iSCSI target); any other question stops the step");
}

/// A dialog answer goes through screen's command parser and the terminal:
/// plain printable text only.
void check_dialog_answers(const StepContext& ctx) {
  if (!ctx.has("dialog")) return;
  for (auto& [question, answer] : ctx.params()["dialog"].items()) {
    const std::string a = answer.is_string() ? answer.get<std::string>() : answer.dump();
    if (a.size() > 200 ||
        a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 _.,:/@=+-") != std::string::npos)
      throw StepRuleError(fmt::format("dialog answer to '{}' must be at most 200 letters, digits, spaces or _.,:/@=+-",
                                      question));
  }
}

/// One deploy dialog seen through its transcript: reads it, narrates what
/// is new, types answers, and waits for a state of it.
class DialogDriver {
 public:
  /// `respond` gives the answer to the question the dialog asks, or
  /// nothing when the question is not one this step may answer.
  using Respond = std::function<std::optional<std::string>(const LegacyDialogView&)>;

  DialogDriver(const StepContext& ctx, SshSession& ssh, Respond respond)
      : ctx_(ctx), ssh_(ssh), respond_(std::move(respond)) {}

  LegacyDialogView read() {
    ExecOptions o = options(false);
    std::string text;
    o.on_stdout = [&](const char* d, size_t n) {
      if (text.size() < kTranscriptLimit) text.append(d, std::min(n, kTranscriptLimit - text.size()));
    };
    ExecResult r = ssh_.exec(shell_join({"cat", "--", kLegacyTranscript}), o);
    if (r.exit_status != 0) text.clear();
    narrate(text);
    last_size_ = text.size();
    return read_legacy_dialog(text);
  }

  bool running() {
    ExecResult r = ssh_.exec(shell_join(legacy_deploy_list_argv()), options(false));
    return legacy_session_listed(r.stdout_tail);
  }

  void answer(const std::string& text, std::map<std::string, std::string> expects = {}) {
    if (ctx_.services().progress) ctx_.services().progress(fmt::format("{}: answering the deploy: {}", ssh_.target().name, text));
    ExecOptions o = options(true);
    o.expects = std::move(expects);
    ExecResult r = ssh_.exec(shell_join(legacy_deploy_answer_argv(text)), o);
    if (r.exit_status != 0)
      throw StepError("command", fmt::format("{}: could not type at the deploy's terminal (screen session {}): {}",
                                             ssh_.target().name, kLegacySession,
                                             (r.stdout_tail + r.stderr_tail).substr(0, 300)));
    answered_at_ = last_size_;  // until the tool echoes it, the question still shows
  }

  /// Waits until `until` holds of the dialog, answering what `respond`
  /// answers on the way. Stops the step on a question it may not answer,
  /// on the tool's own end without `until`, and when the session is gone.
  /// Reached or, in a rehearsal, assumed: true.
  bool wait(const std::string& what, const std::function<bool(const LegacyDialogView&)>& until) {
    Poller poller(ctx_.services().runner, output_follow_policy(ctx_), ctx_.services().should_stop);
    const bool rehearsal = ctx_.services().runner && ctx_.services().runner->rehearsal();
    size_t last_seen = SIZE_MAX;
    auto look = [&] {
      // Asked before the read: a session that had ended then has written
      // all it will.
      const bool alive = rehearsal || running();
      const LegacyDialogView v = read();
      const bool moved = v.size != last_seen;
      last_seen = v.size;
      if (until(v)) return Poller::Look::Reached;
      if (rehearsal) return Poller::Look::Still;
      if (v.aborted) fail(v, "the deploy ended");
      if (v.asks) {
        // A question is acted on once it stands still (the line is whole)
        // and not while the tool has yet to take the last answer.
        if (moved) return Poller::Look::Moving;
        if (v.size == answered_at_) return Poller::Look::Still;
        const std::optional<std::string> a = respond_(v);
        if (!a) unexpected(v);
        if (++times_[v.question] > kAnswerLimit)
          fail(v, fmt::format("it asked '{}' again after {} answers", v.question, kAnswerLimit));
        answer(*a);
        return Poller::Look::Moving;  // its echo and the next question come soon
      }
      if (!alive) fail(v, "its screen session ended");
      return moved ? Poller::Look::Moving : Poller::Look::Still;
    };
    switch (poller.follow(ssh_.target().name, what, std::chrono::hours(24 * 7), look)) {
      case Poller::Outcome::Reached:
      case Poller::Outcome::Assumed: return true;
      case Poller::Outcome::Stopped:
      case Poller::Outcome::TimedOut: break;
    }
    throw Interrupted(fmt::format("stopped while waiting until {} (the deploy goes on in screen session {}: screen -r {})",
                                  what, kLegacySession, kLegacySession));
  }

  [[noreturn]] void fail(const LegacyDialogView& v, const std::string& why) const {
    throw StepError("command",
                    fmt::format("{}: {}: {}. Its terminal's transcript is {} on the host", ssh_.target().name, why,
                                v.errors.empty() ? std::string("no error line") : fmt::format("{}", fmt::join(v.errors, " | ")),
                                kLegacyTranscript));
  }

 private:
  ExecOptions options(bool writes) const {
    ExecOptions o;
    o.runner = ctx_.services().runner;
    o.writes = writes;
    o.should_stop = ctx_.services().should_stop;
    return o;
  }

  [[noreturn]] void unexpected(const LegacyDialogView& v) const {
    std::string menu;
    for (const auto& l : v.menu_lines) menu += " " + l;
    throw StepError("fatal", fmt::format("{}: the deploy asks a question this step does not answer: '{}'{}{}. Answer it "
                                         "by hand (screen -r {}) or give the answer in `dialog` (or the answer "
                                         "file), then run again",
                                         ssh_.target().name, v.question, menu.empty() ? "" : " (menu:" + menu + ")",
                                         v.errors.empty() ? "" : fmt::format("; before it: {}", fmt::join(v.errors, " | ")),
                                         kLegacySession));
  }

  /// Shows each whole line once.
  void narrate(const std::string& text) {
    if (!ctx_.services().progress || text.size() < narrated_) return;
    for (size_t nl; (nl = text.find('\n', narrated_)) != std::string::npos; narrated_ = nl + 1) {
      std::string line = text.substr(narrated_, nl - narrated_);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) ctx_.services().progress(ssh_.target().name + ": " + line);
    }
  }

  const StepContext& ctx_;
  SshSession& ssh_;
  Respond respond_;
  size_t answered_at_ = SIZE_MAX;
  size_t last_size_ = 0;
  size_t narrated_ = 0;
  std::map<std::string, int> times_;
};

/// The plan's answers to the dialog's own questions.
DialogDriver::Respond plan_answers(const StepContext& ctx) {
  Value dialog = ctx.has("dialog") ? ctx.params()["dialog"] : Value::object();
  return [dialog](const LegacyDialogView& v) -> std::optional<std::string> {
    auto it = dialog.find(v.question);
    if (it == dialog.end()) return std::nullopt;
    return it->is_string() ? it->get<std::string>() : it->dump();
  };
}

LegacyMenu menu_of(const std::string& name) {
  return name == "vm_installation" ? LegacyMenu::VmInstallation : LegacyMenu::EngineInstallation;
}

bool at_menu(const LegacyDialogView& v, LegacyMenu m) { return v.asks && v.menu == m; }

class LegacyDeploy : public HostStep {
 public:
  LegacyDeploy()
      : HostStep("hosted_engine.legacy_deploy", StepKind::Once,
                 "start the legacy (4.0-4.2) deploy, hosted-engine --deploy --noansible, in a screen session, and "
                 "drive its dialog to the first \"Continue setup\" menu",
                 {required("host", ParamType::SshTarget, "the host that deploys (the failover host)"),
                  optional("answer_file", ParamType::RemotePath, "/root/she-restore-legacy-answers.conf",
                           "generated otopi answer file (0600; removed once the deploy has read it)"),
                  optional("fqdn", ParamType::HostAddress, "${env.engine.fqdn}", "engine FQDN (the backed-up one)"),
                  choice("storage_type", {"nfs3", "nfs4", "glusterfs", "iscsi", "fc"}, "nfs3", "hosted-engine storage"),
                  required("storage_connection", ParamType::String, "e.g. storage.example.com:/hosted_engine/nfs"),
                  required("bridge_nic", ParamType::String, "the NIC the ovirtmgmt bridge goes on, e.g. eth1"),
                  required("gateway", ParamType::HostAddress, "a pingable gateway for the HA agent"),
                  choice("vm_boot", {"disk", "cdrom", "pxe"}, "disk",
                         "disk: the engine appliance; cdrom or pxe: the OS is installed by hand at the first menu"),
                  optional("appliance", ParamType::RemotePath,
                           "/usr/share/ovirt-engine-appliance/ovirt-engine-appliance.ova", "the appliance (vm_boot disk)"),
                  optional("appliance_root_password", ParamType::Secret, nullptr,
                           "root password of the appliance's OS (cloud-init; vm_boot disk)"),
                  required("cpu_type", ParamType::String,
                           "the engine VM's CPU type as the deploy lists the host's, e.g. model_SandyBridge"),
                  optional("vcpus", ParamType::Int, 2, "virtual CPUs of the engine VM"),
                  optional("memory_mb", ParamType::Int, 4096, "memory of the engine VM in MB"),
                  optional("disk_size_gb", ParamType::Int, 25, "the engine VM's disk in GB (the tool's minimum: 25)"),
                  choice("console_type", {"vnc", "spice"}, "vnc", "the engine VM's console"),
                  optional("mac", ParamType::String, "", "the engine VM's MAC address (empty: one derived from the FQDN in the tool's 00:16:3e range, the same on every run)"),
                  required("host_name", ParamType::HostName,
                           "this host's name in the engine (the failover host keeps its name: its stale record is "
                           "removed before the engine menu is answered)"),
                  optional("admin_password", ParamType::Secret, "${env.engine.password}", "engine admin password"),
                  dialog_param(),
                  optional("backup_manifest", ParamType::Map, nullptr,
                           "the backup's manifest (backup.manifest.read), so a dry run can predict the restored engine")},
                 {{"menu", false, "the menu the deploy is held at: vm_installation or engine_installation"}}) {}

  void check_rules(const StepContext& ctx) const override {
    for (const char* field : {"fqdn", "storage_connection", "bridge_nic", "gateway", "appliance", "mac", "host_name",
                              "cpu_type"}) {
      const std::string problem = answer_value_problem(ctx.text(field));
      if (!problem.empty()) throw StepRuleError(fmt::format("{} cannot go into the answer file: {}", field, problem));
    }
    if (ctx.number("vcpus") < 1 || ctx.number("memory_mb") < 1024 || ctx.number("disk_size_gb") < 25)
      throw StepRuleError("vcpus must be at least 1, memory_mb at least 1024 and disk_size_gb at least 25");
    if (ctx.text("vm_boot") == "disk" && !ctx.has("appliance_root_password"))
      throw StepRuleError("vm_boot disk (the appliance) needs appliance_root_password for cloud-init");
    check_dialog_answers(ctx);
  }

 protected:
  StepResult run(const StepContext& ctx) const override {
    LegacyDeployAnswers a = plain_answers(ctx);
    for (auto [param, field] : {std::pair{"admin_password", &a.admin_password},
                                std::pair{"appliance_root_password", &a.appliance_root_password}}) {
      if (!ctx.has(param)) continue;
      *field = ctx.secret(param);
      if (!answer_value_problem(*field).empty())
        throw StepError("fatal", fmt::format("{} cannot go into the answer file: it contains a line break", param));
    }
    SshSession& ssh = session(ctx);
    const std::string answers = ctx.text("answer_file");
    try {
      // The answer file; once it landed, a fresh transcript and the deploy
      // in its screen in one command. The engine the plan restores inside
      // the new VM is the backup's, the stale record of this host kept (the
      // legacy deploy filters nothing): a dry run answers its reads from
      // this prediction.
      upload_secret(ctx, ssh, answers, legacy_answer_file(a));
      exec_ok(ctx, ssh,
              shell_and({{"mkdir", "-p", "--", "/var/log/she-restore"},
                         {"rm", "-f", "--", kLegacyTranscript},
                         legacy_deploy_start_argv(answers)}),
              Effect::Writes, false, {},
              ctx.has("backup_manifest")
                  ? engine_api::restored_engine_expectation(ctx.params()["backup_manifest"], ctx.text("host_name"),
                                                            engine_api::DeployHostRecord::Kept)
                  : std::map<std::string, std::string>{});
    } catch (...) {
      remove_secret_files(ctx, ssh, {answers});
      throw;
    }
    StepResult r;
    r.outputs["menu"] = legacy_menu_name(held_menu(ctx));
    return r;
  }

  // Started (or found under way on resume): drive the dialog to the menu.
  void verify(const StepContext& ctx) const override {
    SshSession& ssh = session(ctx);
    const LegacyMenu menu = held_menu(ctx);
    DialogDriver d(ctx, ssh, plan_answers(ctx));
    try {
      d.wait(fmt::format("the deploy shows the menu \"(1) Continue setup - {} installation is complete\"",
                         menu == LegacyMenu::VmInstallation ? "VM" : "engine"),
             [&](const LegacyDialogView& v) { return at_menu(v, menu); });
    } catch (...) {
      remove_secret_files(ctx, ssh, {ctx.text("answer_file")});
      throw;
    }
    // The answer file holds the admin password: gone once the tool has read it.
    remove_secret_files(ctx, ssh, {ctx.text("answer_file")});
  }

  // Done when the deploy is held at its menu (or has ended set up); a
  // session still going is a deploy under way: followed, never started
  // again. One that ended otherwise is for the operator to judge.
  CheckResult probe(const StepContext& ctx, Value& outputs) const override {
    SshSession& ssh = session(ctx);
    DialogDriver d(ctx, ssh, plan_answers(ctx));
    const bool alive = d.running();
    const LegacyDialogView v = d.read();
    outputs["menu"] = legacy_menu_name(held_menu(ctx));
    if (v.size == 0) return alive ? CheckResult::InProgress : CheckResult::NotDone;
    if (at_menu(v, held_menu(ctx)) || v.succeeded) return CheckResult::Done;
    return alive ? CheckResult::InProgress : CheckResult::Unknown;
  }

 private:
  static LegacyMenu held_menu(const StepContext& ctx) {
    return ctx.text("vm_boot") == "disk" ? LegacyMenu::EngineInstallation : LegacyMenu::VmInstallation;
  }

  static LegacyDeployAnswers plain_answers(const StepContext& ctx) {
    LegacyDeployAnswers a;
    a.storage_type = ctx.text("storage_type");
    a.storage_connection = ctx.text("storage_connection");
    a.bridge_nic = ctx.text("bridge_nic");
    a.gateway = ctx.text("gateway");
    a.vm_boot = ctx.text("vm_boot");
    a.appliance = ctx.text("appliance");
    a.cpu_type = ctx.text("cpu_type");
    a.vcpus = static_cast<int>(ctx.number("vcpus"));
    a.memory_mb = static_cast<int>(ctx.number("memory_mb"));
    a.disk_size_gb = static_cast<int>(ctx.number("disk_size_gb"));
    a.console_type = ctx.text("console_type");
    a.mac = ctx.text("mac");
    a.host_name = ctx.text("host_name");
    a.engine_fqdn = ctx.text("fqdn");
    return a;
  }

};

class LegacyContinue : public HostStep {
 public:
  LegacyContinue()
      : HostStep("hosted_engine.legacy_continue", StepKind::Idempotent,
                 "answer a held legacy deploy's \"Continue setup\" menu and follow it: to the engine menu after the "
                 "VM installation; to the end after the engine installation, shutting the engine VM down when the "
                 "deploy asks",
                 {required("host", ParamType::SshTarget, "the deploying host"),
                  choice("menu", {"vm_installation", "engine_installation"}, "engine_installation",
                         "the menu to answer \"(1) Continue setup\""),
                  optional("engine_vm", ParamType::SshTarget, nullptr,
                           "the new engine VM (SSH target), shut down when the deploy waits for it (engine_installation)"),
                  dialog_param()},
                 {}) {}

  void check_rules(const StepContext& ctx) const override {
    if (ctx.text("menu") == "engine_installation" && !ctx.has("engine_vm"))
      throw StepRuleError("menu engine_installation needs engine_vm: the deploy waits for the engine VM to be shut down");
    check_dialog_answers(ctx);
  }

 protected:
  StepResult run(const StepContext& ctx) const override {
    SshSession& ssh = session(ctx);
    const LegacyMenu menu = menu_of(ctx.text("menu"));
    auto plan = plan_answers(ctx);
    // Our menu, shown again (the engine was not reachable yet), is answered
    // again, within the driver's limit.
    DialogDriver d(ctx, ssh, [&](const LegacyDialogView& v) -> std::optional<std::string> {
      if (at_menu(v, menu)) return std::string("1");
      return plan(v);
    });
    // Held at the menu, or gone past it in a run cut off after answering.
    bool held = false;
    d.wait("the deploy is held at its menu or past it", [&](const LegacyDialogView& v) {
      held = at_menu(v, menu);
      return held || past(v, menu);
    });
    const bool rehearsal = ctx.services().runner && ctx.services().runner->rehearsal();
    // Answered at the engine menu, the deploy adds this host to the engine.
    if (held || rehearsal)
      d.answer("1", menu == LegacyMenu::EngineInstallation
                        ? std::map<std::string, std::string>{{engine_api::kDeployHostAddedKey, ctx.text("host")}}
                        : std::map<std::string, std::string>{});
    if (menu == LegacyMenu::VmInstallation) {
      d.wait("the deploy shows the menu \"(1) Continue setup - engine installation is complete\"",
             [](const LegacyDialogView& v) { return at_menu(v, LegacyMenu::EngineInstallation); });
      return {};
    }
    bool set_up = false;
    d.wait("the deploy waits for the engine VM to be down", [&](const LegacyDialogView& v) {
      set_up = v.succeeded;
      return v.waits_for_vm_down || v.succeeded;
    });
    if (!set_up) shut_down_engine_vm(ctx);
    d.wait("the deploy says \"Hosted Engine successfully set up\" and ends",
           [&](const LegacyDialogView& v) { return v.succeeded && (rehearsal || !d.running()); });
    return {};
  }

  CheckResult probe(const StepContext& ctx, Value&) const override {
    SshSession& ssh = session(ctx);
    DialogDriver d(ctx, ssh, nullptr);
    const bool alive = d.running();
    const LegacyDialogView v = d.read();
    if (v.succeeded && !alive) return CheckResult::Done;
    if (menu_of(ctx.text("menu")) == LegacyMenu::VmInstallation && at_menu(v, LegacyMenu::EngineInstallation))
      return CheckResult::Done;
    return CheckResult::NotDone;
  }

 private:
  /// Whether the dialog has gone past `menu`: it was shown and the tool
  /// is on to something else.
  static bool past(const LegacyDialogView& v, LegacyMenu menu) {
    if (v.succeeded) return true;
    if (menu == LegacyMenu::VmInstallation) return at_menu(v, LegacyMenu::EngineInstallation);
    return v.waits_for_vm_down;
  }

  // "Please shutdown the VM allowing the system to launch it as a
  // monitored service" (seed 000, step 6): the VM's own shutdown. Its SSH
  // session may drop as it goes down; the deploy seeing the VM down is
  // the evidence waited for next.
  static void shut_down_engine_vm(const StepContext& ctx) {
    SshSession& vm = session(ctx, "engine_vm");
    try {
      exec(ctx, vm, {"shutdown", "-h", "now"}, Effect::Writes, true);
    } catch (const SshError& e) {
      if (e.kind() != SshError::Kind::Dropped) throw;
    }
  }
};

}  // namespace

void register_legacy_deploy_steps(StepCatalog& c) {
  c.add(std::make_unique<LegacyDeploy>());
  c.add(std::make_unique<LegacyContinue>());
}

}  // namespace she
