#include <random>
#include "tests/test_support.h"

#include <archive.h>
#include <archive_entry.h>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <cerrno>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace she::test {

ChildGuard::~ChildGuard() {
  if (pid > 0) {
    ::kill(pid, SIGKILL);
    wait_child(pid);
  }
}

void rewrite_archive(const std::string& from, const std::string& to,
                     const std::function<bool(const std::string& name, std::string& content)>& edit) {
  archive* r = archive_read_new();
  archive_read_support_filter_all(r);
  archive_read_support_format_all(r);
  archive_read_open_filename(r, from.c_str(), 65536);
  archive* w = archive_write_new();
  archive_write_add_filter_gzip(w);
  archive_write_set_format_pax_restricted(w);
  archive_write_open_filename(w, to.c_str());
  archive_entry* e;
  while (archive_read_next_header(r, &e) == ARCHIVE_OK) {
    std::string content;
    char buf[8192];
    for (la_ssize_t n; (n = archive_read_data(r, buf, sizeof buf)) > 0;) content.append(buf, static_cast<size_t>(n));
    if (!edit(archive_entry_pathname(e), content)) continue;
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_write_header(w, e);
    archive_write_data(w, content.data(), content.size());
  }
  archive_write_close(w);
  archive_write_free(w);
  archive_read_free(r);
}

ProcessResult run(const std::string& command, const std::string& env) {
  std::string full = "cd '" SHE_SOURCE_DIR "' && " + (env.empty() ? "" : "env " + env + " ") + command + " 2>&1";
  ProcessResult r;
  FILE* p = popen(full.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

ProcessResult she_restore(const std::string& args, const std::string& env) {
  return run(std::string("'") + SHE_RESTORE_BINARY + "' " + args, env);
}

ProcessResult testbed(const std::string& args, const std::string& env) {
  return run(std::string("'") + SHE_TESTBED_BINARY + "' " + args + " < /dev/null", env);
}

namespace {
int spawn(const char* binary, const std::vector<std::string>& args, const std::vector<std::string>& env,
          const std::string& log) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: quiet stdin, output to the log, the extra environment on top.
  if (chdir(SHE_SOURCE_DIR) != 0) _exit(127);
  int in = ::open("/dev/null", O_RDONLY);
  int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  dup2(in, 0);
  dup2(out, 1);
  dup2(out, 2);
  for (auto& e : env) putenv(const_cast<char*>(e.c_str()));
  std::vector<char*> argv = {const_cast<char*>(binary)};
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(binary, argv.data());
  _exit(127);
}
}  // namespace

int spawn_testbed(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& log) {
  return spawn(SHE_TESTBED_BINARY, args, env, log);
}

int spawn_she_restore(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& log) {
  return spawn(SHE_RESTORE_BINARY, args, env, log);
}

int wait_child(int pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return WEXITSTATUS(status);
}

void kill_and_wait_dead(int pid) {
  ::kill(pid, SIGKILL);
  const std::string stat = "/proc/" + std::to_string(pid) + "/stat";
  for (int i = 0; i < 5000; ++i) {
    std::string s = read_file(stat);
    size_t paren = s.rfind(')');
    if (s.empty() || (paren != std::string::npos && paren + 2 < s.size() && s[paren + 2] == 'Z')) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::string shell_split(const std::string& command_line) {
  TempDir dir;
  write_file(dir.path() / "split.sh", "set -- " + command_line + "\nfor a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\n");
  return run("sh '" + (dir.path() / "split.sh").string() + "'").output;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void random_file(const std::filesystem::path& p, long long bytes) {
  std::mt19937_64 rng(static_cast<unsigned long long>(bytes));
  std::string block(1 << 20, '\0');
  for (auto& c : block) c = static_cast<char>(rng());
  std::ofstream out(p, std::ios::binary);
  for (long long done = 0; done < bytes; done += static_cast<long long>(block.size())) {
    block[static_cast<size_t>(done >> 20) % block.size()] ^= 1;
    out.write(block.data(), static_cast<std::streamsize>(std::min<long long>(bytes - done, static_cast<long long>(block.size()))));
  }
}

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

std::string source_path(const std::string& rel) {
  return !rel.empty() && rel[0] == '/' ? rel : std::string(SHE_SOURCE_DIR) + "/" + rel;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "she-test-XXXXXX").string();
  char* made = mkdtemp(tmpl.data());
  path_ = made ? made : tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace she::test
