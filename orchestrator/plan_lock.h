// One writer per plan (Terraform's state lock). The kernel does the
// locking: flock(2) on the plan's lock file, released by the kernel when the
// holder dies, so two runs starting at the same instant cannot both win.
// The file's content says who holds it (pid, host, user, run id, since).
// A holder that died leaves its content behind without the flock: that is a
// stale lock, and it is taken over only on request, by naming its run id
// (`--break-lock RUN_ID`, as `terraform force-unlock` takes the lock id).
#pragma once

#include <string>

#include "workflows/expression.h"

namespace she {

struct LockHolder {
  int pid = 0;
  std::string host;
  std::string user;
  std::string run_id;
  std::string since;

  Value to_value() const;
  static LockHolder from_value(const Value& v);
  std::string str() const;  // "run X, pid N, user U on host H, since T"
};

class PlanLock {
 public:
  enum class Result {
    Acquired,
    TakenOver,  // left by a process of this host that is gone (the flock proves it): acquired, say so
    HeldByLiveProcess,
    Stale,  // left by a process of another host: it may be alive; --break-lock RUN_ID
    WrongRunId,
    Error
  };

  PlanLock() = default;
  ~PlanLock();
  PlanLock(const PlanLock&) = delete;
  PlanLock& operator=(const PlanLock&) = delete;

  /// Takes the lock at `path` for `me`. A stale lock is taken over only if
  /// `break_run_id` names its run; otherwise `holder` says who holds it.
  Result acquire(const std::string& path, const LockHolder& me, const std::string& break_run_id, LockHolder* holder,
                 std::string* err);
  void release();

  enum class State { Free, Held, Stale };
  /// Who holds the lock at `path`, without taking it (status).
  static State inspect(const std::string& path, LockHolder* holder);

 private:
  int fd_ = -1;
};

/// This machine's host name and the login name of the user.
std::string this_host();
std::string this_user();

}  // namespace she
