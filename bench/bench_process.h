// What the benches that run she-restore as a child share: a temporary
// directory, files, the child process timed from fork to exit with its peak
// memory, and she-restore's path.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace she::bench {

namespace fs = std::filesystem;

/// A directory removed (recursively) when it goes.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& p, const std::string& text);
std::string read_file(const fs::path& p);
/// The last `lines` lines of `text`.
std::string tail(const std::string& text, int lines);

/// she-restore next to the running executable (the same build directory),
/// else `built` (the one the build made).
fs::path she_restore_binary(const fs::path& built);

struct ProcessResult {
  int exit_code = -1;
  double seconds = 0;
  long peak_rss_kib = 0;  // the child's, from wait4
  std::string output;
};

/// Runs `args` (argv[0] the binary) with `extra_env` on top of ours, stdin
/// /dev/null, stdout and stderr to `log`; times it from fork to exit.
/// Killed after `timeout`.
ProcessResult run_process(const std::vector<std::string>& args, const std::vector<std::string>& extra_env,
                          const fs::path& log, std::chrono::seconds timeout);

}  // namespace she::bench
