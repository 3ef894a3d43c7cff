// A program run to its end with its standard input given and its output
// collected: what the lab's helpers need of a child (PostgreSQL's tools,
// the agent's she-lab-http). Input and output are pumped together, so
// neither side can block the other however much each holds.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace she::lab {

struct ChildRun {
  std::string program;              // the path executed
  std::vector<std::string> argv;    // argv[0] included
  std::vector<std::string> env;     // NAME=VALUE; empty: this process's environment
  std::string input;                // its standard input
  bool merge_stderr = false;        // its errors into the output too (else they stay ours)
  std::function<bool()> in_child;   // run in the child before exec; false: exit 126
};

/// Runs it; `*output` gets what it wrote. Its exit status, 128 + the
/// signal that ended it, or 127 when it could not be started.
int run_child(const ChildRun& run, std::string* output);

}  // namespace she::lab
