// The lab manager's command line: one OVM CLI command line read as the CLI
// reads it (hosts/ovm_cli_command.h), applied to the manager's database
// (ovm_world.h) with the manager's refusals (a name that exists, an unknown
// object, the disk mapping of a running VM, a slot in use), and answered in
// the CLI's format: Command / Status / Time / JobId / Data or Error Msg.
// A VM's change rewrites its vm.cfg in its repository, as the manager does.
#pragma once

#include <filesystem>
#include <string>

namespace she::lab::ovm {

struct CliSetup {
  /// The manager's "/" (its lab sandbox): the database lives at
  /// database_path() and the ovmm service runs while service_flag() exists.
  std::filesystem::path manager_root;
  /// The lab hosts' directories (DIR/hosts): a repository presented by a
  /// server lives at hosts_dir/SERVER/root/OVS/Repositories/ID.
  std::filesystem::path hosts_dir;

  std::filesystem::path database_path() const;
  std::filesystem::path service_flag() const;
};

struct CliReply {
  std::string text;    // what the CLI prints
  int exit_code = 0;
  bool wrote = false;  // the database changed
};

/// Answers one command line; `now` is the Time: line's text.
CliReply answer_cli(const CliSetup& setup, const std::string& line, const std::string& now);

}  // namespace she::lab::ovm
