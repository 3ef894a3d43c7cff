// The command line: help, version, exit codes, subcommands.
#include <doctest/doctest.h>

#include "tests/test_support.h"

using namespace she;

TEST_CASE("cli: --help lists commands and exit codes - --version prints the version") {
  auto r = test::she_restore("--help");
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("--dry-run") != std::string::npos);
  CHECK(r.output.find("validate") != std::string::npos);
  CHECK(r.output.find("3 invalid or changed plan") != std::string::npos);
  r = test::she_restore("--version");
  CHECK(r.exit_code == 0);
  CHECK(r.output == std::string("she-restore ") + SHE_RESTORE_VERSION + "\n");
}

TEST_CASE("cli: usage errors exit 2") {
  CHECK(test::she_restore("").exit_code == 2);
  CHECK(test::she_restore("--no-such-flag plan.yaml").exit_code == 2);
  CHECK(test::she_restore("validate").exit_code == 2);
  auto r = test::she_restore("validate examples/three-hosts/backup.yaml --param novalue");
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("--param wants NAME=VALUE") != std::string::npos);
  CHECK(test::she_restore("steps engine.host.remov").exit_code == 2);
}

TEST_CASE("cli: validate refuses an environment of placeholders / 3 on a missing file") {
  // The example's CA file is a placeholder: a sound plan on an environment
  // that cannot work is not valid (offline_checks_test.cpp has sound ones).
  auto r = test::she_restore("validate examples/three-hosts/restore-failover.yaml");
  CHECK(r.exit_code == 3);
  CHECK(r.output.find("engine-ca.pem holds no PEM certificate") != std::string::npos);
  CHECK(r.output.find("the plan's environment has errors") != std::string::npos);
  r = test::she_restore("validate no/such/plan.yaml");
  CHECK(r.exit_code == 3);
  CHECK(r.output.find("error[file-not-found]: cannot read 'no/such/plan.yaml'") != std::string::npos);
}

TEST_CASE("cli: a plan is validated before it runs - an invalid one runs nothing") {
  CHECK(test::she_restore("tests/invalid/04-unknown-step-type.yaml").exit_code == 3);
  CHECK(test::she_restore("--dry-run tests/invalid/04-unknown-step-type.yaml").exit_code == 3);
}

TEST_CASE("cli: steps lists the catalog and shows one type's parameters and outputs") {
  auto r = test::she_restore("steps");
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("engine.host.fence_manual         once") != std::string::npos);
  r = test::she_restore("steps engine.host.find");
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("hardware_id") != std::string::npos);
  CHECK(r.output.find("outputs (${steps.ID.NAME}):") != std::string::npos);
}

TEST_CASE("cli: --param goes anywhere on the command line - before the plan too") {
  // The README writes `she-restore --param NAME=VALUE PLAN`: a --param
  // must take one value and leave the plan to be the plan.
  for (const std::string args : {"--dry-run --offline --param scope=[files] examples/three-hosts/backup.yaml",
                                 "--dry-run --offline examples/three-hosts/backup.yaml --param scope=[files]",
                                 "--param scope=[files] --param archive_dir_on_engine=/x --dry-run --offline "
                                 "examples/three-hosts/backup.yaml"}) {
    CAPTURE(args);
    auto r = test::she_restore(args);
    CHECK_MESSAGE(r.exit_code == 0, r.output);
    CHECK(r.output.find("scope=[\"files\"]") != std::string::npos);
  }
  // The plan loads (only the example environment's placeholders are refused).
  auto v = test::she_restore("validate --param scope=[files] examples/three-hosts/backup.yaml");
  CHECK_MESSAGE(v.output.find("the plan's environment has errors") != std::string::npos, v.output);
}
