#include "orchestrator/run_directory.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <random>

#include "base/clock.h"

namespace fs = std::filesystem;

namespace she {

std::string state_root(const std::string& override_dir) {
  if (!override_dir.empty()) return override_dir;
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) return std::string(x) + "/she-restore";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.local/state/she-restore";
}

std::string plan_state_dir(const std::string& root, const std::string& plan_name) {
  std::string safe;
  for (char c : plan_name) safe += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  if (safe.empty() || safe[0] == '.') safe = "_" + safe;
  return root + "/" + safe;
}

std::string plan_lock_path(const std::string& plan_dir) { return plan_dir + "/lock"; }

RunPaths run_paths(const std::string& plan_dir, const std::string& run_id) { return {plan_dir + "/" + run_id}; }

std::string new_run_id(const std::string& plan_dir) {
  std::random_device rd;
  return fmt::format("{:04}-{}-{:06x}", list_runs(plan_dir).size() + 1, format_utc_now("%Y%m%dT%H%M%SZ"),
                     rd() & 0xffffff);
}

std::vector<std::string> list_runs(const std::string& plan_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(plan_dir, ec))
    if (e.is_directory() && fs::exists(e.path() / "journal")) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace she
