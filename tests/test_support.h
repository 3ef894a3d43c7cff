// Helpers shared by the test suites: run the real binary, make temp dirs.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace she::test {

struct ProcessResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved
};

/// Runs `command` through /bin/sh with the working directory at the source
/// tree; `env` is prepended (e.g. "FOO=1 BAR=2").
ProcessResult run(const std::string& command, const std::string& env = "");

/// Runs she-restore with `args`.
ProcessResult she_restore(const std::string& args, const std::string& env = "");
/// Runs the testbed (she-restore plus the test.* step types) with `args`.
ProcessResult testbed(const std::string& args, const std::string& env = "");

/// Starts the testbed in the background, output to `log`, stdin /dev/null.
int spawn_testbed(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& log);
/// The same for she-restore itself.
int spawn_she_restore(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& log);
/// Waits for a child: its exit code, or -signal when a signal ended it.
int wait_child(int pid);
/// Kills `pid` (SIGKILL) and returns once it is dead (a zombie for the test
/// to reap), so that nothing sent to it afterwards can reach it.
void kill_and_wait_dead(int pid);

/// Kills and reaps a child the test started if a failed REQUIRE leaves
/// before the test waits for it (set pid to -1 once it is reaped).
struct ChildGuard {
  int pid = -1;
  ~ChildGuard();
};

/// What /bin/sh makes of a command line: one "[arg]" line per argument.
std::string shell_split(const std::string& command_line);

/// Copies an archive entry by entry (gzip, pax), letting `edit` change an
/// entry's content or drop it (return false): the tampered and incomplete
/// backups of the tests, their checksum lists left as they were.
void rewrite_archive(const std::string& from, const std::string& to,
                     const std::function<bool(const std::string& name, std::string& content)>& edit);

std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& text);
/// A file of `bytes` pseudo-random bytes (the same for the same size), 1 MiB
/// at a time, no two MiB alike: a piece delivered to the wrong offset shows.
void random_file(const std::filesystem::path& p, long long bytes);
std::string source_path(const std::string& rel);

/// A fresh directory removed when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace she::test
