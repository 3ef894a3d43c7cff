// systemd-run --unit=NAME --collect -- CMD ARGS...: the agent runs CMD (one
// of its own commands) detached from the SSH session (double fork, new
// session), its output appended to /var/log/she-restore/NAME.log in the
// sandbox and its exit code written to /var/log/she-restore/NAME.status
// when it ends. While it runs, /run/she-lab/units/NAME.pid holds its pid
// (HostFleet::stop() ends what is left).
#include <csignal>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab/agent/agent.h"

namespace she::lab::agent {

namespace {

/// The unit's process while it runs, else 0.
long unit_pid(const fs::path& pid_file) {
  std::string text;
  if (!read_file(pid_file, &text)) return 0;
  const long pid = std::atol(text.c_str());
  if (pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) != 0) return 0;
  std::string comm;
  read_file(fmt::format("/proc/{}/comm", pid), &comm);
  return trim(comm).rfind("she-lab-agent", 0) == 0 ? pid : 0;
}

/// NAME for NAME.service, as systemctl takes either.
std::string unit_name(std::string unit) {
  if (unit.size() > 8 && unit.compare(unit.size() - 8, 8, ".service") == 0) unit.resize(unit.size() - 8);
  return unit;
}

bool valid_unit(const std::string& name) {
  if (name.empty() || name.size() > 200) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::string(":-_.\\@").find(c) == std::string::npos) return false;
  return true;
}

}  // namespace

int systemd_run(Agent& a, const Args& argv) {
  std::string unit;
  std::size_t i = 1;
  for (; i < argv.size(); ++i) {
    const std::string& x = argv[i];
    if (x == "--") {
      ++i;
      break;
    }
    if (x.rfind("--unit=", 0) == 0) unit = x.substr(7);
    else if (x == "--unit" && i + 1 < argv.size()) unit = argv[++i];
    else if (x == "--collect" || x == "-G" || x == "--quiet" || x == "-q") continue;
    else if (x.rfind("--property=StandardOutput=append:", 0) == 0 || x.rfind("--property=StandardError=append:", 0) == 0) {
      // The lab always appends the unit's output to its log file; a plan that
      // names that same file says what real systemd needs to be told.
      const std::string path = x.substr(x.find("append:") + 7);
      if (path != "/var/log/she-restore/" + (unit.empty() ? std::string("?") : unit) + ".log" &&
          path.rfind("/var/log/she-restore/", 0) != 0) {
        err(fmt::format("she-lab-agent: systemd-run: the lab writes unit output only under /var/log/she-restore/\n"));
        return 1;
      }
      continue;
    }
    else if (x.rfind("-", 0) == 0) {
      err(fmt::format("she-lab-agent: systemd-run: the lab does not simulate option '{}'\n", x));
      return 1;
    } else
      break;  // the command, without "--"
  }
  if (i >= argv.size()) {
    err("Command line to execute required.\n");
    return 1;
  }
  unit = unit_name(unit);
  if (unit.empty()) unit = fmt::format("run-u{}", ::getpid());
  if (!valid_unit(unit)) {
    err(fmt::format("Failed to mangle unit name: Invalid argument\n"));
    return 1;
  }
  const Args command(argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end());
  const fs::path units = a.map("/run/she-lab/units");
  const fs::path pid_file = units / (unit + ".pid");
  const fs::path log = a.map("/var/log/she-restore/" + unit + ".log");
  const fs::path status = a.map("/var/log/she-restore/" + unit + ".status");
  std::error_code ec;
  fs::create_directories(units, ec);
  fs::create_directories(log.parent_path(), ec);
  if (unit_pid(pid_file) > 0) {
    err(fmt::format("Failed to start transient service unit: Unit {}.service already exists.\n", unit));
    return 1;
  }
  fs::remove(status, ec);

  int ready[2];
  if (::pipe(ready) != 0) {
    err("Failed to start transient service unit: cannot create a pipe\n");
    return 1;
  }
  const pid_t child = ::fork();
  if (child < 0) {
    err("Failed to start transient service unit: fork failed\n");
    return 1;
  }
  if (child == 0) {
    ::close(ready[0]);
    ::setsid();
    const pid_t grandchild = ::fork();
    if (grandchild != 0) ::_exit(grandchild < 0 ? 1 : 0);
    // The unit: detached from the session, output to its log.
    ::signal(SIGHUP, SIG_IGN);
    const int in = ::open("/dev/null", O_RDONLY);
    const int outfd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(in, 0);
    ::dup2(outfd, 1);
    ::dup2(outfd, 2);
    if (in > 2) ::close(in);
    if (outfd > 2) ::close(outfd);
    write_file_atomic(pid_file, fmt::format("{}\n", ::getpid()), 0644);
    a.log({{"unit", unit}, {"argv", command}});
    const char ok = 1;
    (void)!::write(ready[1], &ok, 1);
    ::close(ready[1]);
    const int rc = run_command(a, command);
    write_file_atomic(status, fmt::format("{}\n", rc), 0644);
    fs::remove(pid_file, ec);
    a.log({{"unit", unit}, {"exit", rc}});
    ::_exit(rc);
  }
  ::close(ready[1]);
  int st = 0;
  ::waitpid(child, &st, 0);
  char ok = 0;
  const bool started = ::read(ready[0], &ok, 1) == 1;
  ::close(ready[0]);
  if (!started) {
    err("Failed to start transient service unit: the unit did not start\n");
    return 1;
  }
  err(fmt::format("Running as unit: {}.service\n", unit));
  return 0;
}

}  // namespace she::lab::agent

namespace she::lab::agent {

namespace {

/// `systemctl show --property=MainPID [--value] NAME`: the unit's process
/// while it runs, 0 once it ended or never was (systemd answers so for a
/// unit it does not know, and exits 0).
int systemctl_show(Agent& a, const Args& argv) {
  bool value = false, main_pid = false;
  std::string unit;
  for (std::size_t i = 2; i < argv.size(); ++i) {
    const std::string& x = argv[i];
    if (x == "--value") value = true;
    else if (x == "--property=MainPID" || ((x == "-p" || x == "--property") && i + 1 < argv.size() && argv[++i] == "MainPID"))
      main_pid = true;
    else if (!x.empty() && x[0] == '-') {
      err(fmt::format("she-lab-agent: systemctl show: the lab simulates only --property=MainPID [--value], not '{}'\n", x));
      return 1;
    } else
      unit = unit_name(x);
  }
  if (!main_pid || unit.empty()) {
    err("she-lab-agent: systemctl show: the lab simulates only --property=MainPID [--value] UNIT\n");
    return 1;
  }
  const long pid = unit_pid(a.map("/run/she-lab/units") / (unit + ".pid"));
  out(value ? fmt::format("{}\n", pid) : fmt::format("MainPID={}\n", pid));
  return 0;
}

}  // namespace

// `systemctl is-active [--quiet] NAME`: active while the unit's process
// lives (exit 0), else inactive (exit 3), as systemd answers; `systemctl
// show` of a unit's MainPID.
int systemctl(Agent& a, const Args& argv) {
  bool quiet = false;
  std::string unit;
  if (argv.size() >= 2 && argv[1] == "show") return systemctl_show(a, argv);
  if (argv.size() < 2 || argv[1] != "is-active") {
    err("she-lab-agent: systemctl: the lab simulates only is-active and show --property=MainPID\n");
    return 1;
  }
  for (std::size_t i = 2; i < argv.size(); ++i) {
    if (argv[i] == "--quiet" || argv[i] == "-q") quiet = true;
    else unit = unit_name(argv[i]);
  }
  // The engine's service runs while engine-setup's mark is there (engine_tools.cpp).
  const bool active = unit == "ovirt-engine" ? fs::exists(a.map("/var/lib/ovirt-engine/engine.up"))
                                             : !unit.empty() && unit_pid(a.map("/run/she-lab/units") / (unit + ".pid")) > 0;
  if (!quiet) out(active ? "active\n" : "inactive\n");
  return active ? 0 : 3;
}

}  // namespace she::lab::agent
