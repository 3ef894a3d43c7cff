// A scratch plan of test steps with its own state directory and effects
// file, run through the testbed binary: the fixture of the executor and
// crash tests.
#pragma once

#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "orchestrator/journal.h"
#include "tests/test_support.h"

namespace she::test {

/// A scratch plan with its own state directory and effects file.
struct Scratch {
  TempDir dir;
  std::filesystem::path plan = dir.path() / "plan.yaml";
  std::filesystem::path state = dir.path() / "state";
  std::filesystem::path effects = dir.path() / "effects";

  explicit Scratch(const std::string& steps) { write_plan(steps); }

  void write_plan(const std::string& steps) {
    std::string text = "plan: scratch\nenvironment:\n  engine: {fqdn: e.test, password: 'env:SCRATCH_PW', ca_file: ca.pem}\n"
                       "steps:\n" + steps;
    size_t at;
    while ((at = text.find("EFFECTS")) != std::string::npos) text.replace(at, 7, effects.string());
    while ((at = text.find("DIR")) != std::string::npos) text.replace(at, 3, dir.path().string());
    write_file(plan, text);
  }

  ProcessResult run(const std::string& args = "", const std::string& env = "") {
    return testbed("'" + plan.string() + "' --state-dir '" + state.string() + "' " + args, env);
  }
  ProcessResult status() {
    return testbed("status '" + plan.string() + "' --state-dir '" + state.string() + "' --output json");
  }

  std::map<std::string, int> effect_counts() {
    std::map<std::string, int> out;
    std::istringstream in(read_file(effects));
    for (std::string line; std::getline(in, line);) ++out[line];
    return out;
  }

  /// The latest run (one killed before its journal existed does not count).
  std::filesystem::path run_dir() {
    std::filesystem::path latest;
    for (auto& e : std::filesystem::directory_iterator(state / "scratch"))
      if (e.is_directory() && std::filesystem::exists(e.path() / "journal") && e.path() > latest) latest = e.path();
    return latest;
  }

  std::vector<Value> journal() {
    std::vector<Value> records;
    std::string warning, err;
    Journal::read((run_dir() / "journal").string(), &records, &warning, &err);
    return records;
  }
};

}  // namespace she::test
