// The Oracle VM procedures' dry runs (offline, against the example
// environment): golden output of each, and what they must show.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "orchestrator/dry_run.h"
#include "tests/test_support.h"

using namespace she;
namespace fs = std::filesystem;

namespace {

const char* const kOvmPlans[] = {"backup", "recreate-vms", "restore-vm-disk", "restore-repository", "restore-manager"};

std::string ovm_dry_run_of(const std::string& name) {
  Diagnostics d;
  auto plan = load_plan("examples/ovm/" + name + ".yaml", {}, d);
  REQUIRE_MESSAGE(plan, d.str());
  std::ostringstream out;
  print_dry_run(*plan, out);
  return out.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

// Regenerate after an intended change with: SHE_UPDATE_GOLDEN=1 build/tests/she-tests -tc='ovm dry run*'
TEST_CASE("ovm dry run: golden output of each Oracle VM plan") {
  for (auto* name : kOvmPlans) {
    CAPTURE(name);
    std::string got = ovm_dry_run_of(name);
    fs::path golden = test::source_path(std::string("tests/golden/ovm-") + name + ".txt");
    if (std::getenv("SHE_UPDATE_GOLDEN")) test::write_file(golden, got);
    std::string want = test::read_file(golden);
    REQUIRE_MESSAGE(!want.empty(), "missing golden file " << golden);
    auto g = lines_of(got), w = lines_of(want);
    for (size_t i = 0; i < std::min(g.size(), w.size()); ++i) {
      CAPTURE(i + 1);
      REQUIRE(g[i] == w[i]);
    }
    CHECK(g.size() == w.size());
  }
}

TEST_CASE("ovm dry run: no engine - the services stopped around the database restore are shown") {
  std::string out = ovm_dry_run_of("restore-manager");
  CHECK(out.find("engine       none (an Oracle VM environment") != std::string::npos);
  CHECK(out.find("service ovmm stop") != std::string::npos);
  CHECK(out.find("RestoreDatabase.sh ManualBackup-20161106_123032") != std::string::npos);
}
