// The legacy restore's engine VM as a lab host (lab/staged_disaster.h,
// deploy: legacy): while its machine is off, every command meets what ssh
// meets at an unreachable machine; inside it, `shutdown -h now` (seed 000,
// "Shut down the new Engine virtual machine") powers it off, which the
// deploy waiting on the failover host sees.
#include <fmt/format.h>

#include "lab/agent/agent.h"
#include "lab/host_fleet.h"

namespace she::lab::agent {

bool powered_off(const Agent& a) { return fs::exists(a.map(kPoweredOffMarker)); }

int unreachable_machine(const Agent& a) {
  std::string hostname;
  if (!read_file(a.map("/etc/hostname"), &hostname) || trim(hostname).empty()) hostname = a.host;
  err(fmt::format("ssh: connect to host {} port 22: No route to host\n", trim(hostname)));
  return 255;
}

int shutdown(Agent& a, const Args& argv) {
  bool halt = false, now = false;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    if (argv[i] == "-h" || argv[i] == "-P" || argv[i] == "--poweroff" || argv[i] == "-H" || argv[i] == "--halt")
      halt = true;
    else if (argv[i] == "now" || argv[i] == "+0")
      now = true;
    else {
      err(fmt::format("she-lab-agent: shutdown: the lab simulates only shutdown -h now, not '{}'\n", argv[i]));
      return 1;
    }
  }
  if (!halt || !now) {
    err("she-lab-agent: shutdown: the lab simulates only shutdown -h now\n");
    return 1;
  }
  // The engine's own PostgreSQL goes down with the machine (the fleet stops it).
  const LabReply r = lab_post(a, "/lab/he-legacy-engine-vm", {{"power", "off"}});
  if (r.status != 200) {
    err("she-lab-agent: the lab engine cannot be reached: " + (r.error.empty() ? r.body : r.error) + "\n");
    return 1;
  }
  return 0;
}

}  // namespace she::lab::agent
