// One writer per plan: a lock file beside the plan's runs holding the pid,
// host, user and run id of its holder (Terraform's state lock). A lock whose
// process is gone on this host is stale; it is broken only on request, by
// naming its run id, as `terraform force-unlock` takes the lock id.
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
  enum class Result { Acquired, HeldByLiveProcess, Stale, Error };

  PlanLock() = default;
  ~PlanLock();
  PlanLock(const PlanLock&) = delete;
  PlanLock& operator=(const PlanLock&) = delete;

  /// Takes the lock at `path` for `me`; otherwise fills `holder`.
  Result acquire(const std::string& path, const LockHolder& me, LockHolder* holder, std::string* err);
  void release();

  /// Removes a stale lock held by run `run_id`; refuses a live or other one.
  static bool break_stale(const std::string& path, const std::string& run_id, std::string* err);
  /// Who holds the lock at `path`, if anyone.
  static bool read_holder(const std::string& path, LockHolder* holder);
  /// True when the holder's process is gone (only decidable on this host).
  static bool holder_is_dead(const LockHolder& h);

 private:
  std::string path_;
  bool held_ = false;
};

/// This machine's host name and the login name of the user.
std::string this_host();
std::string this_user();

}  // namespace she
