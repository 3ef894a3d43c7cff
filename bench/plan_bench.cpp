// Plan validation against plan size: a plan of 2,500, 5,000 and 10,000
// steps, each step referring to the one before it, loaded and validated
// whole (schema, references, expressions), against reading the same YAML
// alone in the same run (the floor any validation stands on). Linear
// growth shows as 2.0x per doubling; quadratic as 4.0x.
#include <chrono>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "base/diagnostics.h"
#include "base/yaml_reader.h"
#include "workflows/plan.h"

using namespace she;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

std::string plan_text(int steps) {
  std::string plan = fmt::format("plan: many\nenvironment: {}/tests/invalid/env.yaml\nsteps:\n", SHE_SOURCE_DIR);
  plan += "  - id: s0\n    uses: ssh.run\n    with: {host: he1, command: [uptime]}\n";
  for (int i = 1; i < steps; ++i)
    plan += fmt::format("  - id: s{}\n    uses: ssh.run\n    with: {{host: he1, command: [echo, '${{steps.s{}.exit_status}}']}}\n",
                        i, i - 1);
  return plan;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

int main() {
  const fs::path dir = fs::temp_directory_path() / fmt::format("she-bench-plan-{}", ::getpid());
  fs::create_directories(dir);
  double previous = 0, validate_10k = 0, read_10k = 0;
  fmt::print("validate a plan of N steps (each refers to the one before it):\n");
  for (int n : {2500, 5000, 10000}) {
    const std::string text = plan_text(n);
    const std::string file = (dir / fmt::format("plan-{}.yaml", n)).string();
    std::ofstream(file) << text;
    auto t = Clock::now();
    Diagnostics d;
    auto plan = load_plan(file, {}, d);
    double validate = seconds_since(t);
    if (!plan || plan->steps.size() != static_cast<size_t>(n)) {
      fmt::print(stderr, "the plan of {} steps did not validate:\n{}\n", n, d.str());
      fs::remove_all(dir);
      return 1;
    }
    t = Clock::now();
    Diagnostics dy;
    auto node = parse_yaml_text(text, file, dy);
    double read = seconds_since(t);
    fmt::print("  {:>6} steps ({:.1f} MiB): validated in {:.3f} s; reading its YAML alone {:.3f} s{}\n", n,
               text.size() / 1048576.0, validate, read,
               previous > 0 ? fmt::format("; {:.2f}x the half-size plan (linear: 2.0x)", validate / previous) : "");
    previous = validate;
    validate_10k = validate;
    read_10k = read;
  }
  fmt::print("validate 10,000 steps: {:.3f} s (target < 1 s), {:.1f}x reading its YAML alone\n", validate_10k,
             validate_10k / read_10k);
  fs::remove_all(dir);
  return 0;
}
