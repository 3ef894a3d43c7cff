// The run's connections read their secrets through the run's one
// SecretStore: what they read is handed to whatever the store feeds (the
// run's redactor), and what they cannot read fails naming the reference,
// never a value.
#include <doctest/doctest.h>

#include <filesystem>
#include <vector>

#include "orchestrator/redactor.h"
#include "orchestrator/run_connections.h"
#include "tests/test_support.h"
#include "workflows/secret_store.h"

using namespace she;
namespace fs = std::filesystem;

namespace {

Environment engine_env(const std::string& password_ref) {
  Environment env;
  env.file = "env.yaml";
  env.engine.fqdn = "engine.test";
  env.engine.api_url = "https://127.0.0.1:9/ovirt-engine/api";  // never reached: nothing is called
  env.engine.user = "admin@internal";
  env.engine.password = password_ref;
  env.engine.trust_on_first_use = true;
  return env;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("secrets: run connections read through the run's store - the value reaches its redactor / an unreadable one fails by reference") {
  test::TempDir dir;
  fs::path pw = dir.path() / "engine-password";
  test::write_file(pw, "Store-Fed-Pw-42\n");
  Redactor redactor;
  std::vector<std::string> fed;
  const SecretStore store(SecretStore::Mode::Resolve, [&](const std::string& v) {
    fed.push_back(v);
    redactor.add_value(v);
  });

  SUBCASE("the engine password: read through the store, scrubbed from then on") {
    Environment env = engine_env("file:" + pw.string());
    RunConnections conns(env, store, [](const std::string&) {});
    CHECK(error_of([&] { conns.engine(nullptr); }) == "");
    CHECK(fed == std::vector<std::string>{"Store-Fed-Pw-42"});
    CHECK(redactor.scrub(std::string("echoed Store-Fed-Pw-42")) == "echoed [redacted]");
  }
  SUBCASE("an unset engine password: fails naming the reference") {
    Environment env = engine_env("env:SHE_TEST_UNSET_ENGINE_PW");
    RunConnections conns(env, store, [](const std::string&) {});
    std::string err = error_of([&] { conns.engine(nullptr); });
    CHECK(err.find("env:SHE_TEST_UNSET_ENGINE_PW") != std::string::npos);
    CHECK(err.find("env.yaml") != std::string::npos);
    CHECK(fed.empty());
  }
  SUBCASE("a literal where a reference belongs: refused, the literal not repeated") {
    Environment env = engine_env("Literal-Engine-Pw-7");
    RunConnections conns(env, store, [](const std::string&) {});
    std::string err = error_of([&] { conns.engine(nullptr); });
    CHECK(!err.empty());
    CHECK(err.find("Literal-Engine-Pw-7") == std::string::npos);
    CHECK(fed.empty());
  }
  SUBCASE("an SSH key passphrase that cannot be read: fails naming the reference and the host") {
    Environment env = engine_env("file:" + pw.string());
    RunConnections conns(env, store, [](const std::string&) {});
    SshEndpoint ep;
    ep.name = "he1";
    ep.user = "root";
    ep.address = "127.0.0.1";
    ep.port = 9;
    ep.key = (dir.path() / "id").string();
    ep.key_passphrase = "file:" + (dir.path() / "no-such-passphrase").string();
    ep.known_hosts = (dir.path() / "known_hosts").string();
    std::string err = error_of([&] { conns.ssh(ep, 0); });
    CHECK(err.find("he1") != std::string::npos);
    CHECK(err.find("file:" + (dir.path() / "no-such-passphrase").string()) != std::string::npos);
  }
  SUBCASE("the redactor's preload reads through the store too, and skips what it cannot read") {
    Plan plan;
    plan.env = engine_env("file:" + pw.string());
    plan.env.ssh_defaults.password = "env:SHE_TEST_UNSET_SSH_PW";
    Redactor fresh;
    fresh.preload(plan, store);
    CHECK(fed == std::vector<std::string>{"Store-Fed-Pw-42"});
    CHECK(fresh.scrub(std::string("Store-Fed-Pw-42")) == "[redacted]");
    // A rehearsal's stand-ins are no secrets: nothing to scrub.
    Redactor rehearsal;
    rehearsal.preload(plan, SecretStore(SecretStore::Mode::StandIn));
    CHECK(rehearsal.scrub(std::string("Store-Fed-Pw-42 [secret file:x]")) == "Store-Fed-Pw-42 [secret file:x]");
  }
}
