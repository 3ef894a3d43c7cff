// The engine-backup archive (reference: ovirt-he-automation.md section 3):
// a tar (gzip by default) of ./files (an inner tar of the engine's files),
// ./db/*.db dumps per scope, ./version, ./os_version, ./config, and
// ./sha256sum (or the legacy ./md5sum) listing every other entry.
// Reading streams each entry once (constant memory); writing is what the
// lab's engine-backup uses, so both sides share one definition.
#pragma once

#include <map>
#include <string>
#include <vector>

struct archive;

namespace she {

/// Lets a libarchive reader take what engine-backup writes, and nothing
/// else: tar (ustar, pax, GNU), bare or compressed with gzip, bzip2 or xz
/// (its --archive-compressor and --files-compressor choices). A hostile
/// "backup" meets no other parser (xar, 7-Zip, RAR, CAB, ISO...), and a
/// reader pulls in none of their libraries (the lab agent starts faster).
void read_engine_backup_layers(archive* a);

/// Dump file of each scope inside the archive.
const std::map<std::string, std::string>& backup_scope_dumps();

struct BackupSummary {
  std::string version;      // e.g. 4.5.6.2-1.el8
  std::string os_version;   // e.g. centos8
  std::string dump_format;  // custom | plain (DB_DUMP_FORMAT)
  std::vector<std::string> scopes;  // files, db, dwhdb, ...
  std::string checksum_kind;        // sha256sum | md5sum
  long long bytes = 0;              // the archive's size
  std::string sha256;               // of the archive file itself
  std::string engine_fqdn;          // ENGINE_FQDN from ./files, when found
};

/// Bounds on the work an archive may cost: a hostile one (a compression
/// bomb, millions of entries, paths that climb out) is refused as soon as
/// it crosses one, instead of running out of time or memory.
struct ArchiveLimits {
  size_t max_entries = 10000;         // in the archive (engine-backup writes about ten)
  size_t max_inner_entries = 2000000; // in ./files (the engine's configuration files)
  size_t max_path = 4096;             // characters of an entry's path
  long long max_entry_bytes = 1LL << 40;  // one entry, uncompressed
  long long max_total_bytes = 4LL << 40;  // every entry together, uncompressed
  // Uncompressed bytes per byte of archive, once past the first GiB: gzip
  // cannot exceed about 1032, dumps and text stay far below; only stacked
  // filters (a bomb) get there.
  long long max_expansion = 1100;
  long long expansion_floor = 1LL << 30;  // bytes read before the ratio applies
};

/// "" when `path` is a regular file that can be opened, else what it is
/// (a directory, a FIFO, a device): an archive is read from a file only.
std::string backup_file_problem(const std::string& path);

/// Checks an archive: layout, every entry against its checksum list, and
/// (when `target_version` is given) that the target can restore it.
/// Returns false with every problem in `problems`. Only a regular file is
/// read; each entry's path must be relative and stay below the archive.
bool verify_backup_archive(const std::string& path, const std::string& target_version, BackupSummary* summary,
                           std::vector<std::string>* problems, const ArchiveLimits& limits = {});

/// The same check of an archive read from `fd` as a stream (the read end
/// of a pipe an archive on a host is fed into over SSH), taken over: closed
/// when the check ends, so a writer still feeding it is told (EPIPE).
bool verify_backup_stream(int fd, const std::string& target_version, BackupSummary* summary,
                          std::vector<std::string>* problems, const ArchiveLimits& limits = {});

/// The version rule of engine-backup's verifyVersion: same X.Y and backup
/// not newer, or a pair it allows (4.3 -> 4.5, 4.4 -> 4.5); a 4.3 backup
/// below 4.3.10 is refused. Empty when allowed, else engine-backup's text.
std::string version_pair_problem(const std::string& backup_version, const std::string& installed_version);

struct BackupContent {
  std::string version = "4.5.6.2-1.el8";
  std::string os_version = "centos8";
  std::string engine_fqdn;
  std::map<std::string, std::string> dumps;  // scope -> dump bytes (e.g. {"db": "..."})
  std::map<std::string, std::string> files;  // path inside ./files -> content
  bool legacy_md5 = false;
};

/// Writes an archive with the real layout and checksums; false with `err`.
bool write_backup_archive(const std::string& path, const BackupContent& content, std::string* err);

}  // namespace she
