// The bulk byte stream of a large copy carried by OpenSSH's own client
// (/usr/bin/ssh) instead of libssh2. Debian 12's libssh2 (1.10) hands the
// cipher 16 bytes per EVP call, so a stream through it is bound by
// libcrypto call overhead at about half of scp's rate; ssh encrypts whole
// packets with the CPU's AES instructions. Everything else (the copy's
// small commands, its checks, its retries) stays on the libssh2 session.
//
// Trust is the session's, not ssh's defaults: no user or system config
// (-F /dev/null), the target's own known_hosts as the only trust anchor
// (strict: a host not in it is refused, nothing is appended), host-key
// algorithms limited to the key types that file has for the host (as
// libssh2 limits them), the target's key file only (no agent, no other
// identity), and no prompt. ssh is used only where it can authenticate
// exactly as libssh2 would with nothing secret on its command line or in
// its environment: a key file without passphrase, no password.
#pragma once

#include <string>
#include <vector>

#include "hosts/ssh_session.h"

namespace she {

/// Where OpenSSH's client is looked for unless told otherwise.
inline constexpr const char* kOpenSshClient = "/usr/bin/ssh";

/// Why OpenSSH's client `client` cannot carry a stream to `t` as libssh2
/// would authenticate there; empty when it can.
std::string openssh_unusable(const SshTarget& t, const std::string& client);

/// The command line that runs `command` on `t`'s host (as an exec request,
/// the way a libssh2 channel does). `host_key_methods` is the list the
/// host's known_hosts entries allow (SshSession::known_host_key_methods).
std::vector<std::string> openssh_argv(const SshTarget& t, const std::string& client, const std::string& host_key_methods,
                                      const std::string& command);

/// Runs `command` on `t`'s host through `client`: standard input from
/// opts.stdin_source, standard output to opts.on_stdout (else kept as a
/// tail), standard error as a tail; opts.should_stop and opts.timeout end
/// it (SIGTERM, SIGKILL after a bound), and the child is always reaped.
/// Returns the remote command's exit status. Throws SshError when ssh
/// itself fails (exit 255: the kind from what it says, so retries classify
/// it as libssh2's would), Interrupted when stopped.
ExecResult openssh_exec(const SshTarget& t, const std::string& client, const std::string& command,
                        const ExecOptions& opts);

}  // namespace she
