// Command lines and the answer file of `hosted-engine` and `engine-setup`
// (reference: ovirt-he-automation.md sections 1 and 2).
#pragma once

#include <string>
#include <vector>

namespace she {

std::vector<std::string> hosted_engine_vm_status_argv();
/// mode: global | local | none
std::vector<std::string> hosted_engine_set_maintenance_argv(const std::string& mode);
std::vector<std::string> hosted_engine_deploy_restore_argv(const std::string& backup_file,
                                                           const std::string& answer_file);
std::vector<std::string> hosted_engine_clean_metadata_argv(const std::string& host_id, bool force);
std::vector<std::string> engine_setup_argv(const std::string& answer_file, bool offline);

/// Settings of a `hosted-engine --deploy --restore-from-file` run that the
/// generated answer file carries; secrets are placeholders the caller fills
/// in at the last moment (the dry run shows the references).
struct DeployAnswers {
  std::string engine_fqdn;
  std::string storage_type;        // nfs | glusterfs | iscsi | fc
  std::string storage_connection;  // e.g. nfs.example.com:/exports/he
  std::string storage_domain_name = "hosted_storage";
  std::string datacenter;
  std::string cluster;
  std::string admin_password;      // value or a shown reference
  std::string appliance_root_password;
  bool pause_on_restore = false;   // never pause in an unattended run
};

/// otopi answer-file text (`[environment:default]` and KEY=type:value lines).
/// Keys are those of ovirt-hosted-engine-setup's constants.py; the renew-PKI
/// question is left to its default (no).
std::string deploy_answer_file(const DeployAnswers& a);

}  // namespace she
