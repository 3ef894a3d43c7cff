// A plan that names a lab scenario (`lab: SCENARIO` instead of
// `environment:`) runs against a lab she-restore starts for it: `she-lab
// serve SCENARIO` in a private temporary directory, its own process group
// (a Ctrl-C reaches the run, which stops at a safe point, not the lab
// under it), stopped and removed when the command ends, or when she-restore
// dies (PR_SET_PDEATHSIG).
#pragma once

#include <string>
#include <sys/types.h>

namespace she {

/// The scenario a plan file names with `lab:` (resolved against the plan's
/// directory), or "" when it names none, also names an environment, or
/// cannot be read (the plan loader then reports what is wrong with it).
std::string lab_scenario_of(const std::string& plan_file);

class LabSession {
 public:
  /// Starts the lab and waits (60 s at most) for its environment file.
  /// Throws std::runtime_error with the lab's own words when it cannot.
  explicit LabSession(const std::string& scenario);
  ~LabSession();  // SIGTERM, then SIGKILL after 10 s; removes its directory
  LabSession(const LabSession&) = delete;
  LabSession& operator=(const LabSession&) = delete;

  /// The environment file `she-lab serve` wrote for the lab.
  const std::string& environment() const { return environment_; }

 private:
  void stop();

  pid_t pid_ = -1;
  std::string dir_, environment_;
};

}  // namespace she
