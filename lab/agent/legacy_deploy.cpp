// `hosted-engine --deploy --noansible [--config-append=F]...` on a lab host:
// the oVirt/RHV 4.0-4.2 deploy (ovirt-hosted-engine-setup 2.x, otopi) as
// seed 000 quotes it ("Creating a New Self-Hosted Engine Environment"). The
// answer files' keys (otopi format, [environment:default] KEY=type:value)
// answer their questions, which are then not asked, as otopi does; every
// other question is printed with the seed's prompt, without a newline, and
// read as one line from standard input (echoed, as a terminal echoes, except
// passwords). The menus are held until answered (the host's faults
// `dialog_timeout_s`, else 24 h).
//
// The engine VM is the lab host `engine` (staged_disaster.h, deploy:
// legacy): creating it powers that machine on; inside it the operator (the
// plan) restores the backup and runs engine-setup, which brings the engine
// up; then this host is added to the engine (refused while a record of the
// same name, address or hardware id is there), the host waits to become
// operational (non_operational while the SPM does not respond: the seed's
// time-out), the guest is shut down, and the HA agent starts the engine VM
// here. Waits take the scenario's durations times its time scale.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <regex>
#include <thread>

#include "hosts/hosted_engine_command.h"
#include "lab/agent/agent.h"

namespace she::lab::agent {

namespace {

using namespace std::chrono;

constexpr const char* kConf = "/etc/ovirt-hosted-engine/hosted-engine.conf";

/// Why the dialog stopped (otopi's RuntimeError of a stage).
struct Aborted {
  std::string stage, message;
};

class Dialog {
 public:
  explicit Dialog(Agent& a) : a_(a) {
    const nlohmann::json faults = read_faults(a);
    long long timeout = 86400;
    if (faults.contains("dialog_timeout_s") && faults["dialog_timeout_s"].is_number_integer())
      timeout = std::max(0LL, faults["dialog_timeout_s"].get<long long>());
    timeout_ = seconds(timeout);
    leader_ = ::getppid();
  }

  bool load(const std::vector<std::string>& files, std::string* bad) {
    for (const auto& f : files) {
      std::string text;
      if (!read_file(a_.map(f), &text)) {
        *bad = f;
        return false;
      }
      // otopi's answer file: [environment:default] (or init), KEY=TYPE:VALUE.
      std::regex line("^\\s*([A-Za-z0-9_]+/[A-Za-z0-9_]+)\\s*=\\s*(str|bool|int|none|multi-str)?:?(.*?)\\s*$");
      std::size_t at = 0;
      while (at <= text.size()) {
        std::size_t nl = text.find('\n', at);
        if (nl == std::string::npos) nl = text.size();
        std::smatch m;
        const std::string l = text.substr(at, nl - at);
        if (std::regex_match(l, m, line)) answers_[m[1]] = m[3];
        at = nl + 1;
      }
    }
    return true;
  }

  /// The answer of KEY, from the answer files or asked with `prompt` (the
  /// last line, printed without its newline; `note` lines before it).
  std::string ask(const std::string& key, const std::string& note, const std::string& prompt,
                  const std::string& def, const std::vector<std::string>& valid = {}, bool hidden = false) {
    if (auto it = answers_.find(key); it != answers_.end()) return it->second;
    for (;;) {
      out(note + prompt);
      std::string v = trim(read_line(hidden));
      if (v.empty()) v = def;
      if (v.empty()) continue;
      if (valid.empty()) return v;
      for (const auto& x : valid)
        if (lower(x) == lower(v)) return x;
      out(fmt::format("[ ERROR ] Invalid value\n"));
    }
  }

  /// Polls `done` until it holds, within the same bounds as an answer.
  template <typename F>
  void wait_for(F done) {
    const auto deadline = steady_clock::now() + timeout_;
    while (!done()) {
      if (::getppid() != leader_) throw Aborted{"", ""};
      if (steady_clock::now() >= deadline)
        throw Aborted{"Closing up", fmt::format("she-lab: the VM was not down in {} s (the host's faults "
                                                "dialog_timeout_s)",
                                                duration_cast<seconds>(timeout_).count())};
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  bool has(const std::string& key) const { return answers_.count(key) != 0; }

  /// One line of the terminal's input, held until it comes.
  std::string read_line(bool hidden) {
    std::string line;
    const auto deadline = steady_clock::now() + timeout_;
    for (;;) {
      char c;
      const ssize_t n = ::read(0, &c, 1);
      if (n == 1) {
        if (c == '\n' || c == '\r') break;
        line += c;
        continue;
      }
      // The session ended (screen -X quit) or nobody answered in time.
      if (::getppid() != leader_) throw Aborted{"", ""};
      if (steady_clock::now() >= deadline)
        throw Aborted{"Closing up", fmt::format("she-lab: no answer in {} s (the host's faults dialog_timeout_s)",
                                                duration_cast<seconds>(timeout_).count())};
      std::this_thread::sleep_for(milliseconds(50));
    }
    out(hidden ? "\n" : line + "\n");
    return line;
  }

  static std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

 private:
  Agent& a_;
  std::map<std::string, std::string> answers_;
  seconds timeout_{86400};
  pid_t leader_ = 0;
};

nlohmann::json world(const Agent& a) {
  const LabReply r = lab_get(a, "/lab/world");
  if (r.status != 200) throw Aborted{"Closing up", "she-lab: the lab engine cannot be reached: " + r.error};
  return r.json();
}

void power(const Agent& a, const std::string& state, const std::string& host = {}) {
  const LabReply r = lab_post(a, "/lab/he-legacy-engine-vm", {{"power", state}, {"host", host}});
  if (r.status != 200) throw Aborted{"Closing up", "she-lab: the lab engine cannot be reached: " + r.error};
}

/// Lab seconds: the scenario's seconds times its time scale.
void lab_sleep(const nlohmann::json& w, double seconds_unscaled) {
  const double s = seconds_unscaled * w.value("time_scale", 1.0);
  if (s > 0) std::this_thread::sleep_for(milliseconds(static_cast<long long>(s * 1000)));
}

void vm_created(const Agent& a) {
  power(a, "created");
  out("[ INFO  ] Creating VM\n"
      "You can now connect to the VM with the following command:\n"
      "      /usr/bin/remote-viewer vnc://localhost:5900\n"
      "Use temporary password \"3477XXAM\" to connect to vnc console.\n"
      "Please note that in order to use remote-viewer you need to be able to run graphical applications.\n"
      "This means that if you are using ssh you have to supply the -Y flag (enables trusted X11 forwarding).\n"
      "Otherwise you can run the command from a terminal in your preferred desktop environment.\n"
      "If you cannot run graphical applications you can connect to the graphic console from another host or "
      "connect to the console using the following command:\n"
      "virsh -c qemu+tls://Test/system console HostedEngine\n"
      "If you need to reboot the VM you will need to start it manually using the command:\n"
      "hosted-engine --vm-start\n"
      "You can then set a temporary password using the command:\n"
      "hosted-engine --add-console-password\n");
}

bool engine_up(const Agent& a) {
  if (world(a)["engine"].value("health", "") != "up") {
    out("[ ERROR ] Engine is still unreachable\n");
    return false;
  }
  out("[ INFO  ] Engine replied: DB Up!Welcome to Health Status!\n");
  return true;
}

std::string hostname_of(const Agent& a) {
  std::string h;
  if (!read_file(a.map("/etc/hostname"), &h) || trim(h).empty()) return a.host;
  return trim(h);
}

int run(Agent& a, Dialog& d, const std::string& config_files) {
  out("[ INFO  ] Stage: Initializing\n[ INFO  ] Generating a temporary VNC password.\n");
  const std::string proceed =
      d.ask("OVEHOSTED_CORE/deployProceed",
            "Continuing will configure this host for serving as hypervisor and create a VM where you have to install "
            "oVirt Engine afterwards.\n",
            "Are you sure you want to continue? (Yes, No)[Yes]: ", "Yes", {"Yes", "No", "True", "False"});
  if (proceed == "No" || proceed == "False") throw Aborted{"Initializing", "Aborted by user"};
  out("[ INFO  ] Stage: Environment setup\n");
  out("          Configuration files: " + config_files + "\n");
  out("          Log file: /var/log/ovirt-hosted-engine-setup/ovirt-hosted-engine-setup-" + now_stamp() + ".log\n");
  out("          Version: otopi-1.7.8 (otopi-1.7.8-1.el7)\n");
  out("[ INFO  ] Stage: Environment packages setup\n[ INFO  ] Stage: Programs detection\n"
      "[ INFO  ] Stage: Environment setup\n[ INFO  ] Stage: Environment customization\n\n");
  out("          --== STORAGE CONFIGURATION ==--\n\n");
  out("          During customization use CTRL-D to abort.\n");
  const std::string storage = d.ask("OVEHOSTED_STORAGE/domainType", "",
                                    "Please specify the storage you would like to use (glusterfs, iscsi, fc, nfs3, "
                                    "nfs4)[nfs3]: ",
                                    "nfs3", {"glusterfs", "iscsi", "fc", "nfs3", "nfs4"});
  if (storage == "iscsi" || storage == "fc")
    throw Aborted{"Environment customization", "she-lab: the lab simulates nfs3, nfs4 and glusterfs storage only"};
  const std::string connection =
      d.ask("OVEHOSTED_STORAGE/storageDomainConnection", "",
            "Please specify the full shared storage connection path to use (example: host:/path): ", "");
  // The host's fault dialog_asks: a question no answer-file key covers (a
  // tool of another version asking something new), asked as the tool asks
  // an unanswered one.
  if (const nlohmann::json f = read_faults(a); f.contains("dialog_asks") && f["dialog_asks"].is_string())
    d.ask("", "", f["dialog_asks"].get<std::string>() + " ", "");
  out("\n          --== NETWORK CONFIGURATION ==--\n\n");
  const std::string bridge = d.ask("OVEHOSTED_NETWORK/bridgeIf", "",
                                   "Please indicate a nic to set ovirtmgmt bridge on: (eth1, eth0) [eth1]: ", "eth1",
                                   {"eth1", "eth0"});
  std::string firewall = "iptables";
  if (!d.has("OVEHOSTED_NETWORK/firewallManager")) {
    const std::string yes = d.ask("OVEHOSTED_NETWORK/firewallManager", "",
                                  "iptables was detected on your computer, do you wish setup to configure it? (Yes, "
                                  "No)[Yes]: ",
                                  "Yes", {"Yes", "No"});
    if (yes == "No") firewall = "";
  } else {
    firewall = d.ask("OVEHOSTED_NETWORK/firewallManager", "", "", "");
  }
  const std::string gateway = d.ask("OVEHOSTED_NETWORK/gateway", "",
                                    "Please indicate a pingable gateway IP address [192.0.2.1]: ", "192.0.2.1");
  out("\n          --== VM CONFIGURATION ==--\n\n");
  const std::string boot = d.ask("OVEHOSTED_VM/vmBoot", "",
                                 "Please specify the device to boot the VM from (cdrom, disk, pxe) [cdrom]: ", "cdrom",
                                 {"cdrom", "disk", "pxe"});
  if (boot == "disk")
    d.ask("OVEHOSTED_VM/ovfArchive", "", "Please specify path to OVF archive you would like to use [None]: ", "");
  // From the appliance (disk, the only way of 2.1 and later) the image,
  // CPU and console come with it; the install media ways ask (seed 000).
  const bool media = boot != "disk";
  auto media_ask = [&](const std::string& key, const std::string& note, const std::string& prompt,
                       const std::string& def, const std::vector<std::string>& valid = {}) {
    return media || d.has(key) ? d.ask(key, note, prompt, def, valid) : def;
  };
  const std::string alias = media_ask("OVEHOSTED_STORAGE/imgAlias", "",
                                  "Please specify an alias for the Hosted Engine image [hosted_engine]: ",
                                  "hosted_engine");
  const std::string cpu = media_ask("OVEHOSTED_VDSM/cpu",
                                "The following CPU types are supported by this host:\n"
                                "          - model_Penryn: Intel Penryn Family\n"
                                "          - model_Conroe: Intel Conroe Family\n",
                                "Please specify the CPU type to be used by the VM [model_Penryn]: ", "model_Penryn",
                                {"model_Penryn", "model_Conroe"});
  const std::string vcpus = d.ask("OVEHOSTED_VM/vmVCpus", "",
                                  "Please specify the number of virtual CPUs for the VM [Defaults to minimum "
                                  "requirement: 2]: ",
                                  "2");
  const std::string disk_gb =
      media_ask("OVEHOSTED_STORAGE/imgSizeGB", "",
            "Please specify the disk size of the VM in GB [Defaults to minimum requirement: 25]: ", "25");
  const std::string mac =
      d.ask("OVEHOSTED_VM/vmMACAddr", "",
            "You may specify a MAC address for the VM or accept a randomly generated default [00:16:3e:77:b2:a4]: ",
            "00:16:3e:77:b2:a4");
  const std::string memory = d.ask("OVEHOSTED_VM/vmMemSizeMB", "",
                                   "Please specify the memory size of the VM in MB [Defaults to minimum requirement: "
                                   "4096]: ",
                                   "4096");
  const std::string console =
      media_ask("OVEHOSTED_VDSM/consoleType", "",
            "Please specify the console type you want to use to connect to the VM (vnc, spice) [vnc]: ", "vnc",
            {"vnc", "spice"});
  out("\n          --== HOSTED ENGINE CONFIGURATION ==--\n\n");
  if (!d.has("OVEHOSTED_ENGINE/adminPassword")) {
    for (;;) {
      const std::string p1 = d.ask("OVEHOSTED_ENGINE/adminPassword", "", "Enter engine admin password: ", "", {}, true);
      const std::string p2 =
          d.ask("OVEHOSTED_ENGINE/adminPassword", "", "Confirm engine admin password: ", "", {}, true);
      if (p1 == p2) break;
      out("[ ERROR ] Passwords do not match\n");
    }
  }
  const std::string app_host = d.ask("OVEHOSTED_ENGINE/appHostName", "",
                                     "Enter the name which will be used to identify this host inside the "
                                     "Administration Portal [hosted_engine_1]: ",
                                     "hosted_engine_1");
  const std::string fqdn =
      d.ask("OVEHOSTED_NETWORK/fqdn",
            "Please provide the FQDN for the engine you would like to use.\n"
            "This needs to match the FQDN that you will use for the engine installation within the VM.\n"
            " Note: This will be the FQDN of the VM you are now going to create,\n"
            " it should not point to the base host or to any other existing machine.\n",
            " Engine FQDN: ", "");
  d.ask("OVEHOSTED_NOTIF/smtpServer", "",
        "Please provide the name of the SMTP server through which we will send notifications [localhost]: ",
        "localhost");
  d.ask("OVEHOSTED_NOTIF/smtpPort", "", "Please provide the TCP port number of the SMTP server [25]: ", "25");
  d.ask("OVEHOSTED_NOTIF/sourceEmail", "",
        "Please provide the email address from which notifications will be sent [root@localhost]: ", "root@localhost");
  d.ask("OVEHOSTED_NOTIF/destEmail", "",
        "Please provide a comma-separated list of email addresses which will get notifications [root@localhost]: ",
        "root@localhost");
  out("[ INFO  ] Stage: Setup validation\n\n          --== CONFIGURATION PREVIEW ==--\n\n");
  out(fmt::format("          Bridge interface                   : {}\n", bridge));
  out(fmt::format("          Engine FQDN                        : {}\n", fqdn));
  out("          Bridge name                        : ovirtmgmt\n");
  out("          SSH daemon port                    : 22\n");
  if (!firewall.empty()) out(fmt::format("          Firewall manager                   : {}\n", firewall));
  out(fmt::format("          Gateway address                    : {}\n", gateway));
  out(fmt::format("          Host name for web application      : {}\n", app_host));
  out("          Host ID                            : 1\n");
  out(fmt::format("          Image alias                        : {}\n", alias));
  out(fmt::format("          Image size GB                      : {}\n", disk_gb));
  out(fmt::format("          Storage connection                 : {}\n", connection));
  out(fmt::format("          Console type                       : {}\n", console));
  out(fmt::format("          Memory size MB                     : {}\n", memory));
  out(fmt::format("          MAC address                        : {}\n", mac));
  out(fmt::format("          Boot type                          : {}\n", boot));
  out(fmt::format("          Number of CPUs                     : {}\n", vcpus));
  out(fmt::format("          CPU Type                           : {}\n\n", cpu));
  const std::string confirm = d.ask("OVEHOSTED_CORE/confirmSettings", "",
                                    "Please confirm installation settings (Yes, No)[Yes]: ", "Yes",
                                    {"Yes", "No", "True", "False"});
  if (confirm == "No" || confirm == "False") throw Aborted{"Setup validation", "Aborted by user"};
  out("[ INFO  ] Stage: Transaction setup\n[ INFO  ] Stage: Misc configuration\n"
      "[ INFO  ] Stage: Package installation\n[ INFO  ] Stage: Misc configuration\n"
      "[ INFO  ] Configuring libvirt\n[ INFO  ] Configuring VDSM\n[ INFO  ] Starting vdsmd\n"
      "[ INFO  ] Waiting for VDSM hardware info\n[ INFO  ] Waiting for VDSM hardware info\n"
      "[ INFO  ] Configuring the management bridge\n[ INFO  ] Creating Storage Domain\n"
      "[ INFO  ] Creating Storage Pool\n[ INFO  ] Connecting Storage Pool\n"
      "[ INFO  ] Verifying sanlock lockspace initialization\n[ INFO  ] Creating VM Image\n"
      "[ INFO  ] Disconnecting Storage Pool\n[ INFO  ] Start monitoring domain\n[ INFO  ] Configuring VM\n"
      "[ INFO  ] Updating hosted-engine configuration\n[ INFO  ] Stage: Transaction commit\n"
      "[ INFO  ] Stage: Closing up\n");
  vm_created(a);

  // Installation media: the OS menu (ovirt-hosted-engine-setup's runvm.py).
  if (boot != "disk") {
    for (bool installed = false; !installed;) {
      out("The VM has been started.  Install the OS and shut down or reboot it.  To continue please make a "
          "selection:\n\n"
          "  (1) Continue setup - VM installation is complete\n"
          "  (2) Reboot the VM and restart installation\n"
          "  (3) Abort setup\n"
          "  (4) Destroy VM and abort setup\n\n"
          "  (1, 2, 3, 4)[1]: ");
      const std::string r = trim(d.read_line(false));
      if (r == "1" || r.empty()) {
        out("Waiting for VM to shut down...\n");
        installed = true;
        vm_created(a);  // rebooted from its disk
      } else if (r == "2") {
        vm_created(a);
      } else if (r == "3") {
        throw Aborted{"Closing up", "OS installation aborted by user"};
      } else if (r == "4") {
        power(a, "off");
        throw Aborted{"Closing up", "VM destroyed and setup aborted by user"};
      } else {
        out(fmt::format("[ ERROR ] Invalid option '{}'\n", r));
      }
    }
  }

  // The engine menu (health.py): held until the engine in the VM answers.
  out("Please install and setup the engine in the VM.\n"
      "You may also be interested in subscribing to \"agent\" RHN/Satellite channel and installing "
      "ovirt-engine-guest-agent-common package in the VM.\n");
  for (bool up = false; !up;) {
    out("To continue make a selection from the options below:\n"
        "  (1) Continue setup - engine installation is complete\n"
        "  (2) Power off and restart the VM\n"
        "  (3) Abort setup\n"
        "  (4) Destroy VM and abort setup\n\n"
        "  (1, 2, 3, 4)[1]: ");
    const std::string r = trim(d.read_line(false));
    if (r == "1" || r.empty()) {
      up = engine_up(a);
      if (!up) out("Engine health status page is not yet reachable.\n");
    } else if (r == "2") {
      power(a, "off");
      vm_created(a);
    } else if (r == "3") {
      throw Aborted{"Closing up", "Engine polling aborted by user"};
    } else if (r == "4") {
      power(a, "off");
      throw Aborted{"Closing up", "VM destroyed and setup aborted by user"};
    } else {
      out(fmt::format("[ ERROR ] Invalid option '{}'\n", r));
    }
  }

  // add_host.py: the engine adds this host.
  const std::string address = hostname_of(a);
  std::string hardware_id;
  read_file(a.map("/etc/vdsm/vdsm.id"), &hardware_id);
  const nlohmann::json me = {{"name", app_host}, {"address", address}, {"hardware_id", trim(hardware_id)}};
  const LabReply added = lab_post(a, "/lab/he-legacy-add-host", {{"host", me}});
  if (added.status == 409 || added.status == 400) {
    out(fmt::format("[ ERROR ] Cannot automatically add the host to cluster Default:\n[{}]\n\n",
                    added.json().value("error", added.body)));
    for (bool fixed = false; !fixed;) {
      out("\n\nPlease check Engine VM configuration.\n\n"
          "Make a selection from the options below:\n"
          "(1) Continue setup - Engine VM configuration has been fixed\n"
          "(2) Abort setup\n\n"
          "(1, 2)[1]: ");
      const std::string r = trim(d.read_line(false));
      if (r == "1" || r.empty()) {
        out(fmt::format("\nChecking for oVirt-Engine status at {}...\n", fqdn));
        fixed = engine_up(a);
        if (!fixed) out("oVirt-Engine health status page is not yet reachable.\n");
      } else if (r == "2") {
        throw Aborted{"Closing up", "Setup aborted by user"};
      } else {
        out(fmt::format("[ ERROR ] Invalid option '{}'\n", r));
      }
    }
  } else if (added.status != 201) {
    throw Aborted{"Closing up", "she-lab: the lab engine cannot be reached: " + added.error};
  }
  out("[ INFO  ] Waiting for the host to become operational in the engine. This may take several minutes...\n");
  bool operational = false;
  for (int round = 0; round < 3 && !operational; ++round) {
    const nlohmann::json w = world(a);
    for (const auto& h : w.value("hosts", nlohmann::json::array()))
      if (h.value("name", "") == app_host && h.value("status", "") == "up") operational = true;
    if (operational) break;
    out("[ INFO  ] Still waiting for VDSM host to become operational...\n");
    lab_sleep(w, w["durations"].value("install", 30.0) / 3);
  }
  if (operational) {
    out("[ INFO  ] The VDSM Host is now operational\n");
  } else {
    out("[ ERROR ] Timed out while waiting for host to start. Please check the logs.\n");
    out(fmt::format("[ ERROR ] Unable to add {} to the manager\n", app_host));
  }
  out("          Please shutdown the VM allowing the system to launch it as a monitored service.\n"
      "          The system will wait until the VM is down.\n");
  d.wait_for([&] { return world(a)["engine"].value("health", "") == "off"; });
  out("[ INFO  ] Enabling and starting HA services\n");
  const LabReply started = lab_post(a, "/lab/he-legacy-engine-vm", {{"power", "on"}, {"host", app_host}});
  if (started.status != 200) throw Aborted{"Closing up", "she-lab: the lab engine cannot be reached: " + started.error};
  int host_id = 1;
  try {
    host_id = std::stoi(started.json().value("host_id", std::string("1")));
  } catch (const std::exception&) {
  }
  write_file_atomic(a.map(kConf), hosted_engine_conf_text(fqdn, host_id, address, connection), 0644);
  out("          Hosted Engine successfully set up\n");
  out("[ INFO  ] Stage: Clean up\n[ INFO  ] Stage: Pre-termination\n[ INFO  ] Stage: Termination\n");
  return 0;
}

}  // namespace

int legacy_deploy(Agent& a, const std::vector<std::string>& appends) {
  Dialog d(a);
  std::string missing;
  if (!d.load(appends, &missing)) {
    out(fmt::format("File {} not found!\n", missing));
    return 1;
  }
  std::string files = "['/etc/ovirt-hosted-engine-setup.env.d/10-packaging.env'";
  for (const auto& f : appends) files += ", '" + f + "'";
  files += "]";
  try {
    return run(a, d, files);
  } catch (const Aborted& e) {
    if (e.stage.empty()) return 1;  // the session is gone: nobody reads on
    out(fmt::format("[ ERROR ] Failed to execute stage '{}': {}\n", e.stage, e.message));
    out("[ INFO  ] Stage: Clean up\n[ INFO  ] Stage: Pre-termination\n[ INFO  ] Stage: Termination\n");
    out("[ ERROR ] Hosted Engine deployment failed: please check the logs for the issue, fix accordingly or re-deploy "
        "from scratch.\n");
    return 1;
  }
}

}  // namespace she::lab::agent
