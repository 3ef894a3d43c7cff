// The prediction of a restored engine a dry run answers from
// (engine_api/restored_engine.h): each rule from its source.
#include <doctest/doctest.h>

#include "engine_api/restored_engine.h"

namespace she::test {

namespace {

Value manifest() {
  return {{"archive", "engine-1.backup"},
          {"hosts",
           {{{"id", "h1"}, {"name", "HE1"}, {"address", "host1"}, {"status", "maintenance"}, {"hosted_engine", true},
             {"score", 3400}},
            {{"id", "h2"}, {"name", "he2"}, {"address", "host2"}, {"status", "up"}, {"spm", "spm"},
             {"hosted_engine", true}, {"score", 3400}},
            {{"id", "h4"}, {"name", "host4"}, {"address", "host4"}, {"status", "up"}, {"hosted_engine", false}}}},
          {"vms",
           {{{"id", "v0"}, {"name", "HostedEngine"}, {"status", "up"}, {"host_id", "h2"}, {"origin", "managed_hosted_engine"}},
            {{"id", "v1"}, {"name", "db01"}, {"status", "up"}, {"host_id", "h1"}, {"origin", "ovirt"}},
            {{"id", "v2"}, {"name", "app01"}, {"status", "up"}, {"host_id", "h2"}, {"origin", "ovirt"}},
            {{"id", "v3"}, {"name", "mail01"}, {"status", "up"}, {"host_id", "h4"}, {"origin", "ovirt"}},
            {{"id", "v4"}, {"name", "build01"}, {"status", "down"}, {"host_id", ""}, {"origin", "ovirt"}}}}};
}

const engine_api::Host* host(const engine_api::RestoredEngine& e, const std::string& name) {
  for (const auto& h : e.hosts)
    if (h.name == name) return &h;
  return nullptr;
}

const engine_api::Vm* vm(const engine_api::RestoredEngine& e, const std::string& name) {
  for (const auto& v : e.vms)
    if (v.name == name) return &v;
  return nullptr;
}

}  // namespace

TEST_CASE("restored engine prediction: the rules of a deploy from a backup") {
  auto e = engine_api::predict_restored_engine(manifest(), "he1");
  REQUIRE(e);
  // ovirt-he-automation.md, restore_backup.yml "Update host used to
  // redeploy": deletevds by upper(vds_name), its VMs set down.
  CHECK(host(*e, "HE1") == nullptr);
  REQUIRE(vm(*e, "db01"));
  CHECK(vm(*e, "db01")->status == "down");
  CHECK(vm(*e, "db01")->host_id.empty());
  // restore_backup.yml "Remove previous hosted-engine VM" (origin 6).
  CHECK(vm(*e, "HostedEngine") == nullptr);
  // seeds/000 step 9: the other hosted-engine hosts are Non Responsive and
  // their VMs Unknown until fenced.
  REQUIRE(host(*e, "he2"));
  CHECK(host(*e, "he2")->status == "non_responsive");
  CHECK(host(*e, "he2")->spm_status == "spm");
  CHECK(vm(*e, "app01")->status == "unknown");
  // Regular hosts and their VMs as the backup recorded them.
  CHECK(host(*e, "host4")->status == "up");
  CHECK(vm(*e, "mail01")->status == "up");
  CHECK(vm(*e, "build01")->status == "down");
  // The deploy adds its host again, under an id only the engine gives.
  CHECK(e->deploy_host.name == "HE1");
  CHECK(e->deploy_host.status == "up");
  CHECK(e->deploy_host.id.find('<') == 0);
  CHECK(e->basis.find("engine-1.backup") != std::string::npos);
}

TEST_CASE("restored engine prediction: the legacy deploy keeps the failover host's record for the plan to remove") {
  // seeds/000 "Removing the Host from the Restored Environment": the host
  // is in the restored engine as backed up, in maintenance, until removed.
  auto e = engine_api::predict_restored_engine(manifest(), "he1", engine_api::DeployHostRecord::Kept);
  REQUIRE(e);
  REQUIRE(host(*e, "HE1"));
  CHECK(host(*e, "HE1")->status == "maintenance");
  CHECK(vm(*e, "db01")->status == "up");  // its VMs as recorded: nothing was filtered
  CHECK(host(*e, "he2")->status == "non_responsive");
  CHECK(e->deploy_host.name == "HE1");
}

TEST_CASE("restored engine prediction: it travels as an expectation's text and needs the backup's hosts") {
  auto e = engine_api::predict_restored_engine(manifest(), "new-host");
  REQUIRE(e);
  CHECK(e->hosts.size() == 3);  // no record of the new host to drop
  auto back = engine_api::RestoredEngine::from_text(e->to_text());
  REQUIRE(back);
  CHECK(back->hosts.size() == 3);
  CHECK(back->knows_vms);
  CHECK(back->vms.size() == e->vms.size());
  CHECK(host(*back, "he2")->status == "non_responsive");
  CHECK(back->deploy_host.name == "new-host");
  // An older manifest without hosts predicts nothing; without VMs, hosts only.
  CHECK_FALSE(engine_api::predict_restored_engine(Value{{"archive", "a"}}, "x"));
  Value no_vms = manifest();
  no_vms.erase("vms");
  auto hosts_only = engine_api::predict_restored_engine(no_vms, "he1");
  REQUIRE(hosts_only);
  CHECK_FALSE(hosts_only->knows_vms);
  CHECK_FALSE(engine_api::RestoredEngine::from_text("not json"));
}

}  // namespace she::test
