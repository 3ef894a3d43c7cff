#include "orchestrator/plan_lock.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include "orchestrator/durable_file.h"

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
  h.pid = v.value("pid", 0);
  h.host = v.value("host", "");
  h.user = v.value("user", "");
  h.run_id = v.value("run_id", "");
  h.since = v.value("since", "");
  return h;
}

std::string LockHolder::str() const {
  return fmt::format("run {}, pid {}, user {} on host {}, since {}", run_id, pid, user, host, since);
}

PlanLock::~PlanLock() { release(); }

bool PlanLock::read_holder(const std::string& path, LockHolder* holder) {
  std::string text, err;
  if (!read_whole_file(path, &text, &err)) return false;
  try {
    *holder = LockHolder::from_value(Value::parse(text));
    return true;
  } catch (const std::exception&) {
    // A lock torn by a crash between create and write: nobody can hold it.
    *holder = LockHolder{};
    return true;
  }
}

bool PlanLock::holder_is_dead(const LockHolder& h) {
  if (h.pid <= 0) return true;
  if (h.host != this_host()) return false;  // cannot tell for another host
  return ::kill(h.pid, 0) != 0 && errno == ESRCH;
}

PlanLock::Result PlanLock::acquire(const std::string& path, const LockHolder& me, LockHolder* holder,
                                   std::string* err) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno != EEXIST) {
      *err = fmt::format("cannot create lock {}: {}", path, std::strerror(errno));
      return Result::Error;
    }
    if (!read_holder(path, holder)) return Result::Error;
    return holder_is_dead(*holder) ? Result::Stale : Result::HeldByLiveProcess;
  }
  std::string text = dump_json(me.to_value()) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    *err = fmt::format("cannot write lock {}: {}", path, std::strerror(errno));
    return Result::Error;
  }
  fsync_directory_of(path);
  path_ = path;
  held_ = true;
  return Result::Acquired;
}

void PlanLock::release() {
  if (held_) ::unlink(path_.c_str());
  held_ = false;
}

bool PlanLock::break_stale(const std::string& path, const std::string& run_id, std::string* err) {
  LockHolder h;
  if (!read_holder(path, &h)) {
    *err = fmt::format("no lock to break at {}", path);
    return false;
  }
  if (!h.run_id.empty() && h.run_id != run_id) {
    *err = fmt::format("the lock belongs to run {}, not {}; pass --break-lock {}", h.run_id, run_id, h.run_id);
    return false;
  }
  if (!holder_is_dead(h)) {
    *err = fmt::format("the lock holder is alive or on another host ({}); stop it first", h.str());
    return false;
  }
  if (::unlink(path.c_str()) != 0) {
    *err = fmt::format("cannot remove {}: {}", path, std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace she
