// The dry run: golden output of every shipped plan, no secret values, hostile
// names quoted, nothing written.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "orchestrator/dry_run.h"
#include "tests/test_support.h"

using namespace she;
namespace fs = std::filesystem;

namespace {

std::string dry_run_of(const std::string& plan_file, const LoadOptions& opts = {}) {
  Diagnostics d;
  auto plan = load_plan(plan_file, opts, d);
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

// Regenerate after an intended change with: SHE_UPDATE_GOLDEN=1 build/tests/she-tests
TEST_CASE("dry run: golden output of each shipped plan") {
  for (auto* name : {"backup", "restore-failover", "restore-new-host", "remove-nonoperational", "restore-legacy", "restore-manual"}) {
    CAPTURE(name);
    std::string got = dry_run_of(std::string("examples/three-hosts/") + name + ".yaml");
    fs::path golden = test::source_path(std::string("tests/golden/") + name + ".txt");
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

TEST_CASE("dry run: the failover restore shows the procedure's calls / resolved") {
  std::string out = dry_run_of("examples/three-hosts/restore-failover.yaml");
  // Manual fence and forced v4 removal exactly as the engine takes them
  // (ovirt-engine-api.md section 3).
  CHECK_MESSAGE(out.find("write  POST /ovirt-engine/api/hosts/<host.id>/fence\n"
                         "                  <action><fence_type>manual</fence_type></action>") != std::string::npos,
                out);
  CHECK(out.find("write  DELETE /ovirt-engine/api/hosts/<host.id>?force=true") != std::string::npos);
  CHECK(out.find("hosted-engine --deploy --restore-from-file=/root/she-restore/engine-20261121T020000Z.backup "
                 "--config-append=/root/she-restore-deploy.conf") != std::string::npos);
  CHECK(out.find("when   params.high_priority_vms | length > 0 -> true") != std::string::npos);
  CHECK(out.find("GET /ovirt-engine/api/vms?search=name%3D%22db01%22") != std::string::npos);
  CHECK(out.find("concurrency 2") != std::string::npos);
}

TEST_CASE("dry run: skipped steps are marked / with the reason") {
  std::string out = dry_run_of("examples/three-hosts/restore-failover.yaml",
                               LoadOptions{"", {{"high_priority_vms", "[]"}}});
  CHECK(out.find("when   params.high_priority_vms | length > 0 -> false\n       SKIPPED: its condition is false") !=
        std::string::npos);

  test::TempDir dir;
  test::write_file(dir.path() / "plan.yaml", R"(plan: modes
environment:
  mode: real
  engine: {fqdn: e.test, password: 'env:P', ca_file: ca.pem}
steps:
  - id: lab-only
    uses: engine.health
    runs_in: rehearsal
  - id: each
    uses: engine.vms.start
    foreach: [a, b, c]
    when: item != 'b'
    with:
      vms: ['${item}']
)");
  out = dry_run_of((dir.path() / "plan.yaml").string());
  CHECK(out.find("SKIPPED: runs only in rehearsal mode; this environment is real") != std::string::npos);
  CHECK(out.find("when   item != 'b' -> a: true; b: false; c: true") != std::string::npos);
  CHECK(out.find("for each item in [a,b,c]: 2 iterations") != std::string::npos);
  CHECK(out.find("vms?search=name%3D%22b%22") == std::string::npos);
  CHECK(out.find("vms?search=name%3D%22c%22") != std::string::npos);
}

TEST_CASE("dry run: a loop over a live query prints the query") {
  std::string out = dry_run_of("examples/three-hosts/remove-nonoperational.yaml");
  CHECK(out.find("query  GET /ovirt-engine/api/hosts?all_content=true -> hosts with status in "
                 "[non_responsive, non_operational], hosted-engine hosts only, except [hosted_engine_1]") !=
        std::string::npos);
}

TEST_CASE("dry run: secret values never appear / in output or in errors") {
  test::TempDir dir;
  test::write_file(dir.path() / "pw", "FileSecretValue-41\n");
  std::string env = "ENGINE_PASSWORD=EnvSecretValue-17 ENGINE_VM_ROOT_PASSWORD=RootSecretValue-23";
  for (auto* plan : {"backup", "restore-failover", "restore-new-host", "remove-nonoperational", "restore-legacy", "restore-manual"}) {
    auto r = test::she_restore(std::string("--dry-run examples/three-hosts/") + plan + ".yaml", env);
    CAPTURE(plan);
    CHECK(r.exit_code == 0);
    CHECK(r.output.find("EnvSecretValue-17") == std::string::npos);
    CHECK(r.output.find("RootSecretValue-23") == std::string::npos);
  }
  auto r = test::she_restore("--dry-run examples/three-hosts/restore-failover.yaml", env);
  CHECK(r.output.find("password env:ENGINE_PASSWORD") != std::string::npos);
  CHECK(r.output.find("OVEHOSTED_VM/cloudinitRootPwd=str:[secret env:ENGINE_VM_ROOT_PASSWORD]") != std::string::npos);

  // A file: reference is not read by a dry run; an invalid plan's errors
  // name references, never values.
  test::write_file(dir.path() / "env.yaml", "engine: {fqdn: e.test, password: 'file:" + (dir.path() / "pw").string() +
                                                "', ca_file: ca.pem}\n");
  test::write_file(dir.path() / "plan.yaml", "plan: p\nenvironment: env.yaml\nsteps:\n  - id: h\n    uses: engine.health\n"
                                             "  - id: bad\n    uses: engine.host.install\n    with:\n      host: x\n"
                                             "      root_password: ${env.engine.fqdn}\n");
  r = test::she_restore("--dry-run " + (dir.path() / "plan.yaml").string(), env);
  CHECK(r.exit_code == 3);
  CHECK(r.output.find("FileSecretValue-41") == std::string::npos);
  CHECK(r.output.find("EnvSecretValue-17") == std::string::npos);
}

// Host names themselves are typed values now (a name with a metacharacter
// is refused: tests/invalid/67-*); values that may hold anything still
// reach the far side as one quoted argument each.
TEST_CASE("dry run: values with shell metacharacters reach SSH commands as one quoted argument") {
  test::TempDir dir;
  test::write_file(dir.path() / "plan.yaml", R"(plan: hostile
environment:
  engine: {fqdn: e.test, password: 'env:P', ca_file: ca.pem}
  hosts:
    - name: h1
      address: h1.test
steps:
  - id: ping-each
    uses: ssh.probe
    foreach: ["a;rm -rf /", "it's \"quoted\" and spaced", "$(reboot)`id`"]
    with:
      host: h1
      command: [ping, -c, '1', '${item}']
  - id: wipe
    uses: file.absent
    with:
      host: h1
      path: /var/tmp/a;rm -rf / x
)");
  std::string out = dry_run_of((dir.path() / "plan.yaml").string());
  std::vector<std::string> names = {"a;rm -rf /", "it's \"quoted\" and spaced", "$(reboot)`id`"};
  int ping_lines = 0, rm_lines = 0, test_lines = 0;
  for (auto& line : lines_of(out)) {
    auto ssh = line.find("ssh ");
    auto at = ssh == std::string::npos ? ssh : line.find(": ", ssh);
    if (at == std::string::npos) continue;
    std::string command = line.substr(at + 2);
    std::string args = test::shell_split(command);
    if (command.rfind("ping", 0) == 0) {
      CHECK(args == "[ping]\n[-c]\n[1]\n[" + names[static_cast<size_t>(ping_lines)] + "]\n");
      ++ping_lines;
    }
    if (command.rfind("rm", 0) == 0) {
      CHECK(args == "[rm]\n[-f]\n[--]\n[/var/tmp/a;rm -rf / x]\n");
      ++rm_lines;
    }
    if (command.rfind("test", 0) == 0) {
      CHECK(args == "[test]\n[-e]\n[/var/tmp/a;rm -rf / x]\n");
      ++test_lines;
    }
  }
  CHECK(ping_lines == 3);
  CHECK(rm_lines == 1);
  CHECK(test_lines == 0);  // file.absent removes; only its probe on resume tests
  CHECK(out.find("ping -c 1 'a;rm -rf /'") != std::string::npos);
}

TEST_CASE("dry run: writes nothing (no run directory / no journal / no files)") {
  test::TempDir home;
  auto before = test::run("find examples plans tests -type f | sort | xargs md5sum | md5sum").output;
  std::string env = "HOME='" + home.path().string() + "' XDG_STATE_HOME='" + (home.path() / "state").string() + "'";
  for (auto* plan : {"backup", "restore-failover", "restore-new-host", "remove-nonoperational", "restore-legacy", "restore-manual"}) {
    auto r = test::she_restore(std::string("--dry-run examples/three-hosts/") + plan + ".yaml", env);
    CHECK(r.exit_code == 0);
  }
  CHECK(fs::is_empty(home.path()));
  CHECK(test::run("find examples plans tests -type f | sort | xargs md5sum | md5sum").output == before);
}
