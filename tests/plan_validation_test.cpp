// Plans that must be refused, each with the exact diagnostics it must get
// (its "# expect: KIND LINE:COLUMN" header lines), and plans that must pass.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>

#include "lab/lab_pki.h"
#include "tests/test_support.h"
#include "workflows/plan.h"
#include "workflows/secret_ref.h"

using namespace she;
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> invalid_plans() {
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(test::source_path("tests/invalid")))
    if (std::regex_match(e.path().filename().string(), std::regex("[0-9]+-.*\\.yaml"))) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

/// Expected diagnostics, as a sorted list: a duplicated error must fail.
std::vector<std::string> expected_of(const fs::path& p) {
  std::vector<std::string> out;
  static const std::regex line("# expect: ([a-z-]+) ([0-9]+:[0-9]+)");
  std::string text = test::read_file(p);
  for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it)
    out.push_back((*it)[1].str() + " " + (*it)[2].str());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("invalid plans: each gets exactly its expected errors / with kind and line:column") {
  auto plans = invalid_plans();
  REQUIRE(plans.size() >= 25);
  for (auto& p : plans) {
    std::string rel = "tests/invalid/" + p.filename().string();
    CAPTURE(rel);
    std::vector<std::string> expected = expected_of(p);
    REQUIRE(!expected.empty());
    Diagnostics d;
    auto plan = load_plan(rel, {}, d);
    CHECK_FALSE(plan);
    std::vector<std::string> got;
    for (auto& diag : d.all()) {
      got.push_back(std::string(kind_name(diag.kind)) + " " + std::to_string(diag.pos.line) + ":" +
                 std::to_string(diag.pos.column));
      CHECK_MESSAGE(!diag.hint.empty(), "no hint for: " << diag.str());
      CHECK_MESSAGE(diag.pos.file.find("invalid/") != std::string::npos, diag.str());
    }
    std::sort(got.begin(), got.end());
    CHECK_MESSAGE(got == expected, d.str());
  }
}

TEST_CASE("invalid plans: the CLI exits 3 and prints file:line:column with a hint") {
  auto r = test::she_restore("validate tests/invalid/03-unknown-step-key.yaml");
  CHECK(r.exit_code == 3);
  CHECK(r.output.find("tests/invalid/03-unknown-step-key.yaml:7:5: error[unknown-key]: unknown key 'forach' in a step\n"
                      "  hint: did you mean 'foreach'?") != std::string::npos);
  CHECK(r.output.find("nothing was run") != std::string::npos);
}

TEST_CASE("invalid plans: the binary never crashes on them / validating or rehearsing") {
  for (auto& p : invalid_plans()) {
    std::string rel = "tests/invalid/" + p.filename().string();
    CAPTURE(rel);
    CHECK(test::she_restore("validate " + rel).exit_code == 3);
    CHECK(test::she_restore("--dry-run " + rel).exit_code == 3);
  }
}

TEST_CASE("invalid plans: a literal secret is refused without being repeated") {
  for (auto* f : {"15-literal-secret-in-env.yaml", "16-literal-secret-in-step.yaml", "44-refused-secret-not-echoed.yaml"}) {
    auto r = test::she_restore(std::string("validate tests/invalid/") + f);
    CAPTURE(f);
    CHECK(r.exit_code == 3);
    CHECK(r.output.find("invalid-secret") != std::string::npos);
    CHECK(r.output.find("hunter2-literal-secret") == std::string::npos);
    CHECK(r.output.find("literal-root-pw-123") == std::string::npos);
    CHECK(r.output.find("Hunter2-refused-literal") == std::string::npos);
  }
}

namespace {
const std::vector<std::string> kExamplePlans = {"backup", "restore-failover", "restore-new-host",
                                                "remove-nonoperational", "restore-legacy", "restore-manual"};
const std::vector<std::string> kEnvironments = {"examples/three-hosts/environment.yaml",
                                                "examples/production/environment.yaml"};
}  // namespace

TEST_CASE("shipped plans: every example plan validates with every example environment") {
  for (auto& name : kExamplePlans)
    for (auto& env : kEnvironments) {
      std::string file = "examples/three-hosts/" + name + ".yaml";
      CAPTURE(file);
      CAPTURE(env);
      Diagnostics d;
      LoadOptions o;
      o.env_file = env;
      auto plan = load_plan(file, o, d);
      CHECK_MESSAGE(plan, d.str());
      if (plan) CHECK(plan->steps.size() >= 8);
    }
}

TEST_CASE("shipped plans: procedures validate directly / with parameters from the command line") {
  // The production template's files are placeholders: only the offline
  // checks of its environment may refuse it, never the plan.
  auto r = test::she_restore(
      "validate plans/she-restore-failover.yaml --env examples/production/environment.yaml "
      "--param backup=engine.backup --param storage_connection=nfs:/he --param 'high_priority_vms=[a, b]'");
  CHECK_MESSAGE(r.output.find("the plan's environment has errors") != std::string::npos, r.output);
  CHECK(r.output.find("needs parameter") == std::string::npos);
  r = test::she_restore("validate plans/she-restore-failover.yaml --env examples/production/environment.yaml");
  CHECK(r.exit_code == 3);
  CHECK(r.output.find("needs parameter 'backup'") != std::string::npos);
  CHECK(r.output.find("--param backup=VALUE") != std::string::npos);
}

TEST_CASE("shipped plans: --param values are typed and checked") {
  Diagnostics d;
  LoadOptions o;
  o.params = {{"keep", "[hosted_engine_1, hosted_engine_2]"}, {"concurrency", "3"}};
  auto plan = load_plan("examples/three-hosts/remove-nonoperational.yaml", o, d);
  REQUIRE_MESSAGE(plan, d.str());
  CHECK(plan->params["keep"] == Value::parse(R"(["hosted_engine_1", "hosted_engine_2"])"));
  CHECK(plan->find_step("fence")->concurrency == 3);

  Diagnostics d2;
  o.params = {{"concurrency", "many"}};
  CHECK_FALSE(load_plan("examples/three-hosts/remove-nonoperational.yaml", o, d2));
  CHECK(d2.str().find("parameter 'concurrency' must be a whole number") != std::string::npos);
}

TEST_CASE("catalog: every step type describes itself and declares a kind") {
  const auto& catalog = StepCatalog::builtin();
  CHECK(catalog.all().size() >= 28);
  std::set<std::string> names;
  for (auto& t : catalog.all()) {
    CAPTURE(t->name());
    CHECK(names.insert(t->name()).second);
    CHECK(!t->summary().empty());
    for (auto& p : t->params()) CHECK(!p.help.empty());
  }
  // The brief's step list, each present.
  for (auto* n : {"engine.host.maintenance", "engine.host.activate", "engine.host.fence_manual", "engine.host.remove",
                  "engine.host.add", "engine.host.install", "engine.host.wait", "engine.hosts.select", "engine.vms.start",
                  "engine.health", "ssh.run", "file.copy", "file.absent", "engine_backup.backup", "engine_backup.restore",
                  "engine_setup.run", "hosted_engine.deploy_restore", "hosted_engine.vm_status",
                  "hosted_engine.set_maintenance", "dns.check", "prompt"})
    CHECK_MESSAGE(catalog.find(n), n);
  CHECK(catalog.find("engine.host.remove")->kind() == StepKind::Once);
  CHECK(catalog.find("engine.hosts.select")->kind() == StepKind::Read);
  Environment env;
  // Every built-in step type runs for real; outside a run they say what is missing.
  for (auto& t : catalog.all())
    if (t->name().rfind("test.", 0) != 0) CHECK_MESSAGE(t->runnable(), t->name());
  CHECK_THROWS_WITH_AS(catalog.find("file.absent")->apply(StepContext(env, "x", Value::object())), "no SSH here", StepError);
  CHECK(catalog.find("engine.host.remove")->runnable());
  CHECK_THROWS_WITH_AS(catalog.find("engine.host.remove")->apply(StepContext(env, "x", Value::object())),
                       "no engine connection here", StepError);
}

namespace {
/// A plan whose parameter `pw` (declared `pw_type`) feeds a step parameter
/// of type secret (engine.host.install's root_password); `with` binds it.
test::ProcessResult validate_bound_secret(const test::TempDir& dir, const std::string& pw_type, const std::string& with,
                                          const std::string& flags = "", const std::string& env = "") {
  fs::copy_file(test::source_path("tests/invalid/env.yaml"), dir.path() / "env.yaml",
                fs::copy_options::overwrite_existing);
  test::write_file(dir.path() / "plan.yaml", "plan: bound-secret\n"
                                             "environment: env.yaml\n"
                                             "params:\n"
                                             "  pw: {type: " + pw_type + "}\n" +
                                             with +
                                             "steps:\n"
                                             "  - id: reinstall\n"
                                             "    uses: engine.host.install\n"
                                             "    with:\n"
                                             "      host: he2\n"
                                             "      auth: password\n"
                                             "      root_password: ${params.pw}\n");
  return test::she_restore("validate '" + (dir.path() / "plan.yaml").string() + "' " + flags, env);
}
}  // namespace

TEST_CASE("invalid plans: a secret step parameter is type-checked once bound / a literal through with or --param is refused at file:line:column and not echoed") {
  test::TempDir dir;
  const std::string plan = (dir.path() / "plan.yaml").string();
  SUBCASE("a string parameter bound with a literal in with:") {
    auto r = validate_bound_secret(dir, "string", "with:\n  pw: Bound-Literal-Pw-1\n");
    CHECK(r.exit_code == 3);
    // Where the value is used as a secret: root_password's value, line 13 column 22.
    CHECK_MESSAGE(r.output.find(plan + ":13:22: error[invalid-secret]: step 'reinstall' parameter 'root_password' must "
                                       "be a secret reference") != std::string::npos,
                  r.output);
    CHECK(r.output.find(secret_ref_hint()) != std::string::npos);
    CHECK(r.output.find("Bound-Literal-Pw-1") == std::string::npos);
  }
  SUBCASE("a string parameter bound with a literal by --param") {
    auto r = validate_bound_secret(dir, "string", "", "--param pw=Bound-Literal-Pw-2");
    CHECK(r.exit_code == 3);
    // No with: block this time: root_password's value sits two lines higher.
    CHECK_MESSAGE(r.output.find(plan + ":11:22: error[invalid-secret]") != std::string::npos, r.output);
    CHECK(r.output.find(secret_ref_hint()) != std::string::npos);
    CHECK(r.output.find("Bound-Literal-Pw-2") == std::string::npos);
  }
  SUBCASE("a secret parameter bound with a literal by --param") {
    auto r = validate_bound_secret(dir, "secret", "", "--param pw=Bound-Literal-Pw-3");
    CHECK(r.exit_code == 3);
    CHECK_MESSAGE(r.output.find("error[invalid-secret]") != std::string::npos, r.output);
    CHECK(r.output.find(secret_ref_hint()) != std::string::npos);
    CHECK(r.output.find("Bound-Literal-Pw-3") == std::string::npos);
  }
  SUBCASE("bound with a reference, it passes") {
    // The references resolve and the CA is real: the offline checks pass too.
    lab::generate_lab_pki(dir.path() / "pki", "engine.test");
    fs::copy_file(dir.path() / "pki" / "ca.pem", dir.path() / "ca.pem");
    test::write_file(dir.path() / "root-pw", "x\n");
    const std::string env = "ENGINE_PASSWORD=e HOST_ROOT_PASSWORD=h";
    auto r = validate_bound_secret(dir, "string", "with:\n  pw: env:HOST_ROOT_PASSWORD\n", "", env);
    CHECK_MESSAGE(r.exit_code == 0, r.output);
    r = validate_bound_secret(dir, "secret", "", "--param pw=file:" + (dir.path() / "root-pw").string(), env);
    CHECK_MESSAGE(r.exit_code == 0, r.output);
  }
}
