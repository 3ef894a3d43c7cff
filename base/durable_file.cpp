#include "base/durable_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace she {

bool read_whole_file(const std::string& path, std::string* out, std::string* err) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = fmt::format("cannot read {}: {}", path, std::strerror(errno));
    return false;
  }
  out->clear();
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *err = fmt::format("cannot read {}: {}", path, std::strerror(errno));
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

void fsync_directory_of(const std::string& path) {
  std::string dir = fs::path(path).parent_path().string();
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

namespace {
// Where write_file_durably writes before its rename: per process, so two
// writers never share one.
std::string temporary_prefix(const std::string& path) { return path + ".tmp."; }
}  // namespace

void remove_stale_temporaries(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  const std::string prefix = fs::path(temporary_prefix(path)).filename().string();
  for (const auto& e : fs::directory_iterator(p.parent_path().empty() ? fs::path(".") : p.parent_path(), ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) fs::remove(e.path(), ec);
}

bool write_file_durably(const std::string& path, const std::string& content, std::string* err) {
  std::string tmp = temporary_prefix(path) + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *err = fmt::format("cannot write {}: {}", tmp, std::strerror(errno));
    return false;
  }
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    done += static_cast<size_t>(n);
  }
  bool ok = done == content.size() && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    *err = fmt::format("cannot write {}: {}", path, std::strerror(errno));
    ::unlink(tmp.c_str());
    return false;
  }
  fsync_directory_of(path);
  return true;
}

bool make_private_directory(const std::string& path, std::string* err) {
  std::error_code ec;
  fs::path p(path);
  std::vector<fs::path> missing;
  for (fs::path cur = p; !cur.empty() && !fs::exists(cur, ec); cur = cur.parent_path()) missing.push_back(cur);
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0700) != 0 && errno != EEXIST) {
      *err = fmt::format("cannot create {}: {}", it->string(), std::strerror(errno));
      return false;
    }
    // The new entry is durable only once its parent directory is synced.
    fsync_directory_of(it->string());
  }
  if (!fs::is_directory(p, ec)) {
    *err = fmt::format("{} is not a directory", path);
    return false;
  }
  return true;
}

}  // namespace she
