// Fuzz target: plan text -> load, validate and the offline checks, as
// `she-restore validate` does. Errors are expected; a crash, a hang or an
// exception that escapes is a bug.
#include <cstdint>
#include <string>

#include "fuzz/fuzz_scratch.h"
#include "workflows/offline_checks.h"
#include "workflows/plan.h"
#include "workflows/secret_store.h"

namespace {

// An environment for inputs that name none (the shipped procedures), so
// their steps are bound and validated too, not stopped at "no environment".
const char kEnvironment[] =
    "environment: fuzz\n"
    "engine: {fqdn: engine.test, password: 'env:FUZZ_ENGINE_PW', ca_file: ca.pem}\n"
    "ssh: {user: root, known_hosts: known_hosts}\n"
    "hosts:\n"
    "  - {name: he1, address: he1.test, roles: [hosted_engine, failover]}\n"
    "  - {name: he2, address: he2.test, roles: [hosted_engine]}\n"
    "  - {name: host_4, address: h4.test, roles: [regular, spm]}\n"
    "backup_storage: {address: backup.test, path: /srv/backups}\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  static const std::string env = she::fuzz::write_scratch("env.yaml", kEnvironment, sizeof kEnvironment - 1);
  std::string plan_file = she::fuzz::write_scratch("plan.yaml", text.data(), text.size());
  she::Diagnostics diags;
  she::LoadOptions opts;
  if (text.find("environment") == std::string::npos) opts.env_file = env;
  auto plan = she::load_plan(plan_file, opts, diags);
  if (plan) {
    she::Diagnostics offline;
    she::check_offline(*plan, she::SecretStore(she::SecretStore::Mode::Resolve), offline);
    (void)she::checks_needing_live_environment(*plan);
    (void)offline.str();
  }
  (void)diags.str();
  return 0;
}
