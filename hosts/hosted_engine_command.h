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
/// /etc/ovirt-hosted-engine/hosted-engine.conf as a deploy leaves it (the
/// keys the HA agent and `hosted-engine` read; the lab writes it).
std::string hosted_engine_conf_text(const std::string& engine_fqdn, int host_id, const std::string& hostname,
                                    const std::string& storage);

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
};

/// Where hosted-engine's Ansible role looks for hook tasks on the host.
constexpr const char* kHostedEngineHooksDir =
    "/usr/share/ansible/collections/ansible_collections/ovirt/ovirt/roles/hosted_engine_setup/hooks";

/// An `enginevm_after_engine_setup` hook that holds the deploy after
/// engine-setup has run on the restored engine and before the role adds the
/// host, until `lock_file` is removed: the moment to remove stale records of
/// the host (reference: ovirt-he-automation.md section 1, steps 6 and 7).
std::string deploy_pause_hook(const std::string& lock_file);
/// The line the hook's task prints in the deploy log.
constexpr const char* kDeployPauseMarker = "she-restore: paused before Add host";

/// Empty, or why `value` cannot go into an otopi answer file (a line break
/// would smuggle in another key).
std::string answer_value_problem(const std::string& value);

/// otopi answer-file text (`[environment:default]` and KEY=type:value lines).
/// Keys are those of ovirt-hosted-engine-setup's constants.py; the renew-PKI
/// question is left to its default (no).
std::string deploy_answer_file(const DeployAnswers& a);

}  // namespace she
