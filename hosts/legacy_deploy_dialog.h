// The legacy self-hosted deploy of oVirt/RHV 4.0-4.2, `hosted-engine
// --deploy --noansible` (seed 000, "Creating a New Self-Hosted Engine
// Environment"): an otopi dialog on a terminal. Its answers go in an otopi
// answer file; what the file cannot carry (the "Continue setup" menus, a
// detected LUN or iSCSI target) is typed at the terminal. The dialog runs in
// a detached `screen` session, as the seed recommends, so that it outlives
// any SSH session (and a she-restore cut off between steps); `script`
// inside it writes the terminal's transcript to a file that steps read.
#pragma once

#include <string>
#include <vector>

namespace she {

/// The answer file's settings; secrets are filled in at the last moment.
struct LegacyDeployAnswers {
  std::string storage_type;        // nfs3 | nfs4 | glusterfs | iscsi | fc
  std::string storage_connection;  // host:/path (nfs, gluster)
  std::string bridge_nic;          // the NIC the ovirtmgmt bridge goes on
  std::string gateway;             // a pingable gateway for the HA agent
  std::string vm_boot;             // disk (the engine appliance) | cdrom | pxe
  std::string appliance;           // the appliance's OVA, with vm_boot disk
  std::string appliance_root_password;  // cloud-init's, with vm_boot disk
  std::string cpu_type;            // as the host lists it, e.g. model_SandyBridge
  int vcpus = 2;
  int memory_mb = 4096;
  int disk_size_gb = 25;
  std::string console_type = "vnc";  // vnc | spice
  std::string mac;                 // empty: one derived from engine_fqdn (00:16:3e:..., stable)
  std::string host_name;           // the host's name in the engine
  std::string engine_fqdn;
  std::string admin_password;
};

/// otopi answer-file text: the keys of ovirt-hosted-engine-setup 2.x
/// (constants.py), the installation settings confirmed. With the appliance,
/// cloud-init does not run engine-setup in the VM: the engine is restored
/// there first (seed 000, "Restoring the Self-Hosted Engine Engine").
std::string legacy_answer_file(const LegacyDeployAnswers& a);

constexpr const char* kLegacySession = "she-restore-legacy-deploy";
constexpr const char* kLegacyTranscript = "/var/log/she-restore/legacy-deploy.typescript";

/// screen -h 10000 -dmS SESSION script -q -f -c 'hosted-engine --deploy
/// --noansible --config-append=FILE' TRANSCRIPT
std::vector<std::string> legacy_deploy_start_argv(const std::string& answer_file);
/// Types `text` and Enter at the session's terminal.
std::vector<std::string> legacy_deploy_answer_argv(const std::string& text);
std::vector<std::string> legacy_deploy_list_argv();
/// Whether `screen -ls SESSION` output shows the session.
bool legacy_session_listed(const std::string& screen_ls_output);

/// The menus the deploy holds at until told to go on.
enum class LegacyMenu { None, VmInstallation, EngineInstallation, Other };
const char* legacy_menu_name(LegacyMenu m);  // vm_installation, engine_installation

/// What a transcript shows of the dialog.
struct LegacyDialogView {
  size_t size = 0;            // bytes read: equal sizes, nothing new
  bool asks = false;          // its last line is a question waiting for input
  std::string question;       // that line, as shown (trailing blanks cut)
  LegacyMenu menu = LegacyMenu::None;  // when the question ends a menu
  std::vector<std::string> menu_lines;  // the menu's options, for messages
  bool waits_for_vm_down = false;  // "The system will wait until the VM is down."
  bool succeeded = false;          // "Hosted Engine successfully set up"
  bool aborted = false;            // the tool's termination after an error
  std::vector<std::string> errors;  // the last "[ ERROR ]" lines
};

/// Reads a transcript (terminal output: \r and escape sequences dropped).
LegacyDialogView read_legacy_dialog(const std::string& transcript);

}  // namespace she
