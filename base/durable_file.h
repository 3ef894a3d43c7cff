// Whole-file helpers for the run directory: reads, and rewrites that are
// atomic and durable (temp file, fsync, rename, fsync of the directory), so
// a crash leaves either the old or the new file, never half of one.
#pragma once

#include <string>

namespace she {

bool read_whole_file(const std::string& path, std::string* out, std::string* err);
/// Replaces `path` with `content` (mode 0600).
bool write_file_durably(const std::string& path, const std::string& content, std::string* err);
void fsync_directory_of(const std::string& path);
/// Removes what write_file_durably(path, ...) left behind when its process
/// died before the rename; only for a path this process alone writes.
void remove_stale_temporaries(const std::string& path);
/// Creates `path` and its missing parents with mode 0700.
bool make_private_directory(const std::string& path, std::string* err);

}  // namespace she
