// Copying a file between the orchestrator and hosts, or between two hosts
// through the orchestrator (a backup goes from the engine VM to backup
// storage without touching local disk). Three stages over a ring of 1 MiB
// blocks (hosts/block_ring.h), so memory stays constant: the source fills
// it, a hasher computes SHA-256 beside the I/O, the destination drains it.
// The far side's `sha256sum` must agree (a download's source is hashed on
// a second connection while it streams); the data goes to NAME.part, renamed
// only when it checks out. Reports progress with rate and ETA, and starts
// over after a dropped connection. Uses only dd, stat, sha256sum, install,
// chmod and mv remotely.
#pragma once

#include <functional>
#include <string>

#include "hosts/ssh_session.h"

namespace she {

/// One end of a copy: a host (through its session) or, with no session,
/// the orchestrator's own disk.
struct TransferEnd {
  SshSession* session = nullptr;
  std::string path;
  std::string str() const;
};

struct TransferOptions {
  std::string mode = "0600";  // of the file at its destination
  int attempts = 3;           // a dropped connection starts the copy over
  std::function<void(const std::string&)> progress;
  std::function<bool()> should_stop;
  /// Performs the copy (or, in a rehearsal, records it with the writes it
  /// makes at its destination); none: performed.
  OperationRunner* runner = nullptr;
};

struct TransferResult {
  std::string sha256;
  long long bytes = 0;
};

/// Copies `from` to `to`; for host to host, the two ends must be different
/// sessions. Throws SshError (transport, timeout) or std::runtime_error
/// (a checksum mismatch, a local I/O error).
TransferResult copy_file(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts);

/// The copy as one operation: a write at its destination, whose parts are
/// the commands (or local file writes) the copy makes there.
Operation transfer_operation(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts);

/// SHA-256 of a file on a host, with `sha256sum`.
std::string remote_sha256(SshSession& s, const std::string& path);
/// Size of a file on a host, with `stat`.
long long remote_size(SshSession& s, const std::string& path);

}  // namespace she
