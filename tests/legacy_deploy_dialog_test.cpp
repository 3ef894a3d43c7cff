// The legacy deploy's dialog read from its terminal transcript: the seed's
// own text (seed 000, "Creating a New Self-Hosted Engine Environment") is
// what the step must recognise, a question it has no answer for included.
#include <doctest/doctest.h>

#include "hosts/legacy_deploy_dialog.h"
#include "hosts/shell_quote.h"

using namespace she;

namespace {

// Seed 000 step 12, as a terminal shows it: \r\n line ends, the question
// printed without a line break.
const char* const kEngineMenu =
    "[ INFO  ] Creating VM\r\n"
    "Please install and setup the engine in the VM.\r\n"
    "To continue make a selection from the options below:\r\n"
    "  (1) Continue setup - engine installation is complete\r\n"
    "  (2) Power off and restart the VM\r\n"
    "  (3) Abort setup\r\n"
    "  (4) Destroy VM and abort setup\r\n"
    "\r\n"
    "  (1, 2, 3, 4)[1]: ";

}  // namespace

TEST_CASE("legacy dialog: the engine menu of seed 000 step 12 is recognised as the question asked") {
  LegacyDialogView v = read_legacy_dialog(kEngineMenu);
  CHECK(v.asks);
  CHECK(v.question == "  (1, 2, 3, 4)[1]:");
  CHECK(v.menu == LegacyMenu::EngineInstallation);
  REQUIRE(v.menu_lines.size() == 4);
  CHECK(v.menu_lines[0] == "(1) Continue setup - engine installation is complete");
  CHECK_FALSE(v.succeeded);
  CHECK_FALSE(v.aborted);
  // Answered: the echo ends the line, the tool goes on; no question then.
  LegacyDialogView after = read_legacy_dialog(std::string(kEngineMenu) + "1\r\n[ INFO  ] Engine replied: DB Up!Welcome to Health Status!\r\n");
  CHECK_FALSE(after.asks);
  CHECK(after.menu == LegacyMenu::None);
}

TEST_CASE("legacy dialog: the VM installation menu of seed 000 step 10 and a menu of another kind") {
  LegacyDialogView vm = read_legacy_dialog(
      "The VM has been started.  Install the OS and shut down or reboot it.  To continue please make a selection:\n\n"
      "  (1) Continue setup - VM installation is complete\n  (2) Reboot the VM and restart installation\n"
      "  (3) Abort setup\n  (4) Destroy VM and abort setup\n\n  (1, 2, 3, 4)[1]: ");
  CHECK(vm.menu == LegacyMenu::VmInstallation);
  LegacyDialogView other = read_legacy_dialog(
      "[ ERROR ] Cannot automatically add the host to cluster Default\n"
      "To continue make a selection from the options below:\n"
      "  (1) Continue setup - Engine VM configuration has been fixed\n  (2) Abort setup\n\n  (1, 2)[1]: ");
  CHECK(other.asks);
  CHECK(other.menu == LegacyMenu::Other);
  REQUIRE(other.errors.size() == 1);
  CHECK(other.errors[0].find("Cannot automatically add the host") != std::string::npos);
}

TEST_CASE("legacy dialog: a plain question is asked - a line still being written is not") {
  LegacyDialogView q = read_legacy_dialog(
      "          During customization use CTRL-D to abort.\n"
      "          Please specify the storage you would like to use (glusterfs, iscsi, fc, nfs3, nfs4)[nfs3]: ");
  CHECK(q.asks);
  CHECK(q.question == "          Please specify the storage you would like to use (glusterfs, iscsi, fc, nfs3, nfs4)[nfs3]:");
  CHECK(q.menu == LegacyMenu::None);
  CHECK_FALSE(read_legacy_dialog("[ INFO  ] Stage: Transaction set").asks);
  CHECK_FALSE(read_legacy_dialog("[ INFO  ] Stage: Closing up\n").asks);
  CHECK_FALSE(read_legacy_dialog("").asks);
}

TEST_CASE("legacy dialog: colours and cursor moves are not part of a question") {
  LegacyDialogView v = read_legacy_dialog("\x1b[1m[ INFO  ]\x1b[0m Stage: Setup validation\r\n\x1b[KPlease confirm installation settings (Yes, No)[Yes]: ");
  CHECK(v.asks);
  CHECK(v.question == "Please confirm installation settings (Yes, No)[Yes]:");
}

TEST_CASE("legacy dialog: the end - set up (seed 000 step 7) or ended by an error") {
  LegacyDialogView vm_down = read_legacy_dialog(
      "[ ERROR ] Timed out while waiting for host to start. Please check the logs.\n"
      "[ ERROR ] Unable to add hosted_engine_1 to the manager\n"
      "          Please shutdown the VM allowing the system to launch it as a monitored service.\n"
      "          The system will wait until the VM is down.\n");
  CHECK(vm_down.waits_for_vm_down);
  CHECK_FALSE(vm_down.succeeded);
  CHECK_FALSE(vm_down.aborted);  // the deploy goes on: those errors are the seed's expected ones
  LegacyDialogView done = read_legacy_dialog(
      "[ INFO  ] Enabling and starting HA services\n          Hosted Engine successfully set up\n"
      "[ INFO  ] Stage: Clean up\n[ INFO  ] Stage: Pre-termination\n[ INFO  ] Stage: Termination\n");
  CHECK(done.succeeded);
  CHECK_FALSE(done.aborted);
  LegacyDialogView failed = read_legacy_dialog(
      "[ ERROR ] Failed to execute stage 'Misc configuration': Connection to storage server failed\n"
      "[ INFO  ] Stage: Clean up\n[ INFO  ] Stage: Pre-termination\n[ INFO  ] Stage: Termination\n");
  CHECK(failed.aborted);
  REQUIRE(failed.errors.size() == 1);
  CHECK(failed.errors[0].find("Connection to storage server failed") != std::string::npos);
}

TEST_CASE("legacy dialog: the commands - screen holds the dialog and script keeps its transcript") {
  CHECK(shell_join(legacy_deploy_start_argv("/root/a b.conf")) ==
        "screen -h 10000 -dmS she-restore-legacy-deploy script -q -f -c "
        "'hosted-engine --deploy --noansible '\\''--config-append=/root/a b.conf'\\''' "
        "/var/log/she-restore/legacy-deploy.typescript");
  CHECK(shell_join(legacy_deploy_answer_argv("1")) == "screen -S she-restore-legacy-deploy -X stuff '1^M'");
  CHECK(legacy_session_listed("There is a screen on:\n\t4242.she-restore-legacy-deploy\t(Detached)\n1 Socket in /run/screen/S-root.\n"));
  CHECK_FALSE(legacy_session_listed("No Sockets found in /run/screen/S-root.\n"));
  CHECK_FALSE(legacy_session_listed("\t4242.she-restore-legacy-deploy-old\t(Detached)\n"));
}

TEST_CASE("legacy dialog: the answer file carries the seed's answers under ovirt-hosted-engine-setup's keys") {
  LegacyDeployAnswers a;
  a.storage_type = "nfs3";
  a.storage_connection = "storage.example.com:/hosted_engine/nfs";
  a.bridge_nic = "eth1";
  a.gateway = "192.0.2.1";
  a.vm_boot = "disk";
  a.appliance = "/usr/share/ovirt-engine-appliance/a.ova";
  a.host_name = "hosted_engine_1";
  a.engine_fqdn = "engine.example.com";
  a.admin_password = "[secret env:X]";
  a.appliance_root_password = "[secret env:Y]";
  a.cpu_type = "model_SandyBridge";
  const std::string f = legacy_answer_file(a);
  CHECK(f.rfind("[environment:default]\n", 0) == 0);
  for (const char* line : {"OVEHOSTED_STORAGE/domainType=str:nfs3\n",
                           "OVEHOSTED_STORAGE/storageDomainConnection=str:storage.example.com:/hosted_engine/nfs\n",
                           "OVEHOSTED_NETWORK/bridgeIf=str:eth1\n", "OVEHOSTED_VM/vmBoot=str:disk\n",
                           "OVEHOSTED_VM/ovfArchive=str:/usr/share/ovirt-engine-appliance/a.ova\n",
                           "OVEHOSTED_ENGINE/appHostName=str:hosted_engine_1\n",
                           "OVEHOSTED_NETWORK/fqdn=str:engine.example.com\n", "OVEHOSTED_CORE/confirmSettings=bool:True\n",
                           "OVEHOSTED_VDSM/cpu=str:model_SandyBridge\n", "OVEHOSTED_STORAGE/imgSizeGB=int:25\n",
                           "OVEHOSTED_VDSM/consoleType=str:vnc\n",
                           // The appliance's cloud-init must not run engine-setup: the engine is restored first.
                           "OVEHOSTED_VM/cloudinitExecuteEngineSetup=bool:False\n",
                           "OVEHOSTED_VM/cloudinitRootPwd=str:[secret env:Y]\n"})
    CHECK_MESSAGE(f.find(line) != std::string::npos, line);
  a.vm_boot = "cdrom";
  CHECK(legacy_answer_file(a).find("ovfArchive") == std::string::npos);
  CHECK(legacy_answer_file(a).find("cloudinit") == std::string::npos);
}
