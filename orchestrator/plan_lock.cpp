#include "orchestrator/plan_lock.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/durable_file.h"

namespace she {

std::string this_host() {
  char buf[256] = {0};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string this_user() {
  if (const passwd* pw = ::getpwuid(::geteuid())) return pw->pw_name;
  if (const char* u = std::getenv("USER")) return u;
  return std::to_string(::geteuid());
}

Value LockHolder::to_value() const {
  return {{"pid", pid}, {"host", host}, {"user", user}, {"run_id", run_id}, {"since", since}};
}

LockHolder LockHolder::from_value(const Value& v) {
  LockHolder h;
  if (!v.is_object()) return h;
  h.pid = v.value("pid", 0);
  h.host = v.value("host", "");
  h.user = v.value("user", "");
  h.run_id = v.value("run_id", "");
  h.since = v.value("since", "");
  return h;
}

std::string LockHolder::str() const {
  if (run_id.empty() && pid == 0) return "another she-restore process (just starting)";
  return fmt::format("run {}, pid {}, user {} on host {}, since {}", run_id, pid, user, host, since);
}

namespace {

LockHolder read_holder(int fd) {
  std::string text;
  char buf[4096];
  ::lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  return LockHolder::from_value(Value::parse(text, nullptr, false));
}

bool write_holder(int fd, const LockHolder& me) {
  std::string text = dump_json(me.to_value()) + "\n";
  return ::ftruncate(fd, 0) == 0 && ::pwrite(fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()) &&
         ::fsync(fd) == 0;
}

}  // namespace

PlanLock::~PlanLock() { release(); }

PlanLock::Result PlanLock::acquire(const std::string& path, const LockHolder& me, const std::string& break_run_id,
                                   LockHolder* holder, std::string* err) {
  release();
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    *err = fmt::format("cannot open the lock {}: {}", path, std::strerror(errno));
    return Result::Error;
  }
  fsync_directory_of(path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    *holder = read_holder(fd);
    ::close(fd);
    return Result::HeldByLiveProcess;
  }
  // We hold the flock. Content left behind belongs to a run that died, if
  // it ran on this host: a flock is released with its last holder's death,
  // so ours proves it. One written on another host (a lock file on shared
  // storage) proves nothing there: that holder may be alive.
  LockHolder left = read_holder(fd);
  bool stale = left.pid != 0 || !left.run_id.empty();
  bool ours = left.host == me.host;
  if (stale && left.run_id != break_run_id && !(ours && break_run_id.empty())) {
    *holder = left;
    ::close(fd);  // drops the flock
    return break_run_id.empty() ? Result::Stale : Result::WrongRunId;
  }
  if (!write_holder(fd, me)) {
    *err = fmt::format("cannot write the lock {}: {}", path, std::strerror(errno));
    ::close(fd);
    return Result::Error;
  }
  fd_ = fd;
  if (stale && ours && break_run_id.empty()) {
    *holder = left;
    return Result::TakenOver;
  }
  return Result::Acquired;
}

void PlanLock::release() {
  if (fd_ < 0) return;
  // Empty content means free; the kernel drops the flock with the file.
  if (::ftruncate(fd_, 0) == 0) ::fsync(fd_);
  ::close(fd_);
  fd_ = -1;
}

PlanLock::State PlanLock::inspect(const std::string& path, LockHolder* holder) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return State::Free;
  *holder = read_holder(fd);
  State st;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) st = State::Held;
  else st = (holder->pid != 0 || !holder->run_id.empty()) ? State::Stale : State::Free;
  ::close(fd);
  return st;
}

}  // namespace she
