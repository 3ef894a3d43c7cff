// hosted-engine on a lab host (reference: ovirt-he-automation.md sections
// 1 and 2): --vm-status [--json], --set-maintenance, --clean-metadata and
// --deploy --restore-from-file, against the lab engine's world.
#include <algorithm>
#include <archive.h>
#include <archive_entry.h>
#include <chrono>
#include <fmt/format.h>
#include <memory>
#include <poll.h>
#include <regex>
#include <sys/inotify.h>
#include <thread>
#include <unistd.h>

#include "hosts/backup_archive.h"
#include "hosts/hosted_engine_command.h"
#include "lab/agent/agent.h"

namespace she::lab::agent {

namespace {

using nlohmann::ordered_json;

constexpr const char* kConf = "/etc/ovirt-hosted-engine/hosted-engine.conf";
constexpr const char* kHooks =
    "/usr/share/ansible/collections/ansible_collections/ovirt/ovirt/roles/hosted_engine_setup/hooks";
constexpr const char* kPauseHook = "enginevm_after_engine_setup/she-restore-pause.yml";

/// Sleeps until `path` may have gone: its directory reported a removal or
/// rename, or `most` passed. The deploy's hook waits on the lock this way,
/// so the lab's deploy goes on the moment she-restore removes it (the lab
/// models an engine-setup that takes no time); the timeout keeps the wait
/// bounded where inotify is unavailable.
void wait_for_removal(const fs::path& path, std::chrono::milliseconds most) {
  const int fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd >= 0 && ::inotify_add_watch(fd, path.parent_path().c_str(), IN_DELETE | IN_MOVED_FROM) >= 0) {
    pollfd p{fd, POLLIN, 0};
    if (fs::exists(path)) ::poll(&p, 1, static_cast<int>(most.count()));
  } else {
    std::this_thread::sleep_for(most);
  }
  if (fd >= 0) ::close(fd);
}

/// json.dumps() of Python: ", " and ": " separators, ASCII only.
std::string python_dumps(const ordered_json& j) {
  if (j.is_object()) {
    std::string s = "{";
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      s += (first ? "" : ", ") + ordered_json(it.key()).dump(-1, ' ', true) + ": " + python_dumps(it.value());
      first = false;
    }
    return s + "}";
  }
  if (j.is_array()) {
    std::string s = "[";
    for (std::size_t i = 0; i < j.size(); ++i) s += (i ? ", " : "") + python_dumps(j[i]);
    return s + "]";
  }
  return j.dump(-1, ' ', true);
}

bool deployed(const Agent& a) { return fs::exists(a.map(kConf)); }

int not_deployed() {
  out("You must run deploy first\n");
  return 1;
}

int lab_unreachable(const LabReply& r) {
  err("she-lab-agent: the lab engine cannot be reached: " +
      (r.error.empty() ? fmt::format("HTTP {} {}", r.status, r.body) : r.error) + "\n");
  return 1;
}

std::string conf_value(const Agent& a, const std::string& key) {
  std::string text;
  if (!read_file(a.map(kConf), &text)) return {};
  std::smatch m;
  if (std::regex_search(text, m, std::regex("(^|\\n)" + key + "=([^\\n]*)"))) return trim(m[2]);
  return {};
}

int vm_status(Agent& a, bool json) {
  if (!deployed(a)) return not_deployed();
  const LabReply r = lab_get(a, "/lab/he-vm-status");
  if (r.status != 200) return lab_unreachable(r);
  ordered_json status;
  try {
    status = ordered_json::parse(r.body);
  } catch (const std::exception&) {
    return lab_unreachable(r);
  }
  if (json) {
    out(python_dumps(status) + "\n");
    return 0;
  }
  std::string text;
  for (auto it = status.begin(); it != status.end(); ++it) {
    if (it.key() == "global_maintenance") continue;
    const auto& h = it.value();
    const bool live = h.value("live-data", false);
    text += fmt::format("\n\n--== Host {} (id: {}) status ==--\n\n", h.value("hostname", ""), h.value("host-id", 0));
    text += fmt::format("Host ID                            : {}\n", h.value("host-id", 0));
    text += fmt::format("Host timestamp                     : {}\n", h.value("host-ts", 0LL));
    text += fmt::format("Score                              : {}\n", h.value("score", 0));
    text += fmt::format("Engine status                      : {}\n",
                        live ? python_dumps(h["engine-status"]) : std::string("unknown stale-data"));
    text += fmt::format("Hostname                           : {}\n", h.value("hostname", ""));
    text += fmt::format("Local maintenance                  : {}\n", h.value("maintenance", false) ? "True" : "False");
    text += fmt::format("stopped                            : {}\n", h.value("stopped", false) ? "True" : "False");
    text += fmt::format("crc32                              : {}\n", h.value("crc32", ""));
    text += fmt::format("conf_on_shared_storage             : True\n");
    text += fmt::format("local_conf_timestamp               : {}\n", h.value("local_conf_timestamp", 0LL));
    text += fmt::format("Status up-to-date                  : {}\n", live ? "True" : "False");
    text += "Extra metadata (valid at timestamp):\n";
    std::string extra = h.value("extra", "");
    for (std::size_t i = 0; i < extra.size();) {
      std::size_t e = extra.find('\n', i);
      if (e == std::string::npos) e = extra.size();
      if (e > i) text += "\t" + extra.substr(i, e - i) + "\n";
      i = e + 1;
    }
  }
  if (status.value("global_maintenance", false)) text += "\n\n!! Cluster is in GLOBAL MAINTENANCE mode !!\n";
  out(text);
  return 0;
}

int set_maintenance(Agent& a, const std::string& mode) {
  if (!deployed(a)) return not_deployed();
  if (mode != "global" && mode != "local" && mode != "none") {
    err(fmt::format("Invalid value '{}' for --mode: global, local or none\n", mode));
    return 1;
  }
  const LabReply r = lab_post(a, "/lab/he-maintenance", {{"host", a.host}, {"mode", mode}});
  if (r.status == 200) return 0;
  if (r.status == 409) {
    err(r.json().value("error", r.body) + "\n");
    return 1;
  }
  return lab_unreachable(r);
}

int clean_metadata(Agent& a, const std::string& host_id_arg, bool force) {
  if (!deployed(a)) return not_deployed();
  const std::string id_text = host_id_arg.empty() ? conf_value(a, "host_id") : host_id_arg;
  int host_id = 0;
  try {
    host_id = std::stoi(id_text);
  } catch (const std::exception&) {
    err(fmt::format("Invalid host id '{}'\n", id_text));
    return 1;
  }
  const LabReply r = lab_post(a, "/lab/he-clean-metadata", {{"host_id", host_id}, {"force", force}});
  if (r.status != 200) return lab_unreachable(r);
  const auto j = r.json();
  const bool cleaned = j.value("cleaned", false);
  const std::string message = j.value("message", "");
  // ovirt-ha-agent --cleanup logs and ends with 0 even when it refuses.
  out("INFO:ovirt_hosted_engine_ha.agent.agent.Agent:ovirt-hosted-engine-ha agent 2.5.1 started\n");
  if (force) out("WARNING:ovirt_hosted_engine_ha.agent.agent.Agent:Cleanup forced, overriding sanlock failures\n");
  out(fmt::format("{}:ovirt_hosted_engine_ha.agent.hosted_engine.HostedEngine:{}\n", cleaned ? "INFO" : "ERROR", message));
  out("INFO:ovirt_hosted_engine_ha.agent.agent.Agent:Agent shutting down\n");
  return 0;
}

/// The engine database dump inside an engine-backup archive.
bool read_db_dump(const fs::path& archive_path, std::string* dump) {
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  she::read_engine_backup_layers(a.get());
  if (archive_read_open_filename(a.get(), archive_path.c_str(), 65536) != ARCHIVE_OK) return false;
  archive_entry* e;
  while (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(e);
    while (name.rfind("./", 0) == 0) name = name.substr(2);
    if (name != "db/engine_backup.db") {
      archive_read_data_skip(a.get());
      continue;
    }
    char buf[65536];
    for (la_ssize_t n; (n = archive_read_data(a.get(), buf, sizeof buf)) > 0;) dump->append(buf, static_cast<std::size_t>(n));
    return true;
  }
  return false;
}

std::string hardware_id_of(Agent& a) {
  std::string id;
  if (read_file(a.map("/etc/vdsm/vdsm.id"), &id) && !trim(id).empty()) return trim(id);
  // vdsm writes one on first start: stable for this machine from now on.
  std::string seed = a.host;
  unsigned long long h = 1469598103934665603ULL;
  for (unsigned char c : seed) h = (h ^ c) * 1099511628211ULL;
  id = fmt::format("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", static_cast<unsigned>(h >> 32), static_cast<unsigned>(h >> 16) & 0xffff,
                   static_cast<unsigned>(h >> 4) & 0xfff, static_cast<unsigned>(h) & 0xfff, (h * 31) & 0xffffffffffffULL);
  write_file_atomic(a.map("/etc/vdsm/vdsm.id"), id + "\n", 0644);
  return id;
}

int deploy_failed(const std::string& why) {
  out("[ ERROR ] " + why + "\n");
  out("[ ERROR ] Failed to execute stage 'Closing up': Failed executing ansible-playbook\n");
  out("[ INFO  ] Stage: Clean up\n[ INFO  ] Stage: Pre-termination\n[ INFO  ] Stage: Termination\n");
  out("[ ERROR ] Hosted Engine deployment failed: please check the logs for the issue, fix accordingly or re-deploy "
      "from scratch.\n");
  return 1;
}

int deploy(Agent& a, const std::string& restore_from, const std::vector<std::string>& appends) {
  using namespace std::chrono;
  if (restore_from.empty()) {
    err("she-lab-agent: the lab simulates only hosted-engine --deploy --restore-from-file=FILE\n");
    return 1;
  }
  // hosted-engine's realpath check of --restore-from-file, and the answer files.
  if (!fs::is_regular_file(a.map(restore_from))) {
    out(fmt::format("File {} not found!\n", restore_from));
    return 1;
  }
  for (const auto& f : appends)
    if (!fs::is_regular_file(a.map(f))) {
      out(fmt::format("File {} not found!\n", f));
      return 1;
    }
  out("[ INFO  ] Stage: Initializing\n[ INFO  ] Stage: Environment setup\n"
      "          During customization use CTRL-D to abort.\n");
  if (!appends.empty()) {
    std::string list;
    for (const auto& f : appends) list += (list.empty() ? "" : ", ") + f;
    out("          Configuration files: " + list + "\n");
  }
  out("          It is strongly recommended to run this tool on an host that wasn't part of the environment going to be "
      "restored.\n          If a reference to this host is already contained in the backup file, it will be filtered "
      "out at restore time.\n");
  out("[ INFO  ] Stage: Environment packages setup\n[ INFO  ] Stage: Programs detection\n"
      "[ INFO  ] Stage: Environment customization\n");
  she::BackupSummary summary;
  std::vector<std::string> problems;
  if (!she::verify_backup_archive(a.map(restore_from).string(), "", &summary, &problems)) {
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
    return deploy_failed(fmt::format("The backup file {} is not valid: {}", restore_from, all));
  }
  if (summary.engine_fqdn.empty()) return deploy_failed("Unable to find ENGINE_FQDN in the backup file " + restore_from);
  out(fmt::format("[ INFO  ] Engine FQDN from the backup file: {}\n", summary.engine_fqdn));
  out("[ INFO  ] Stage: Setup validation\n[ INFO  ] Stage: Transaction setup\n[ INFO  ] Stage: Misc configuration\n"
      "[ INFO  ] Stage: Closing up\n");
  out("[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : Create local VM]\n[ INFO  ] changed: [localhost]\n");

  // restore_backup.yml, inside the bootstrap VM: engine-backup --mode=restore.
  out("[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : Run engine-backup]\n");
  std::string dump;
  if (!read_db_dump(a.map(restore_from), &dump))
    return deploy_failed("engine-backup --mode=restore failed: the backup has no engine database (db/engine_backup.db)");
  nlohmann::json db;
  try {
    db = nlohmann::json::parse(dump);
  } catch (const std::exception& e) {
    return deploy_failed(std::string("engine-backup --mode=restore failed: the engine database dump is unreadable: ") +
                         e.what());
  }
  std::string hostname;
  if (!read_file(a.map("/etc/hostname"), &hostname) || trim(hostname).empty()) hostname = a.host;
  const nlohmann::json me = {{"name", a.host}, {"address", trim(hostname)}, {"hardware_id", hardware_id_of(a)}};
  // The version pair is checked by the lab engine, which knows its version
  // (unless the appliance's is given), before it restores anything.
  nlohmann::json restore = {{"db", db}, {"host", me}, {"backup_version", summary.version}};
  if (const std::string appliance = appliance_version(a); !appliance.empty()) restore["installed_version"] = appliance;
  const LabReply restored = lab_post(a, "/lab/he-restore", restore);
  if (restored.status == 412)
    return deploy_failed("engine-backup --mode=restore failed: FATAL: " + restored.json().value("error", restored.body));
  if (restored.status != 200) return lab_unreachable(restored);
  out("[ INFO  ] changed: [localhost -> 192.168.222.2]\n");
  out("[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : Remove previous hosted-engine VM]\n[ INFO  ] changed: "
      "[localhost -> 192.168.222.2]\n");
  out("[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : Update host used to redeploy]\n");
  for (const auto& name : restored.json().value("removed", nlohmann::json::array()))
    out(fmt::format("[ INFO  ] removed the restored record of host {}\n", name.get<std::string>()));
  out("[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : Run engine-setup with answerfile]\n");
  // A real engine-setup takes minutes: the deploy_hold_ms fault stretches
  // this stage so a test can interrupt she-restore while the deploy runs.
  const nlohmann::json faults = read_faults(a);
  if (faults.contains("deploy_hold_ms") && faults["deploy_hold_ms"].is_number_integer())
    std::this_thread::sleep_for(milliseconds(std::clamp(faults["deploy_hold_ms"].get<long long>(), 0LL, 600000LL)));
  out("[ INFO  ] changed: [localhost -> 192.168.222.2]\n");
  out("[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : Include after engine-setup custom tasks files for the engine "
      "VM]\n");

  // The she-restore hook: hold the deploy until its lock file is gone.
  std::string hook;
  if (read_file(a.map(std::string(kHooks) + "/" + kPauseHook), &hook)) {
    std::smatch m;
    std::string lock;
    if (std::regex_search(hook, m, std::regex("(^|\\n)\\s*path:\\s*\"?([^\"\\n]+?)\"?\\s*(\\n|$)"))) lock = trim(m[2]);
    long timeout = 86400;
    if (std::regex_search(hook, m, std::regex("(^|\\n)\\s*timeout:\\s*([0-9]+)"))) timeout = std::stol(m[2]);
    if (!lock.empty()) {
      out("she-restore: paused before Add host\n");
      // The pause in the agent log: what the deploy itself took, apart
      // from its wait for she-restore (the restore bench counts it).
      a.log({{"deploy", "paused"}});
      const auto deadline = steady_clock::now() + seconds(timeout);
      while (fs::exists(a.map(lock))) {
        if (steady_clock::now() >= deadline)
          return deploy_failed(fmt::format(
              "fatal: [localhost]: FAILED! => {{\"changed\": false, \"elapsed\": {}, \"msg\": \"Timeout when waiting "
              "for {} to be absent.\"}}",
              timeout, lock));
        wait_for_removal(a.map(lock), milliseconds(100));
      }
      a.log({{"deploy", "resumed"}});
    }
  }

  out("[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : Wait for the engine to come up]\n[ INFO  ] ok: [localhost]\n");
  out("[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : Add host]\n");
  const LabReply added = lab_post(a, "/lab/he-add-host", {{"host", me}});
  if (added.status == 409 || added.status == 400) {
    out(fmt::format("[ ERROR ] ovirtsdk4.Error: Fault reason is \"Operation Failed\". Fault detail is \"[{}]\". HTTP "
                    "response code is {}.\n",
                    added.json().value("error", added.body), added.status));
    out("[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : Wait for the host to be up]\n");
    return deploy_failed(
        "fatal: [localhost]: FAILED! => {\"changed\": false, \"msg\": \"Host is not up, please check logs, perhaps also "
        "on the engine machine\"}");
  }
  if (added.status != 201) return lab_unreachable(added);
  const int host_id = added.json().value("host_id", 1);
  out("[ INFO  ] changed: [localhost]\n[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : Wait for the host to be up]\n"
      "[ INFO  ] ok: [localhost]\n");
  out("[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : Add HE storage domain]\n[ INFO  ] changed: [localhost]\n");
  out("[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : Create the target VM]\n[ INFO  ] changed: [localhost]\n");
  write_file_atomic(a.map(kConf),
                    hosted_engine_conf_text(summary.engine_fqdn, host_id, trim(hostname),
                                            "nfs.lab.example:/exports/hosted_engine_restored"),
                    0644);
  out("[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : Check engine VM health]\n[ INFO  ] ok: [localhost]\n");
  out("[ INFO  ] Stage: Clean up\n[ INFO  ] Stage: Pre-termination\n[ INFO  ] Stage: Termination\n");
  out("          Other hosted-engine hosts have to be reinstalled in order to update their storage configuration. From "
      "the engine, host by host, please set maintenance mode and then click on reinstall button ensuring you choose "
      "DEPLOY in hosted engine tab.\n");
  out("[ INFO  ] Hosted Engine successfully deployed\n");
  return 0;
}

}  // namespace

int hosted_engine(Agent& a, const Args& argv) {
  std::string command, mode, host_id, restore_from;
  std::vector<std::string> appends;
  bool json = false, force = false, noansible = false;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& x = argv[i];
    if (x == "--vm-status" || x == "--set-maintenance" || x == "--clean-metadata" || x == "--deploy") {
      if (!command.empty()) {
        err("hosted-engine: give one command\n");
        return 1;
      }
      command = x;
    } else if (x == "--noansible") {
      noansible = true;
    } else if (x == "--json") {
      json = true;
    } else if (x.rfind("--mode=", 0) == 0) {
      mode = x.substr(7);
    } else if (x == "--mode" && i + 1 < argv.size()) {
      mode = argv[++i];
    } else if (x.rfind("--host-id=", 0) == 0) {
      host_id = x.substr(10);
    } else if (x == "--force-cleanup" || x == "--force-clean") {
      force = true;
    } else if (x.rfind("--restore-from-file=", 0) == 0) {
      restore_from = x.substr(20);
    } else if (x.rfind("--config-append=", 0) == 0) {
      appends.push_back(x.substr(16));
    } else {
      err(fmt::format("hosted-engine: the lab does not simulate option '{}'\n", x));
      return 1;
    }
  }
  if (command == "--vm-status") return vm_status(a, json);
  if (command == "--set-maintenance") return set_maintenance(a, mode);
  if (command == "--clean-metadata") return clean_metadata(a, host_id, force);
  if (command == "--deploy" && noansible) return legacy_deploy(a, appends);
  if (command == "--deploy") return deploy(a, restore_from, appends);
  out("Usage: /usr/sbin/hosted-engine [--help] <command> [<command-args>]\n"
      "    --deploy [options]\n        run ovirt-hosted-engine deployment\n"
      "    --vm-status [--json]\n        VM status according to the HA agent.\n"
      "    --set-maintenance --mode=<mode>\n        set maintenance status to the specified mode (global/local/none)\n"
      "    --clean-metadata [--force-cleanup] [--host-id=<id>]\n        Remove host's metadata from the global status "
      "database.\n");
  return 1;
}

}  // namespace she::lab::agent
