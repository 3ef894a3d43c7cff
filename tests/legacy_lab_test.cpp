// The legacy (4.0-4.2) self-hosted restore's lab (examples/lab/
// three-hosts-legacy.yaml), driven by hand over real SSH with the commands
// the plan sends: the deploy dialog in a screen session, answered with
// `screen -X stuff`, read from its typescript; the engine restored inside
// the engine VM's machine; the VM shut down from inside.
#include <doctest/doctest.h>

#include <csignal>
#include <fstream>
#include <iterator>
#include <thread>

#include "hosts/ssh_session.h"
#include "lab/postgres_server.h"
#include "tests/procedure_lab.h"

namespace she::test {

namespace {

constexpr const char* kSession = "she-restore-legacy-deploy";
constexpr const char* kTypescript = "/var/log/she-restore/legacy-deploy.typescript";
constexpr const char* kAnswers = "/root/she-restore-legacy-answers.conf";
constexpr const char* kEngineMenu = "  (1, 2, 3, 4)[1]: ";

/// Gone: no such process, or only its zombie left for its reaper.
bool gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  std::ifstream in(fs::path("/proc") / std::to_string(pid) / "stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

struct LegacyLab : ProcedureLab {
  LegacyLab() : ProcedureLab("examples/lab/three-hosts-legacy.yaml") {
    lab::WorldState st = lab::load_scenario(source_path("examples/lab/three-hosts-legacy.yaml"));
    backup = lab::stage_disaster(engine.world, fleet, *st.after_disaster, lab::kLabBackupPath);
  }

  std::string backup;

  void answers(const std::string& drop_key = {}, const std::string& boot = "disk") {
    std::string text = "[environment:default]\n";
    for (const std::string& line : std::vector<std::string>{"OVEHOSTED_CORE/deployProceed=bool:True", "OVEHOSTED_STORAGE/domainType=str:nfs3",
          "OVEHOSTED_STORAGE/storageDomainConnection=str:storage.example.com:/exports/hosted_engine",
          "OVEHOSTED_NETWORK/bridgeIf=str:eth1", "OVEHOSTED_NETWORK/firewallManager=str:iptables",
          "OVEHOSTED_NETWORK/gateway=str:192.0.2.1", "OVEHOSTED_VM/vmBoot=str:" + boot,
          "OVEHOSTED_VM/ovfArchive=str:/usr/share/ovirt-engine-appliance/ovirt-engine-appliance.ova",
          "OVEHOSTED_VM/vmVCpus=str:2", "OVEHOSTED_VM/vmMemSizeMB=int:4096", "OVEHOSTED_VM/vmMACAddr=str:00:16:3e:77:b2:a4",
          "OVEHOSTED_ENGINE/adminPassword=str:Legacy-Admin-5", "OVEHOSTED_ENGINE/appHostName=str:hosted_engine_1",
          "OVEHOSTED_NETWORK/fqdn=str:engine.example.com", "OVEHOSTED_NOTIF/smtpServer=str:localhost",
          "OVEHOSTED_NOTIF/smtpPort=str:25", "OVEHOSTED_NOTIF/sourceEmail=str:root@localhost",
          "OVEHOSTED_NOTIF/destEmail=str:root@localhost", "OVEHOSTED_CORE/confirmSettings=bool:True"})
      if (drop_key.empty() || line.rfind(drop_key + "=", 0) != 0) text += line + "\n";
    // Installing from media asks what the appliance brings (seed 000).
    if (boot != "disk")
      text += "OVEHOSTED_STORAGE/imgAlias=str:hosted_engine\nOVEHOSTED_VDSM/cpu=str:model_Penryn\n"
              "OVEHOSTED_STORAGE/imgSizeGB=str:25\nOVEHOSTED_VDSM/consoleType=str:vnc\n";
    const fs::path p = fleet.host("hosted_engine_1").in_sandbox(kAnswers);
    write_file(p, text);
    fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
  }

  void start_deploy() {
    ExecResult r = run_on("hosted_engine_1",
                          std::string("screen -h 10000 -dmS ") + kSession +
                              " script -q -f -c 'hosted-engine --deploy --noansible --config-append=" + kAnswers + "' " +
                              kTypescript);
    INFO(r.stderr_tail);
    REQUIRE(r.exit_status == 0);
  }

  std::string typescript() {
    ExecResult r = run_on("hosted_engine_1", std::string("cat ") + kTypescript);
    return r.exit_status == 0 ? r.stdout_tail : std::string();
  }

  /// The typescript once it ends with `tail` (a prompt held) or holds
  /// `count` times `text`; bounded, never timed.
  std::string wait_typescript(const std::string& text, int count = 1, bool at_end = false) {
    std::string ts;
    for (int i = 0; i < 2000; ++i) {
      ts = typescript();
      int n = 0;
      for (std::size_t at = 0; (at = ts.find(text, at)) != std::string::npos; at += text.size()) ++n;
      if (n >= count && (!at_end || (ts.size() >= text.size() && ts.compare(ts.size() - text.size(), text.size(), text) == 0)))
        return ts;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL("the typescript never showed: " << text << "\n---\n" << ts);
    return ts;
  }

  ExecResult stuff(const std::string& text) {
    return run_on("hosted_engine_1", std::string("screen -S ") + kSession + " -X stuff '" + text + "^M'");
  }

  /// The backup copied into the engine VM, restored and set up there.
  void restore_in_engine_vm() {
    fs::copy_file(fleet.host("backup_storage").in_sandbox(backup), fleet.host("engine").in_sandbox("/root/engine.backup"),
                  fs::copy_options::overwrite_existing);
    ExecResult r = run_on("engine", "engine-backup --mode=restore --file=/root/engine.backup --log=/root/restore.log "
                                    "--provision-db --restore-permissions");
    INFO(r.stdout_tail << r.stderr_tail);
    REQUIRE(r.exit_status == 0);
    CHECK(r.stdout_tail.find("You should now run engine-setup.") != std::string::npos);
    r = run_on("engine", "engine-setup --accept-defaults");
    INFO(r.stdout_tail << r.stderr_tail);
    REQUIRE(r.exit_status == 0);
  }
};

}  // namespace

TEST_CASE("legacy lab: the deploy in screen runs from the answer file to Hosted Engine successfully set up") {
  if (lab::postgres_bin_dir().empty()) return;
  LegacyLab lab;
  // The engine VM does not exist yet: its machine answers nothing.
  ExecResult r = lab.run_on("engine", "true");
  CHECK(r.exit_status == 255);
  CHECK(r.stderr_tail.find("No route to host") != std::string::npos);
  r = lab.run_on("hosted_engine_1", std::string("screen -ls ") + kSession);
  CHECK(r.stdout_tail.find("No Sockets found in /var/run/screen/S-") != std::string::npos);
  CHECK(r.exit_status == 1);

  lab.answers();
  lab.start_deploy();
  r = lab.run_on("hosted_engine_1", std::string("screen -ls ") + kSession);
  CHECK(r.stdout_tail.find(std::string(".") + kSession + "\t(Detached)\n") != std::string::npos);
  CHECK(r.stdout_tail.find("There is a screen on:\n\t") == 0);

  // Every question answered by the file: none asked; the engine menu held.
  std::string ts = lab.wait_typescript(kEngineMenu, 1, true);
  CHECK(ts.find("Please specify") == std::string::npos);
  CHECK(ts.find("Legacy-Admin-5") == std::string::npos);
  CHECK(ts.find("Please install and setup the engine in the VM.\r\n") != std::string::npos);
  CHECK(ts.find("  (1) Continue setup - engine installation is complete\r\n") != std::string::npos);
  CHECK(ts.find("[ INFO  ] Creating VM\r\n") != std::string::npos);

  // The engine is not there yet: refused, the menu again.
  CHECK(lab.stuff("1").exit_status == 0);
  ts = lab.wait_typescript(kEngineMenu, 2, true);
  CHECK(ts.find("(1, 2, 3, 4)[1]: 1\r\n[ ERROR ] Engine is still unreachable\r\nEngine health status page is not yet "
                "reachable.\r\n") != std::string::npos);

  // Inside the engine VM: the real dump restored, the engine set up with the
  // backup's world, the failover host's stale record kept in maintenance.
  lab.fleet.set_unreachable("host_4", true);  // the SPM: the seed's non-responsive one
  lab.restore_in_engine_vm();
  CHECK(lab.engine.world.engine().health_up);
  CHECK(lab.engine.world.engine().running);
  auto stale = lab.engine.world.host_by_name("hosted_engine_1");
  REQUIRE(stale);
  CHECK(stale->status == lab::HostStatus::Maintenance);
  lab::OpContext ctx;
  CHECK(lab.engine.world.remove_host(stale->id, false, ctx).ok());

  CHECK(lab.stuff("1").exit_status == 0);
  ts = lab.wait_typescript("The system will wait until the VM is down.\r\n");
  CHECK(ts.find("[ INFO  ] Engine replied: DB Up!Welcome to Health Status!\r\n") != std::string::npos);
  CHECK(ts.find("[ INFO  ] Still waiting for VDSM host to become operational...\r\n") != std::string::npos);
  CHECK(ts.find("[ ERROR ] Timed out while waiting for host to start. Please check the logs.\r\n[ ERROR ] Unable to add "
                "hosted_engine_1 to the manager\r\n") != std::string::npos);
  auto added = lab.engine.world.host_by_name("hosted_engine_1");
  REQUIRE(added);
  CHECK(added->status == lab::HostStatus::NonOperational);

  r = lab.run_on("engine", "shutdown -h now");
  CHECK(r.exit_status == 0);
  ts = lab.wait_typescript("[ INFO  ] Stage: Termination\r\n");
  CHECK(ts.find("[ INFO  ] Enabling and starting HA services\r\n          Hosted Engine successfully set up\r\n") !=
        std::string::npos);
  CHECK(fs::exists(lab.fleet.host("hosted_engine_1").in_sandbox("/etc/ovirt-hosted-engine/hosted-engine.conf")));
  CHECK(lab.engine.world.engine().running);
  auto he_vm = lab.engine.world.vm_by_name("HostedEngine");
  REQUIRE(he_vm);
  CHECK(he_vm->status == lab::VmStatus::Up);
  CHECK(he_vm->host_id == added->id);
  CHECK(lab.run_on("engine", "true").exit_status == 0);  // the HA agent started it again

  // The session ends with its command.
  for (int i = 0; i < 500; ++i) {
    r = lab.run_on("hosted_engine_1", std::string("screen -ls ") + kSession);
    if (r.stdout_tail.find("No Sockets found") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(r.stdout_tail.find("No Sockets found") != std::string::npos);
  CHECK(lab.run_on("hosted_engine_1", std::string("screen -S ") + kSession + " -X quit").stdout_tail ==
        "No screen session found.\n");
}

TEST_CASE("legacy lab: a missing answer is asked with the seed's prompt and the stale host makes the add fail") {
  if (lab::postgres_bin_dir().empty()) return;
  LegacyLab lab;
  lab.answers("OVEHOSTED_NETWORK/gateway", "pxe");
  lab.start_deploy();
  std::string ts = lab.wait_typescript("Please indicate a pingable gateway IP address [192.0.2.1]: ", 1, true);
  CHECK(lab.stuff("192.0.2.1").exit_status == 0);
  ts = lab.wait_typescript("  (1, 2, 3, 4)[1]: ", 1, true);
  CHECK(ts.find("[192.0.2.1]: 192.0.2.1\r\n") != std::string::npos);  // echoed, as a terminal does
  CHECK(ts.find("The VM has been started.  Install the OS and shut down or reboot it.  To continue please make a "
                "selection:\r\n") != std::string::npos);
  CHECK(lab.stuff("1").exit_status == 0);
  ts = lab.wait_typescript("  (1) Continue setup - engine installation is complete\r\n");
  CHECK(ts.find("Waiting for VM to shut down...\r\n") != std::string::npos);

  // The restore done, but the failover host's stale record left in place.
  lab.wait_typescript(kEngineMenu, 2, true);
  lab.restore_in_engine_vm();
  CHECK(lab.stuff("1").exit_status == 0);
  ts = lab.wait_typescript("(1, 2)[1]: ", 1, true);
  CHECK(ts.find("[ ERROR ] Cannot automatically add the host to cluster Default:\r\n[Cannot add Host. The Host name is "
                "already in use") != std::string::npos);
  CHECK(ts.find("(1) Continue setup - Engine VM configuration has been fixed\r\n") != std::string::npos);

  // The session lives until the lab stops, which ends it and its command.
  ExecResult r = lab.run_on("hosted_engine_1", std::string("screen -ls ") + kSession);
  const auto tab = r.stdout_tail.find('\t');
  REQUIRE(tab != std::string::npos);
  const pid_t leader = static_cast<pid_t>(std::atol(r.stdout_tail.c_str() + tab + 1));
  REQUIRE(leader > 0);
  std::ifstream in(fs::path("/proc") / std::to_string(leader) / "task" / std::to_string(leader) / "children");
  long child = 0;
  in >> child;
  const pid_t deploy = static_cast<pid_t>(child);
  CHECK(deploy > 0);
  lab.fleet.stop();
  for (int i = 0; i < 200 && !(gone(leader) && gone(deploy)); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(gone(leader));
  CHECK(gone(deploy));
}

}  // namespace she::test
