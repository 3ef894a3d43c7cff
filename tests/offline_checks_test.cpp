// `validate` and a run's opening check what can be checked without the
// engine or the hosts: secrets resolvable, files there and of the right
// kind, one failover host, no zero timeout. Each case breaks one thing of a
// sound plan made of real files and expects exit 3, the reference's
// file:line:column, the kind and the hint, and never the secret's value.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <sys/stat.h>

#include "lab/lab_pki.h"
#include "tests/test_support.h"

using namespace she;
namespace fs = std::filesystem;

namespace {

// Values that must never appear in any output.
const char kEnginePw[] = "Offline-Engine-Pw-7731";
const char kFilePw[] = "Offline-File-Pw-4410";

// A well-formed ed25519 public key blob (the type and 32 bytes).
const char kHostKey[] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBwUDz1bS2qmvjB7nLN7fVe0l0FlJzZx0U8cO3v3bU5m";

/// A sound plan: an engine step and an SSH step, the failover host taken
/// by a variable, every file real. Each case edits one thing.
struct OfflinePlan {
  test::TempDir dir;
  std::string env_text =
      "environment: offline\n"
      "engine: {fqdn: engine.test, password: 'env:OC_ENGINE_PW', ca_file: ca.pem}\n"
      "ssh: {user: root, key: id_test, known_hosts: known_hosts}\n"
      "hosts:\n"
      "  - {name: he1, address: he1.test, roles: [hosted_engine, failover]}\n"
      "  - {name: he2, address: he2.test, roles: [hosted_engine]}\n";
  std::string plan_text =
      "plan: offline\n"
      "environment: env.yaml\n"
      "vars:\n"
      "  failover: ${env.hosts_by_role.failover[0]}\n"
      "steps:\n"
      "  - id: maintenance\n"
      "    uses: engine.host.maintenance\n"
      "    timeout: 20m\n"
      "    with: {host: '${vars.failover.name}'}\n"
      "  - id: look\n"
      "    uses: ssh.probe\n"
      "    with: {host: he1, command: ['true']}\n";

  OfflinePlan() {
    lab::generate_lab_pki(dir.path() / "pki", "engine.test");
    fs::copy_file(dir.path() / "pki" / "ca.pem", dir.path() / "ca.pem");
    // Any PEM private key is what libssh2 reads as a key file.
    fs::copy_file(dir.path() / "pki" / "server.key", dir.path() / "id_test");
    test::write_file(dir.path() / "known_hosts",
                     std::string("he1.test ") + kHostKey + "\nhe2.test " + kHostKey + "\n");
    test::write_file(dir.path() / "engine-pw", std::string(kFilePw) + "\n");
  }

  std::string path(const std::string& name) const { return (dir.path() / name).string(); }

  test::ProcessResult validate(const std::string& env = std::string("OC_ENGINE_PW=") + kEnginePw) {
    test::write_file(dir.path() / "env.yaml", env_text);
    test::write_file(dir.path() / "plan.yaml", plan_text);
    return test::she_restore("validate '" + path("plan.yaml") + "'", env);
  }

  /// "FILE:LINE:COLUMN" of the first `needle` in a file's text (1-based).
  std::string at(const std::string& file, const std::string& text, const std::string& needle) const {
    size_t off = text.find(needle);
    REQUIRE(off != std::string::npos);
    size_t line_start = text.rfind('\n', off);
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(off), '\n'));
    return path(file) + ":" + std::to_string(line) + ":" + std::to_string(off - line_start + 1);
  }
  std::string env_at(const std::string& needle) const { return at("env.yaml", env_text, needle); }
  std::string plan_at(const std::string& needle) const { return at("plan.yaml", plan_text, needle); }

  void replace(std::string& text, const std::string& from, const std::string& to) {
    size_t off = text.find(from);
    REQUIRE(off != std::string::npos);
    text.replace(off, from.size(), to);
  }
};

void check_refused(const test::ProcessResult& r, const std::string& where, const std::string& kind,
                   const std::string& hint_part) {
  CHECK_MESSAGE(r.exit_code == 3, r.output);
  CHECK_MESSAGE(r.output.find(where + ": error[" + kind + "]") != std::string::npos, r.output);
  CHECK_MESSAGE(r.output.find("hint: ") != std::string::npos, r.output);
  CHECK_MESSAGE(r.output.find(hint_part) != std::string::npos, r.output);
  CHECK(r.output.find("not checked (needs the live environment)") != std::string::npos);
  CHECK(r.output.find(kEnginePw) == std::string::npos);
  CHECK(r.output.find(kFilePw) == std::string::npos);
}

}  // namespace

TEST_CASE("offline checks: a sound plan validates and names what needs the live environment") {
  OfflinePlan p;
  auto r = p.validate();
  CHECK_MESSAGE(r.exit_code == 0, r.output);
  CHECK(r.output.find("valid: plan offline") != std::string::npos);
  CHECK(r.output.find("not checked (needs the live environment):") != std::string::npos);
  CHECK(r.output.find("the engine answers at https://engine.test/ovirt-engine/api") != std::string::npos);
  CHECK(r.output.find("each host answers over SSH") != std::string::npos);
  CHECK(r.output.find(kEnginePw) == std::string::npos);
}

TEST_CASE("offline checks: an unset env secret is refused at its reference") {
  OfflinePlan p;
  check_refused(p.validate(""), p.env_at("'env:OC_ENGINE_PW'"), "unresolved-secret", "export OC_ENGINE_PW");
}

TEST_CASE("offline checks: a missing file secret is refused - a readable one is not echoed") {
  OfflinePlan p;
  SUBCASE("missing") {
    p.replace(p.env_text, "'env:OC_ENGINE_PW'", "'file:" + p.path("no-such-pw") + "'");
    auto r = p.validate();
    check_refused(r, p.env_at("'file:"), "unresolved-secret", "first line of that file");
    CHECK(r.output.find("does not exist") != std::string::npos);
  }
  SUBCASE("a FIFO is refused without waiting for a writer") {
    REQUIRE(::mkfifo(p.path("pw-fifo").c_str(), 0600) == 0);
    p.replace(p.env_text, "'env:OC_ENGINE_PW'", "'file:" + p.path("pw-fifo") + "'");
    auto r = p.validate();
    check_refused(r, p.env_at("'file:"), "unresolved-secret", "first line of that file");
    CHECK(r.output.find("not a regular file") != std::string::npos);
  }
  SUBCASE("readable, with another error: the value never appears") {
    p.replace(p.env_text, "'env:OC_ENGINE_PW'", "'file:" + p.path("engine-pw") + "'");
    fs::remove(p.dir.path() / "ca.pem");
    check_refused(p.validate(), p.env_at("ca.pem"), "wrong-file-kind", "CA certificate in PEM form");
  }
}

TEST_CASE("offline checks: the engine CA file must be PEM with a certificate") {
  OfflinePlan p;
  SUBCASE("not PEM") {
    test::write_file(p.dir.path() / "ca.pem", "# Placeholder: replace with your engine's CA\n");
    auto r = p.validate();
    check_refused(r, p.env_at("ca.pem"), "wrong-file-kind", "pki-resource");
    CHECK(r.output.find("holds no PEM certificate") != std::string::npos);
  }
  SUBCASE("missing") {
    fs::remove(p.dir.path() / "ca.pem");
    check_refused(p.validate(), p.env_at("ca.pem"), "wrong-file-kind", "CA certificate in PEM form");
  }
  SUBCASE("a directory") {
    fs::remove(p.dir.path() / "ca.pem");
    fs::create_directory(p.dir.path() / "ca.pem");
    auto r = p.validate();
    check_refused(r, p.env_at("ca.pem"), "wrong-file-kind", "CA certificate in PEM form");
    CHECK(r.output.find("is a directory") != std::string::npos);
  }
}

TEST_CASE("offline checks: the SSH key must be a readable private key file") {
  OfflinePlan p;
  SUBCASE("missing") {
    fs::remove(p.dir.path() / "id_test");
    check_refused(p.validate(), p.env_at("id_test"), "wrong-file-kind", "ssh.key names the private key");
  }
  SUBCASE("a public key instead") {
    test::write_file(p.dir.path() / "id_test", std::string(kHostKey) + " me@here\n");
    auto r = p.validate();
    check_refused(r, p.env_at("id_test"), "wrong-file-kind", "not the .pub file");
    CHECK(r.output.find("is not a private key file") != std::string::npos);
  }
}

TEST_CASE("offline checks: known_hosts must be there - parse - and know every host") {
  OfflinePlan p;
  SUBCASE("missing") {
    fs::remove(p.dir.path() / "known_hosts");
    check_refused(p.validate(), p.env_at("known_hosts}"), "wrong-file-kind", "ssh-keyscan");
  }
  SUBCASE("missing is fine when new keys are accepted (the file is created)") {
    fs::remove(p.dir.path() / "known_hosts");
    p.replace(p.env_text, "known_hosts: known_hosts}", "known_hosts: known_hosts, accept_new_host_key: true}");
    auto r = p.validate();
    CHECK_MESSAGE(r.exit_code == 0, r.output);
  }
  SUBCASE("a line that does not parse") {
    test::write_file(p.dir.path() / "known_hosts", std::string("he1.test ") + kHostKey + "\nthis is not a key\n");
    auto r = p.validate();
    check_refused(r, p.env_at("known_hosts}"), "wrong-file-kind", "fix or remove the line");
    CHECK(r.output.find("does not parse") != std::string::npos);
  }
  SUBCASE("a host with no entry") {
    test::write_file(p.dir.path() / "known_hosts", std::string("he1.test ") + kHostKey + "\n");
    auto r = p.validate();
    check_refused(r, p.env_at("{name: he2"), "wrong-file-kind", "ssh-keyscan -p 22 he2.test");
    CHECK(r.output.find("has no key for he2 (he2.test:22)") != std::string::npos);
  }
}

TEST_CASE("offline checks: a role the procedure takes one host of is given to exactly one") {
  OfflinePlan p;
  p.replace(p.env_text, "roles: [hosted_engine]}", "roles: [hosted_engine, failover]}");
  auto r = p.validate();
  // At the second holder's roles (line 6).
  std::string roles_of_he2 = p.path("env.yaml") + ":6:" +
                             std::to_string(p.env_text.substr(p.env_text.find("  - {name: he2")).find('[') + 1);
  check_refused(r, roles_of_he2, "role-cardinality", "give 'failover' to exactly one host; he1 has it");
  CHECK(r.output.find(p.plan_at("${env.hosts_by_role")) != std::string::npos);
}

TEST_CASE("offline checks: a zero timeout is refused") {
  OfflinePlan p;
  p.replace(p.plan_text, "timeout: 20m", "timeout: 0s");
  check_refused(p.validate(), p.plan_at("0s"), "invalid-duration", "e.g. timeout: 30m");
}

TEST_CASE("offline checks: every problem is reported at once") {
  OfflinePlan p;
  fs::remove(p.dir.path() / "id_test");
  p.replace(p.plan_text, "timeout: 20m", "timeout: 0s");
  auto r = p.validate("");
  CHECK(r.exit_code == 3);
  CHECK(r.output.find("error[unresolved-secret]") != std::string::npos);
  CHECK(r.output.find("error[wrong-file-kind]") != std::string::npos);
  CHECK(r.output.find("error[invalid-duration]") != std::string::npos);
}

TEST_CASE("offline checks: only what the steps use is checked - no engine step needs no engine password") {
  OfflinePlan p;
  p.plan_text =
      "plan: offline\n"
      "environment: env.yaml\n"
      "steps:\n"
      "  - id: look\n"
      "    uses: ssh.probe\n"
      "    with: {host: he1, command: ['true']}\n";
  auto r = p.validate("");
  CHECK_MESSAGE(r.exit_code == 0, r.output);
  CHECK(r.output.find("the engine answers") == std::string::npos);
}

TEST_CASE("offline checks: a run refuses before any call and writes nothing") {
  OfflinePlan p;
  p.validate();  // writes the files
  std::string state = p.path("state");
  auto r = test::she_restore("'" + p.path("plan.yaml") + "' --yes --state-dir '" + state + "'");
  CHECK_MESSAGE(r.exit_code == 3, r.output);
  CHECK(r.output.find(p.env_at("'env:OC_ENGINE_PW'") + ": error[unresolved-secret]") != std::string::npos);
  CHECK(r.output.find("nothing was run") != std::string::npos);
  CHECK_FALSE(fs::exists(state + "/offline"));
}
