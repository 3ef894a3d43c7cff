// `she-restore completion bash`: the script loaded in a real bash and asked
// for completions at several positions of a command line, as bash asks.
#include <doctest/doctest.h>

#include <sstream>

#include "tests/test_support.h"

using namespace she;

namespace {

/// The completions bash's `_she_restore` offers for `words` (after the
/// program) with the cursor on word `cword` (1 is the first after the
/// program), one per line, sorted, from the source tree.
std::vector<std::string> complete(int cword, const std::vector<std::string>& words) {
  std::string array = std::string("'") + SHE_RESTORE_BINARY + "'";
  for (auto& w : words) array += " '" + w + "'";
  std::string script = "source <('" SHE_RESTORE_BINARY "' completion bash) && COMP_WORDS=(" + array +
                       ") && COMP_CWORD=" + std::to_string(cword) +
                       " && _she_restore && printf '%s\\n' \"${COMPREPLY[@]}\" | sort";
  test::TempDir dir;
  test::write_file(dir.path() / "script", script);
  auto r = test::run("bash '" + (dir.path() / "script").string() + "'");
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> out;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("completion: bash completes subcommands and plan files at the first word") {
  auto first = complete(1, {""});
  CHECK(has(first, "validate"));
  CHECK(has(first, "report"));
  CHECK(has(first, "schema"));
  CHECK_FALSE(has(first, "__step-ids"));  // the script's own helper stays hidden
  CHECK(has(first, "plans"));             // a directory, to walk into
  auto plans = complete(1, {"plans/she-restore-f"});
  CHECK(plans == std::vector<std::string>{"plans/she-restore-failover.yaml"});
  // Only plan files: the PEM beside the example plans is not offered.
  auto examples = complete(1, {"examples/three-hosts/"});
  CHECK(has(examples, "examples/three-hosts/environment.yaml"));
  CHECK_FALSE(has(examples, "examples/three-hosts/engine-ca.pem"));
}

TEST_CASE("completion: bash completes each level's flags and their choices") {
  auto top = complete(1, {"--dr"});
  CHECK(top == std::vector<std::string>{"--dry-run"});
  auto status = complete(2, {"status", "--"});
  CHECK(has(status, "--output"));
  CHECK(has(status, "--state-dir"));
  CHECK_FALSE(has(status, "--dry-run"));  // a run's flag, not status's
  CHECK(complete(3, {"status", "--output", ""}) == std::vector<std::string>{"json", "text"});
  CHECK(complete(3, {"report", "--format", "m"}) == std::vector<std::string>{"md"});
  CHECK(complete(2, {"completion", ""}) == std::vector<std::string>{"bash"});
  // A free value (--param NAME=VALUE) gets no guesses.
  CHECK(complete(2, {"--param", ""}).empty());
}

TEST_CASE("completion: bash completes step types for steps and step ids for --from from the plan") {
  auto types = complete(2, {"steps", "engine.host."});
  CHECK(has(types, "engine.host.remove"));
  CHECK(has(types, "engine.host.fence_manual"));
  for (auto& t : types) CHECK(t.rfind("engine.host.", 0) == 0);
  CHECK(complete(2, {"steps", "engine.host.rem"}) == std::vector<std::string>{"engine.host.remove"});

  // The ids come from the procedure the plan uses, the plan after --from
  // as well as before it.
  auto ids = complete(2, {"--from", "", "examples/three-hosts/restore-failover.yaml"});
  CHECK(has(ids, "read-manifest"));
  CHECK(has(ids, "verify-archive"));
  auto fence = complete(4, {"examples/lab-rehearsal/restore-failover.yaml", "--yes", "--from", "fen"});
  CHECK(fence == std::vector<std::string>{"fence"});
  // A block's id and the ids of its steps.
  auto block = complete(4, {"examples/lab-rehearsal/restore-failover.yaml", "--yes", "--from", "re"});
  CHECK(has(block, "replace-dead"));
  CHECK(has(block, "reinstall"));
  // No plan on the line: nothing to offer.
  CHECK(complete(2, {"--from", ""}).empty());
}

TEST_CASE("completion: the step-ids helper lists a plan's ids without running or checking it") {
  test::TempDir dir;
  // An environment that does not exist: the plan could not run, its ids
  // are still there to complete.
  test::write_file(dir.path() / "plan.yaml",
                   "plan: p\nenvironment: missing.yaml\nsteps:\n  - id: first\n    uses: engine.health\n"
                   "  - id: second\n    uses: engine.health\n");
  auto r = test::she_restore("__step-ids '" + (dir.path() / "plan.yaml").string() + "'");
  CHECK(r.exit_code == 0);
  CHECK(r.output == "first\nsecond\n");
  r = test::she_restore("__step-ids '" + (dir.path() / "none.yaml").string() + "'");
  CHECK(r.exit_code == 3);
}
