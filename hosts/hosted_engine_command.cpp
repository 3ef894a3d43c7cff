#include "hosts/hosted_engine_command.h"

#include <fmt/format.h>

namespace she {

std::vector<std::string> hosted_engine_vm_status_argv() {
  return {"hosted-engine", "--vm-status", "--json"};
}

std::vector<std::string> hosted_engine_set_maintenance_argv(const std::string& mode) {
  return {"hosted-engine", "--set-maintenance", "--mode=" + mode};
}

std::vector<std::string> hosted_engine_deploy_restore_argv(const std::string& backup_file,
                                                           const std::string& answer_file) {
  return {"hosted-engine", "--deploy", "--restore-from-file=" + backup_file,
          "--config-append=" + answer_file};
}

std::vector<std::string> hosted_engine_clean_metadata_argv(const std::string& host_id, bool force) {
  std::vector<std::string> argv = {"hosted-engine", "--clean-metadata", "--host-id=" + host_id};
  if (force) argv.push_back("--force-cleanup");
  return argv;
}

std::vector<std::string> engine_setup_argv(const std::string& answer_file, bool offline) {
  std::vector<std::string> argv = {"engine-setup", "--accept-defaults"};
  if (!answer_file.empty()) argv.push_back("--config-append=" + answer_file);
  if (offline) argv.push_back("--offline");
  return argv;
}

std::string deploy_answer_file(const DeployAnswers& a) {
  auto b = [](bool v) { return v ? "bool:True" : "bool:False"; };
  std::string out = "[environment:default]\n";
  out += "OVEHOSTED_CORE/deployProceed=bool:True\n";
  out += "OVEHOSTED_CORE/screenProceed=bool:True\n";
  // The role's own pause (he_pause_host) comes after Add host, too late to
  // remove a stale record; she-restore pauses through a hook instead.
  out += std::string("OVEHOSTED_CORE/pauseonRestore=") + b(false) + "\n";
  out += "OVEHOSTED_NETWORK/fqdn=str:" + a.engine_fqdn + "\n";
  out += "OVEHOSTED_STORAGE/domainType=str:" + a.storage_type + "\n";
  out += "OVEHOSTED_STORAGE/storageDomainConnection=str:" + a.storage_connection + "\n";
  out += "OVEHOSTED_STORAGE/storageDomainName=str:" + a.storage_domain_name + "\n";
  if (!a.datacenter.empty()) out += "OVEHOSTED_STORAGE/storageDatacenterName=str:" + a.datacenter + "\n";
  if (!a.cluster.empty()) out += "OVEHOSTED_ENGINE/clusterName=str:" + a.cluster + "\n";
  out += "OVEHOSTED_ENGINE/adminPassword=str:" + a.admin_password + "\n";
  out += "OVEHOSTED_VM/cloudinitRootPwd=str:" + a.appliance_root_password + "\n";
  return out;
}

std::string deploy_pause_hook(const std::string& lock_file) {
  return std::string("# Installed by she-restore; removed when the deploy goes on.\n") +
         "- name: \"" + kDeployPauseMarker + " (remove " + lock_file + " to continue)\"\n" +
         "  wait_for:\n"
         "    path: " + lock_file + "\n"
         "    state: absent\n"
         "    timeout: 86400\n"
         "  delegate_to: localhost\n";
}

std::string answer_value_problem(const std::string& value) {
  if (value.find_first_of("\r\n") != std::string::npos) return "it contains a line break";
  return {};
}

std::string hosted_engine_conf_text(const std::string& engine_fqdn, int host_id, const std::string& hostname,
                                    const std::string& storage) {
  return fmt::format("fqdn={}\nhost_id={}\nhost={}\nconf_file_name=hosted-engine.conf\ndomainType=nfs\nstorage={}\n",
                     engine_fqdn, host_id, hostname, storage);
}

}  // namespace she
