#include "hosts/tool_output.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace she {

namespace {
std::string first_line(const std::string& s) {
  std::string l = s.substr(0, s.find('\n'));
  return l.size() > 200 ? l.substr(0, 200) + "..." : l;
}
}  // namespace

int HeClusterStatus::min_score() const {
  int m = hosts.empty() ? 0 : hosts.front().score;
  for (auto& h : hosts) m = std::min(m, h.score);
  return m;
}

std::string HeClusterStatus::engine_host() const {
  for (auto& h : hosts)
    if (h.engine_vm == "up" && h.engine_health == "good") return h.hostname;
  return {};
}

Value HeClusterStatus::to_value() const {
  Value hs = Value::array();
  for (auto& h : hosts)
    hs.push_back({{"host_id", h.host_id},         {"hostname", h.hostname},       {"score", h.score},
                  {"engine_vm", h.engine_vm},      {"engine_health", h.engine_health}, {"maintenance", h.maintenance},
                  {"live_data", h.live_data},      {"stopped", h.stopped}});
  std::string engine = engine_host();
  return {{"hosts", hs},
          {"global_maintenance", global_maintenance},
          {"min_score", min_score()},
          {"engine_health", engine.empty() ? "bad" : "good"},
          {"engine_host", engine}};
}

HeClusterStatus parse_vm_status(const std::string& out, const std::string& err, int exit_status) {
  std::string text = out.empty() ? err : out;
  if (text.find("You must run deploy first") != std::string::npos)
    throw std::runtime_error("hosted-engine is not deployed on this host (You must run deploy first)");
  if (text.find("It seems like a previous attempt to deploy hosted-engine failed") != std::string::npos)
    throw std::runtime_error("a previous hosted-engine deploy failed or is still running on this host");
  Value j = Value::parse(out, nullptr, false);
  if (exit_status != 0 || !j.is_object()) {
    // Broker errors come as a Python dict repr ({'exception': ...}), not JSON.
    throw std::runtime_error("hosted-engine --vm-status failed (exit " + std::to_string(exit_status) +
                             "): " + first_line(!err.empty() ? err : out));
  }
  HeClusterStatus st;
  st.global_maintenance = j.value("global_maintenance", false);
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_object()) continue;  // global_maintenance and such
    const Value& h = it.value();
    HeHostStatus s;
    s.host_id = h.value("host-id", std::atoi(it.key().c_str()));
    s.hostname = h.value("hostname", "");
    s.score = h.value("score", 0);
    Value es = h.value("engine-status", Value::object());
    if (es.is_string()) es = Value::parse(es.get<std::string>(), nullptr, false);  // text mode quotes it
    if (es.is_object()) {
      s.engine_vm = es.value("vm", "unknown");
      s.engine_health = es.value("health", "unknown");
      s.engine_detail = es.value("detail", "");
    }
    s.maintenance = h.value("maintenance", false);
    s.live_data = h.value("live-data", true);
    s.stopped = h.value("stopped", false);
    st.hosts.push_back(s);
  }
  std::sort(st.hosts.begin(), st.hosts.end(), [](auto& a, auto& b) { return a.host_id < b.host_id; });
  return st;
}

EngineBackupOutcome parse_engine_backup(const std::string& out, const std::string& err, int exit_status) {
  EngineBackupOutcome r;
  std::istringstream all(out + "\n" + err);
  bool done = false;
  for (std::string line; std::getline(all, line);) {
    if (line.rfind("FATAL: ", 0) == 0) r.fatal.push_back(line.substr(7));
    if (line.find("You should now run engine-setup.") != std::string::npos) r.engine_setup_needed = true;
    if (line == "Done.") done = true;
  }
  r.ok = exit_status == 0 && done && r.fatal.empty();
  return r;
}

}  // namespace she
