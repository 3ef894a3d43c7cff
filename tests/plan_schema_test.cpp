// `she-restore schema`: every shipped plan, procedure and environment is
// valid under the generated schema, checked by a real validator (Debian's
// python3-jsonschema, through tests/validate_with_schema.py), and plans the
// loader refuses for their structure are refused by it too.
#include <doctest/doctest.h>

#include <filesystem>

#include "tests/test_support.h"

using namespace she;
namespace fs = std::filesystem;

namespace {

/// The shipped YAML files that are plans, procedures or environments (the
/// lab scenarios under examples/lab/ are another format).
std::vector<std::string> shipped_files() {
  std::vector<std::string> files;
  for (const char* dir : {"plans", "examples"})
    for (auto& e : fs::recursive_directory_iterator(test::source_path(dir)))
      if (e.path().extension() == ".yaml" && e.path().parent_path().filename() != "lab")
        files.push_back(fs::relative(e.path(), SHE_SOURCE_DIR).string());
  std::sort(files.begin(), files.end());
  return files;
}

struct Validation {
  int exit_code;
  std::string output;
};

Validation validate(const fs::path& schema, const std::vector<std::string>& files) {
  std::string args;
  for (auto& f : files) args += " '" + f + "'";
  auto r = test::run("/usr/bin/python3 tests/validate_with_schema.py '" + schema.string() + "'" + args);
  return {r.exit_code, r.output};
}

}  // namespace

TEST_CASE("schema: every shipped plan procedure and environment is valid under the generated schema") {
  test::TempDir dir;
  auto r = test::she_restore("schema > '" + (dir.path() / "schema.json").string() + "'");
  REQUIRE(r.exit_code == 0);
  std::string schema = test::read_file(dir.path() / "schema.json");
  CHECK(schema.find("\"https://json-schema.org/draft/2020-12/schema\"") != std::string::npos);
  // Generated from the catalog: a step type's parameters with their help.
  CHECK(schema.find("\"with.engine.host.remove\"") != std::string::npos);

  auto files = shipped_files();
  REQUIRE(files.size() >= 10);
  auto v = validate(dir.path() / "schema.json", files);
  INFO(v.output);
  CHECK(v.exit_code == 0);
  for (auto& f : files) CHECK(v.output.find(f + ": ok") != std::string::npos);
}

TEST_CASE("schema: shipped plans and environments name the schema for editors") {
  for (auto& f : shipped_files()) {
    std::string text = test::read_file(test::source_path(f));
    int depth = static_cast<int>(std::count(f.begin(), f.end(), '/'));
    std::string up;
    for (int i = 0; i < depth; ++i) up += "../";
    INFO(f);
    CHECK(text.rfind("# yaml-language-server: $schema=" + up + "schema.json\n", 0) == 0);
  }
  // The repository's schema.json points at the build's, so a checkout's
  // editor finds it after `make build`; the install puts the file there.
  CHECK(fs::read_symlink(test::source_path("schema.json")) == "build/schema.json");
}

TEST_CASE("schema: a wrong plan is refused with where and why") {
  test::TempDir dir;
  REQUIRE(test::she_restore("schema > '" + (dir.path() / "schema.json").string() + "'").exit_code == 0);
  auto plan = [&](const std::string& name, const std::string& steps) {
    fs::path p = dir.path() / name;
    test::write_file(p, "plan: wrong\nenvironment: env.yaml\nsteps:\n" + steps);
    return p.string();
  };
  std::string unknown_key = plan("unknown-key.yaml", "  - id: health\n    uses: engine.health\n    retires: 3\n");
  std::string wrong_type = plan("wrong-type.yaml",
                                "  - id: remove\n    uses: engine.host.remove\n    with:\n"
                                "      host: hosted_engine_2\n      force: [yes]\n");
  std::string unknown_param = plan("unknown-param.yaml", "  - id: health\n    uses: engine.health\n    with: {hots: x}\n");
  std::string templated = plan("templated.yaml",
                               "  - id: remove\n    uses: engine.host.remove\n    with:\n"
                               "      host: hosted_engine_2\n      force: ${params.force}\n");
  auto v = validate(dir.path() / "schema.json", {unknown_key, wrong_type, unknown_param, templated});
  INFO(v.output);
  CHECK(v.exit_code == 1);
  CHECK(v.output.find(unknown_key + ": refused: at steps/0: Additional properties are not allowed ('retires'") !=
        std::string::npos);
  CHECK(v.output.find(wrong_type + ": refused: at steps/0/with/force") != std::string::npos);
  CHECK(v.output.find(unknown_param + ": refused: at steps/0/with: Additional properties are not allowed ('hots'") !=
        std::string::npos);
  // A ${...} template stands wherever a value may.
  CHECK(v.output.find(templated + ": ok") != std::string::npos);
}

TEST_CASE("schema: invalid plans whose fault is structural are refused by the schema too") {
  test::TempDir dir;
  REQUIRE(test::she_restore("schema > '" + (dir.path() / "schema.json").string() + "'").exit_code == 0);
  // Each is refused by the loader for its shape, which a schema can see;
  // the others under tests/invalid/ need the environment or references.
  for (const char* f : {"02-unknown-top-key", "03-unknown-step-key", "04-unknown-step-type", "05-missing-param",
                        "06-unknown-param", "07-param-wrong-type", "14-invalid-duration",
                        "15-literal-secret-in-env", "16-literal-secret-in-step", "19-invalid-on-failure",
                        "20-invalid-runs-in", "21-step-without-id", "22-invalid-step-id", "28-steps-not-list",
                        "29-bad-host-status", "31-concurrency-without-foreach", "32-engine-without-trust",
                        "34-unknown-role", "40-runs-in-empty", "47-ssh-address-only-per-host",
                        "48-lab-and-environment"}) {
    std::string file = std::string("tests/invalid/") + f + ".yaml";
    auto v = validate(dir.path() / "schema.json", {file});
    INFO(v.output);
    CHECK(v.exit_code == 1);
    CHECK(v.output.find(file + ": refused: ") != std::string::npos);
    // and she-restore's own loader agrees
    CHECK(test::she_restore("validate " + file).exit_code == 3);
  }
}
