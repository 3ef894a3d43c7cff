// Copying a file between the orchestrator and hosts, or between two hosts
// through the orchestrator (a backup goes from the engine VM to backup
// storage without touching local disk). Three stages over a ring of 1 MiB
// blocks (hosts/block_ring.h), so memory stays constant: the source fills
// it, a hasher computes SHA-256 beside the I/O, the destination drains it.
// The far side's SHA-256 must agree (a host destination hashes its .part
// once written; a download's source is hashed on a second connection while
// it streams); the data goes to NAME.part, renamed
// only when it checks out. Reports progress with rate and ETA, and starts
// over after a dropped connection. Uses only sh (to join two commands in
// one round trip), mkdir, dd, stat, openssl or sha256sum, install, chmod and
// mv remotely.
//
// A large file may instead go as byte ranges at once (TransferOptions::
// streams), each range read and written with dd on its own SSH connections
// through a ring of its own (memory: streams x 8 MiB). Ranges arrive out of
// order, so nothing hashes the stream: the source file is hashed where it
// is (our side reads a local source a second time while the ranges go; a
// host runs sha256sum on a connection of its own) and the written .part
// where it is (sha256sum on the host, or our side reading the local .part
// once every range is in); the two SHA-256 of the whole file must agree.
#pragma once

#include <functional>
#include <string>

#include "hosts/openssh_stream.h"
#include "hosts/ssh_session.h"

namespace she {

/// One end of a copy: a host (through its session) or, with no session,
/// the orchestrator's own disk.
struct TransferEnd {
  SshSession* session = nullptr;
  std::string path;
  std::string str() const;
};

/// The number of ranged streams unless told otherwise: 0, by direction.
/// In she-bench-transfer (see README) two ranges beat one stream when a
/// host receives the file (one ssh encrypts on one core; the host hashes
/// its .part once written either way) and lose for a download, whose
/// ranges land out of order in our .part, which must then be read again
/// to be hashed, while one stream is hashed as it arrives.
constexpr int kDefaultTransferStreams = 0;
constexpr int kToHostStreams = 2;

struct TransferOptions {
  std::string mode = "0600";  // of the file at its destination
  int attempts = 3;           // a dropped connection starts the copy over
  std::function<void(const std::string&)> progress;
  std::function<bool()> should_stop;
  /// Performs the copy (or, in a rehearsal, records it with the writes it
  /// makes at its destination); none: performed.
  OperationRunner* runner = nullptr;
  /// A file of at least `parallel_from` bytes goes as this many byte ranges
  /// at once: libssh2 encrypts on the calling thread, so one connection is
  /// bound to one core. 1: one stream whatever the size. 0: by direction,
  /// kToHostStreams when a host receives the file, one stream for a
  /// download.
  int streams = kDefaultTransferStreams;
  long long parallel_from = 256LL << 20;
  /// Ranged copies: called once every range is in the destination's .part,
  /// before the .part is checked (tests corrupt it there, as a failing
  /// disk would).
  std::function<void()> on_written;
  /// A file of at least `openssh_from` bytes has its bulk stream carried,
  /// at each host end where it can be (openssh_unusable), by OpenSSH's
  /// client `openssh_client` (hosts/openssh_stream.h); everything else of
  /// the copy, and a smaller file, stays on the end's libssh2 session.
  long long openssh_from = 64LL << 20;
  std::string openssh_client = kOpenSshClient;
};

struct TransferResult {
  std::string sha256;
  long long bytes = 0;
  /// What carried each end's bulk stream: "local" (our own disk),
  /// "libssh2" or "openssh".
  std::string source_stream, destination_stream;
};

/// Copies `from` to `to`; for host to host, the two ends must be different
/// sessions. Throws SshError (transport, timeout) or std::runtime_error
/// (a checksum mismatch, a local I/O error).
TransferResult copy_file(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts);

/// The ranged streams a copy of at least `parallel_from` bytes to `to`
/// goes as: as told, or by direction (TransferOptions::streams).
int transfer_streams(const TransferEnd& to, const TransferOptions& opts);

/// The copy as one operation: a write at its destination, whose parts are
/// the commands (or local file writes) the copy makes there. `size` is the
/// source's, which decides whether it goes as ranges; -1 (unknown: a dry
/// run before the step that makes the file): one stream.
Operation transfer_operation(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts,
                             long long size = -1);

/// The command a host runs for the SHA-256 of `path` (of its standard input
/// when empty): OpenSSL's where the host has it, sha256sum where not. Its
/// output's first word is the digest.
std::vector<std::string> host_sha256_command(const std::string& path);

/// SHA-256 of a file on a host (host_sha256_command).
std::string remote_sha256(SshSession& s, const std::string& path);
/// Size of a file on a host, with `stat`.
long long remote_size(SshSession& s, const std::string& path);

}  // namespace she
