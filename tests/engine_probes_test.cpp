// The probes of the `once` engine steps, run in-process against the lab
// engine as the executor runs them on resume: `done` only on evidence of
// this step's effect, `not done` on evidence of its absence, and an engine
// that cannot answer is no evidence at all (unknown: the executor asks).
// Then the answer sources a run journals and prints.
#include <doctest/doctest.h>

#include <filesystem>

#include "base/operation.h"
#include "orchestrator/journal.h"
#include "orchestrator/run_state.h"
#include "tests/lab_fixture.h"
#include "workflows/environment.h"
#include "workflows/step_type.h"

using namespace she;
using she::test::LabEngine;
namespace fs = std::filesystem;

namespace {

/// A step of the built-in catalog, probed as the executor would: the lab's
/// engine client, the step's correlation id, a direct runner.
struct Probe {
  LabEngine& lab;
  engine_api::EngineClient client;
  DirectRunner runner;
  Environment env;
  RunServices services;

  explicit Probe(LabEngine& l, engine_api::ClientConfig config) : lab(l), client(std::move(config)) {
    services.engine = [this](const SshEndpoint*) -> engine_api::EngineClient& { return client; };
    services.should_stop = [] { return false; };
    services.progress = [](const std::string&) {};
    services.runner = &runner;
  }
  explicit Probe(LabEngine& l) : Probe(l, l.config()) {}

  CheckResult check(const std::string& type, const Value& params, const std::string& correlation_id) {
    services.correlation_id = correlation_id;
    services.iteration_key = "probe";
    StepContext ctx(env, "probe", params, &services);
    Value outputs = Value::object();
    return StepCatalog::builtin().find(type)->check(ctx, outputs);
  }
};

const char* name_of(CheckResult r) {
  return r == CheckResult::Done         ? "done"
         : r == CheckResult::NotDone    ? "not done"
         : r == CheckResult::InProgress ? "in progress"
                                        : "unknown";
}

/// hosted_engine_3 of the three-host lab, non-responsive, with its VMs
/// (app01, app02) gone: no VMs, no SPM role (host_4 holds it). Fenced or
/// not, it looks the same.
void bare_non_responsive_host(LabEngine& lab) {
  lab::WorldState st = lab::load_scenario(test::source_path("examples/lab/three-hosts.yaml"));
  st.time_scale = 0;
  st.faults = {};
  std::string he3, host4;
  for (auto& h : st.hosts) {
    if (h.name == "hosted_engine_3") he3 = h.id;
    if (h.name == "host_4") host4 = h.id;
  }
  REQUIRE((!he3.empty() && !host4.empty()));
  for (auto& vm : st.vms)
    if (vm.host_id == he3) vm.host_id = host4;
  lab.world.reset(st);
  lab.world.set_admin_password(LabEngine::kPassword);
  REQUIRE(lab.world.set_host_status("hosted_engine_3", lab::HostStatus::NonResponsive));
  const std::string id = lab.host_id("hosted_engine_3");
  REQUIRE(lab.world.host(id)->spm == lab::SpmStatus::None);
  for (auto& vm : lab.world.vms()) REQUIRE(vm.host_id != id);
}

const Value kHe3 = {{"host", "hosted_engine_3"}};
constexpr const char* kOurs = "she-abc123-fence";

}  // namespace

TEST_CASE("engine probes: host remove - done when the record is gone / not done while it is there / unknown when the engine cannot answer") {
  LabEngine lab;
  bare_non_responsive_host(lab);  // removable as it is: no VMs, not up
  Probe p(lab);
  const Value he3 = kHe3;
  const std::string id = lab.host_id("hosted_engine_3");
  const Value he3_item = {{"host", {{"name", "hosted_engine_3"}, {"id", id}}}};
  CHECK(name_of(p.check("engine.host.remove", he3, "she-abc123-remove")) == std::string("not done"));
  CHECK(name_of(p.check("engine.host.remove", he3_item, "she-abc123-remove")) == std::string("not done"));

  SUBCASE("503 on every read: unknown, never done") {
    engine_api::ClientConfig c = lab.config();
    c.read_attempts = 1;  // no retry past the burst: the probe itself must not call it done
    Probe once(lab, c);
    // Signed in first: what fails is the probe's own read, not the login.
    REQUIRE(name_of(once.check("engine.host.remove", he3, "she-abc123-remove")) == std::string("not done"));
    lab::Faults f = lab.world.faults();
    f.http_503_count = 1000;
    lab.world.set_faults(f);
    CHECK(name_of(once.check("engine.host.remove", he3, "she-abc123-remove")) == std::string("unknown"));
    CHECK(name_of(once.check("engine.host.remove", he3_item, "she-abc123-remove")) == std::string("unknown"));
  }
  SUBCASE("the engine off: unknown, never done") {
    engine_api::ClientConfig c = lab.config();
    c.read_attempts = 1;
    Probe once(lab, c);
    REQUIRE(name_of(once.check("engine.host.remove", he3, "she-abc123-remove")) == std::string("not done"));
    lab.world.set_engine_running(false);
    CHECK(name_of(once.check("engine.host.remove", he3, "she-abc123-remove")) == std::string("unknown"));
    CHECK(name_of(once.check("engine.host.remove", he3_item, "she-abc123-remove")) == std::string("unknown"));
  }
  SUBCASE("removed: done, by name and by id") {
    engine_api::EngineClient admin(lab.config());
    admin.remove({"she-abc123-remove", {}, {}, nullptr}, id, true);
    REQUIRE(!lab.world.host(id));
    CHECK(name_of(p.check("engine.host.remove", he3, "she-abc123-remove")) == std::string("done"));
    CHECK(name_of(p.check("engine.host.remove", he3_item, "she-abc123-remove")) == std::string("done"));
  }
}

TEST_CASE("engine probes: manual fence on a host with no VMs and no SPM role - not done until our fence / done after it / not done after someone else's") {
  LabEngine lab;
  bare_non_responsive_host(lab);
  Probe p(lab);
  const std::string id = lab.host_id("hosted_engine_3");
  engine_api::EngineClient admin(lab.config());

  // Never fenced: the engine answers, and has no event of ours.
  CHECK(name_of(p.check("engine.host.fence_manual", kHe3, kOurs)) == std::string("not done"));

  SUBCASE("fenced with our correlation id: done") {
    admin.fence_manual({kOurs, {}, {}, nullptr}, id);
    CHECK(name_of(p.check("engine.host.fence_manual", kHe3, kOurs)) == std::string("done"));
    // The same run's id for another step is not this step's evidence.
    CHECK(name_of(p.check("engine.host.fence_manual", kHe3, "she-abc123-fence-again")) == std::string("not done"));
  }
  SUBCASE("fenced by another run (another correlation id): not done for us") {
    admin.fence_manual({"she-zzz999-fence", {}, {}, nullptr}, id);
    CHECK(name_of(p.check("engine.host.fence_manual", kHe3, kOurs)) == std::string("not done"));
  }
  SUBCASE("fenced with no correlation id at all: not done for us") {
    admin.fence_manual({"", {}, {}, nullptr}, id);
    CHECK(name_of(p.check("engine.host.fence_manual", kHe3, kOurs)) == std::string("not done"));
  }
  SUBCASE("the engine cannot answer: unknown") {
    engine_api::ClientConfig c = lab.config();
    c.read_attempts = 1;
    Probe once(lab, c);
    admin.fence_manual({kOurs, {}, {}, nullptr}, id);
    lab.world.set_engine_running(false);
    CHECK(name_of(once.check("engine.host.fence_manual", kHe3, kOurs)) == std::string("unknown"));
  }
}

namespace {

/// A one-prompt plan (no engine: the answer is all there is), run with
/// `flags`; returns the output and the journal's prompt_answered record.
std::pair<test::ProcessResult, Value> answered(const test::TempDir& dir, const std::string& flags) {
  fs::path plan = dir.path() / "plan.yaml";
  // The engine's password is never read here: no step talks to it.
  test::write_file(plan, "plan: prompts\nenvironment:\n  engine: {fqdn: e.test, password: 'env:PROMPTS_PW', "
                         "ca_file: ca.pem}\n"
                         "steps:\n  - id: confirm-rebooted\n    uses: prompt\n"
                         "    with: {message: 'Have the dead hosts been powered off?'}\n");
  fs::path state = dir.path() / "state";
  auto r = test::she_restore("'" + plan.string() + "' --state-dir '" + state.string() + "' " + flags);
  Value answer;
  if (fs::exists(state))
    for (auto& e : fs::recursive_directory_iterator(state))
      if (e.path().filename() == "journal") {
        std::vector<Value> records;
        std::string warning, err;
        if (Journal::read(e.path().string(), &records, &warning, &err))
          for (auto& record : records)
            if (record.is_object() && record.value("t", "") == std::string(rec::kAnswer)) answer = record;
      }
  return {r, answer};
}

}  // namespace

TEST_CASE("engine probes: a host the engine is installing is an effect in progress - waited for and not asked about") {
  LabEngine lab;
  Probe p(lab);
  REQUIRE(lab.world.set_host_status("hosted_engine_3", lab::HostStatus::Installing));
  const Value add = {{"name", "hosted_engine_3"}, {"address", "host3.example.com"}, {"activate", true}};
  CHECK(name_of(p.check("engine.host.add", add, "she-abc123-reinstall")) == std::string("in progress"));
  CHECK(name_of(p.check("engine.host.install", kHe3, "she-abc123-reinstall")) == std::string("in progress"));
  REQUIRE(lab.world.set_host_status("hosted_engine_3", lab::HostStatus::InstallFailed));
  CHECK(name_of(p.check("engine.host.add", add, "she-abc123-reinstall")) == std::string("not done"));
  REQUIRE(lab.world.set_host_status("hosted_engine_3", lab::HostStatus::Up));
  CHECK(name_of(p.check("engine.host.add", add, "she-abc123-reinstall")) == std::string("done"));
}

TEST_CASE("answers: --yes is journaled as its source and the question it answered is printed") {
  test::TempDir dir;
  auto [r, answer] = answered(dir, "--yes");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  REQUIRE_MESSAGE(answer.is_object(), r.output);
  CHECK(answer.value("source", "") == "--yes");
  CHECK(answer.value("answer", "") == "yes");
  CHECK(r.output.find("Have the dead hosts been powered off?") != std::string::npos);
  CHECK(r.output.find("answered yes by --yes") != std::string::npos);
}

TEST_CASE("answers: an answers-file answer is journaled as from the answers file") {
  test::TempDir dir;
  fs::path answers = dir.path() / "answers.yaml";
  test::write_file(answers, "confirm-rebooted: yes\n");
  auto [r, answer] = answered(dir, "--answers '" + answers.string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  REQUIRE_MESSAGE(answer.is_object(), r.output);
  CHECK(answer.value("source", "") == "answers file");
  CHECK(answer.value("answer", "") == "yes");
  CHECK(answer.value("key", "") == "confirm-rebooted");
}
