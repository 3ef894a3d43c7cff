// The Oracle VM 3 procedures on the Oracle VM lab (tests/ovm_lab.h): each
// runs to success on its scenario and leaves the world the talk's recovery
// leaves (checked in the manager's database and on the servers' disks); the
// refusals stop them before the harm (a changed WWID before any mkfs, a
// running VM's disk never replaced, a CLI failure with the CLI's own
// message); a dry run makes reads only.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "tests/ovm_lab.h"

namespace she::test {

namespace {

const char* const kRepo = "/OVS/Repositories/0004fb0000030000c43cdd00584279ea";

/// The MACs of a VM's vNICs and the slot -> disk file of its mappings, as the manager's database has them.
struct VmShape {
  std::set<std::string> macs;
  std::map<int, std::string> disks;
  std::string status;
};

VmShape shape(lab::ovm::OvmWorld w, const std::string& name) {
  VmShape s;
  nlohmann::json* vm = w.find("Vm", "name", name);
  REQUIRE_MESSAGE(vm, "no VM " << name);
  s.status = vm->value("status", std::string());
  for (auto& id : (*vm)["vnics"]) s.macs.insert((*w.by_id(id.get<std::string>()))["name"].get<std::string>());
  for (auto& id : (*vm)["mappings"]) {
    nlohmann::json* m = w.by_id(id.get<std::string>());
    s.disks[(*m)["slot"].get<int>()] = (*w.by_id((*m)["disk"].get<std::string>()))["file"].get<std::string>();
  }
  return s;
}

int count_named(lab::ovm::OvmWorld w, const std::string& type, const std::string& name) {
  int n = 0;
  for (auto* o : w.all(type)) n += (*o)["name"] == name;
  return n;
}

}  // namespace

TEST_CASE("ovm procedures: ovm-recreate-vms defines every VM again with its MACs and its disks in their slots") {
  OvmLab lab("examples/ovm/lab/lost-vms.yaml", 120);
  CHECK(lab.world().all("Vm").empty());
  ProcessResult r = lab.run("ovm-recreate-vms", "  definitions: /srv/backups/ovm/vms.json\n  repositories: [slotreposan01]\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  VmShape a = shape(lab.world(), "slot011"), b = shape(lab.world(), "slot021");
  CHECK(a.macs == std::set<std::string>{"00:21:f6:01:00:0b"});
  CHECK(a.disks == std::map<int, std::string>{{0, "slot011_xvda.img"}});
  CHECK(b.macs == std::set<std::string>{"00:21:f6:01:00:15", "00:21:f6:01:00:16"});
  CHECK(b.disks == std::map<int, std::string>{{0, "slot021_xvda.img"}, {2, "slot021_xvdc.img"}});
  // The manager wrote each VM's vm.cfg again, with the MACs.
  std::string cfg = lab.file("ovms01", std::string(kRepo) + "/VirtualMachines/" +
                                           (*lab.world().find("Vm", "name", "slot021"))["id"].get<std::string>() + "/vm.cfg");
  CHECK(cfg.find("mac=00:21:f6:01:00:16") != std::string::npos);

  // Run again: everything exists, nothing is created twice.
  const int writes = lab.cli_writes();
  ProcessResult again = lab.run("ovm-recreate-vms", "  definitions: /srv/backups/ovm/vms.json\n");
  INFO(again.output);
  REQUIRE(again.exit_code == 0);
  CHECK(lab.cli_writes() == writes);
  CHECK(count_named(lab.world(), "Vm", "slot021") == 1);
  CHECK(count_named(lab.world(), "Vnic", "00:21:f6:01:00:15") == 1);
}

TEST_CASE("ovm procedures: a dry run of ovm-recreate-vms makes reads only") {
  OvmLab lab("examples/ovm/lab/lost-vms.yaml", 124);
  ProcessResult r = lab.dry_run("ovm-recreate-vms", "  definitions: /srv/backups/ovm/vms.json\n  repositories: [slotreposan01]\n");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("create Vm name=slot021") != std::string::npos);
  CHECK(r.output.find("create Vm name=slot011 repository=slotreposan01") != std::string::npos);
  // The step reads before it writes: the vNICs and mappings after each create are shown too.
  CHECK(r.output.find("add Vnic name=00:21:f6:01:00:16 to Vm name=slot021") != std::string::npos);
  CHECK(r.output.find("create VmDiskMapping slot=2 storageDevice=slot021_xvdc.img name=slot021_xvdc on Vm name=slot021") !=
        std::string::npos);
  CHECK(lab.cli_writes() == 0);
  CHECK(lab.commands("ovm_cli", "show Vm name=slot011") >= 1);  // the reads were made live
  CHECK(lab.world().all("Vm").empty());
}

TEST_CASE("ovm procedures: ovm-restore-vm-disk puts the snapshot back in the same slot with the VM stopped around it") {
  OvmLab lab("examples/ovm/lab/two-servers.yaml", 128);
  const std::string disk = std::string(kRepo) + "/VirtualDisks/slot021_xvdc.img";
  CHECK(lab.file("ovms01", disk).find("(current)") != std::string::npos);
  ProcessResult r = lab.run("ovm-restore-vm-disk",
                            "  vm: slot021\n  disk: slot021_xvdc.img\n  snapshot: slot021_xvdc.20130313\n  server: ovms01\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(lab.file("ovms01", disk).find("snapshot slot021_xvdc.20130313") != std::string::npos);
  CHECK(lab.file("ovms01", std::string(kRepo) + "/snapshots/slot021_xvdc.img.old").find("(current)") != std::string::npos);
  VmShape s = shape(lab.world(), "slot021");
  CHECK(s.disks == std::map<int, std::string>{{0, "slot021_xvda.img"}, {2, "slot021_xvdc.img"}});
  CHECK(s.status == "Running");
  // Stopped before the mapping went, started after it came back.
  std::string log = read_file(lab.fleet.host("ovm_cli").agent_log);
  CHECK(log.find("stop Vm name=slot021") < log.find("delete VmDiskMapping"));
  CHECK(log.find("create VmDiskMapping") < log.find("start Vm name=slot021"));
}

TEST_CASE("ovm procedures: a VM stop and start that run on as the manager's jobs are waited for before the disk goes and at the end") {
  // The scenario of the test above, its VM jobs running on for two shows
  // after the CLI's answer (fault slow_vm_jobs).
  TempDir scenario_dir;
  const fs::path scenario = scenario_dir.path() / "slow-vm-jobs.yaml";
  write_file(scenario, read_file(source_path("examples/ovm/lab/two-servers.yaml")) + "  faults:\n    slow_vm_jobs: 2\n");
  OvmLab lab(scenario.string(), 203);
  ProcessResult r = lab.run("ovm-restore-vm-disk",
                            "  vm: slot021\n  disk: slot021_xvdc.img\n  snapshot: slot021_xvdc.20130313\n  server: ovms01\n");
  INFO(r.output);
  // Not waited for, the manager would refuse to delete the mapping of the stopping VM.
  REQUIRE(r.exit_code == 0);
  VmShape s = shape(lab.world(), "slot021");
  CHECK(s.disks == std::map<int, std::string>{{0, "slot021_xvda.img"}, {2, "slot021_xvdc.img"}});
  CHECK(s.status == "Running");  // the start's job ran to its end: the run waited for it
  const std::string log = read_file(lab.fleet.host("ovm_cli").agent_log);
  const size_t stop = log.find("stop Vm name=slot021"), unmap = log.find("delete VmDiskMapping");
  REQUIRE(stop < unmap);
  int shows = 0;
  for (size_t at = stop; (at = log.find("show Vm name=slot021", at)) < unmap; ++at) ++shows;
  CHECK(shows >= 2);
}

TEST_CASE("ovm procedures: a plan that skips the stop is refused by the manager and the running VM's disk stays") {
  OvmLab lab("examples/ovm/lab/two-servers.yaml", 132);
  const std::string disk = std::string(kRepo) + "/VirtualDisks/slot021_xvdc.img";
  ProcessResult r = lab.run("ovm-restore-vm-disk", "  vm: slot021\n  disk: slot021_xvdc.img\n  snapshot: slot021_xvdc.20130313\n"
                                                   "  server: ovms01\n  stop_vm: false\n");
  INFO(r.output);
  CHECK(r.exit_code != 0);
  // The CLI's own message, verbatim.
  CHECK(r.output.find("OVMRU_002035E Cannot delete the disk mapping of running Vm: slot021; the disk is in use") !=
        std::string::npos);
  CHECK(lab.file("ovms01", disk).find("(current)") != std::string::npos);
  CHECK(lab.commands("ovms01", "reflink") == 0);
  CHECK(lab.commands("ovms01", "\"command\":\"mv") == 0);
  CHECK(shape(lab.world(), "slot021").disks.size() == 2);
}

TEST_CASE("ovm procedures: a dry run of ovm-restore-vm-disk makes reads only") {
  OvmLab lab("examples/ovm/lab/two-servers.yaml", 136);
  ProcessResult r = lab.dry_run("ovm-restore-vm-disk",
                                "  vm: slot021\n  disk: slot021_xvdc.img\n  snapshot: slot021_xvdc.20130313\n  server: ovms01\n");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("delete VmDiskMapping id=") != std::string::npos);
  CHECK(lab.cli_writes() == 0);
  CHECK(lab.commands("ovms01", "reflink") == 0);
  CHECK(shape(lab.world(), "slot021").status == "Running");
}

TEST_CASE("ovm procedures: ovm-restore-repository recreates the filesystem from its recipe and brings the files back") {
  OvmLab lab("examples/ovm/lab/lost-repository.yaml", 150);
  CHECK(lab.file("ovms01", std::string(kRepo) + "/.ovsrepo").empty());
  ProcessResult r = lab.run("ovm-restore-repository", "  backup: /srv/backups/ovm/slotreposan01\n  server: ovms01\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(lab.file("ovms01", std::string(kRepo) + "/.ovsrepo").find("OVS_REPO_ALIAS=slotreposan01") != std::string::npos);
  CHECK(lab.file("ovms01", std::string(kRepo) + "/VirtualDisks/slot021_xvdc.img").find("(current)") != std::string::npos);
  const std::string vm_id = (*lab.world().find("Vm", "name", "slot021"))["id"];
  CHECK(lab.file("ovms01", std::string(kRepo) + "/VirtualMachines/" + vm_id + "/vm.cfg").find("mac=00:21:f6:01:00:15") !=
        std::string::npos);
  // The filesystem made again from the recorded recipe: same label and UUID on the same LUN.
  std::string luns = lab.file("ovms01", lab::ovm::kLunsFile);
  CHECK(luns.find("\"uuid\": \"0004FB0000050000B4C48C3355BB2934\"") != std::string::npos);
  CHECK(luns.find("\"label\": \"OVS48c3355bb2934\"") != std::string::npos);
  CHECK(lab.commands("ovms01", "mkfs.ocfs2 -J block64 -b 4096 -L OVS48c3355bb2934") == 1);
  CHECK(lab.commands("ovm_cli", "refresh Repository name=slotreposan01") == 1);
}

TEST_CASE("ovm procedures: a LUN whose WWID changed is refused before any mkfs") {
  OvmLab lab("examples/ovm/lab/wwid-changed.yaml", 154);
  ProcessResult r = lab.run("ovm-restore-repository", "  backup: /srv/backups/ovm/slotreposan01\n  server: ovms01\n");
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("The LUN with WWID 360002ac000000000000000740000d140 is not presented to ovms01") != std::string::npos);
  CHECK(lab.commands("ovms01", "multipath -ll") == 1);
  CHECK(lab.commands("ovms01", "mkfs") == 0);  // the host's own log: no mkfs ran
  CHECK(lab.commands("ovms01", "\"command\":\"tar") == 0);
}

TEST_CASE("ovm procedures: a dry run of ovm-restore-repository makes reads only") {
  OvmLab lab("examples/ovm/lab/lost-repository.yaml", 158);
  ProcessResult r = lab.dry_run("ovm-restore-repository", "  backup: /srv/backups/ovm/slotreposan01\n  server: ovms01\n");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("mkfs.ocfs2 -J block64 -b 4096 -L OVS48c3355bb2934 -U 0004FB0000050000B4C48C3355BB2934") !=
        std::string::npos);
  CHECK(lab.commands("ovms01", "multipath -ll") == 1);  // the read was made live
  CHECK(lab.commands("ovms01", "mkfs") == 0);
  CHECK(lab.commands("ovms01", "\"command\":\"tar") == 0);
  CHECK(lab.cli_writes() == 0);
}

TEST_CASE("ovm procedures: ovm-restore-manager restores the lost database with the services stopped around it") {
  OvmLab lab("examples/ovm/lab/lost-database.yaml", 162);
  CHECK_FALSE(fs::exists(lab.fleet.host("ovm_manager").in_sandbox(lab::ovm::kManagerDatabase)));
  ProcessResult r = lab.run("ovm-restore-manager", "  backup: AutoFullBackup-20161105_235900\n  repositories: [slotreposan01]\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(shape(lab.world(), "slot021").disks.size() == 2);
  CHECK(shape(lab.world(), "slot011").macs == std::set<std::string>{"00:21:f6:01:00:0b"});
  CHECK(fs::exists(lab.fleet.host("ovm_manager").in_sandbox("/var/run/ovmm.running")));
  std::string log = read_file(lab.fleet.host("ovm_manager").agent_log);
  CHECK(log.find("service ovmm stop") < log.find("RestoreDatabase.sh"));
  CHECK(log.find("RestoreDatabase.sh") < log.find("service ovmm start"));
}

TEST_CASE("ovm procedures: a dry run of ovm-restore-manager makes reads only") {
  OvmLab lab("examples/ovm/lab/lost-database.yaml", 166);
  ProcessResult r = lab.dry_run("ovm-restore-manager", "  backup: AutoFullBackup-20161105_235900\n");
  INFO(r.output);
  CHECK(lab.commands("ovm_manager", "RestoreDatabase.sh") == 0);
  CHECK(lab.commands("ovm_manager", "service ovmm") == 0);
  CHECK_FALSE(fs::exists(lab.fleet.host("ovm_manager").in_sandbox(lab::ovm::kManagerDatabase)));
}

TEST_CASE("ovm procedures: ovm-backup takes everything off the boxes and its definitions recreate the VMs") {
  OvmLab lab("examples/ovm/lab/two-servers.yaml", 170);
  const std::string with =
      "  repository:\n    name: slotreposan01\n    id: 0004fb0000030000c43cdd00584279ea\n    server: ovms01\n"
      "    wwid: 360002ac000000000000000740000d140\n";
  ProcessResult r = lab.run("ovm-backup", with);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  fs::path stored;
  for (auto& e : fs::directory_iterator(lab.fleet.host("backup_storage").in_sandbox("/srv/backups/ovm")))
    if (e.is_directory()) stored = e.path();
  REQUIRE(!stored.empty());
  for (const char* f : {"servers/ovms01/root.tgz", "servers/ovms01/boot.tgz", "servers/ovms02/mbr.raw",
                        "slotreposan01/repository.tgz", "slotreposan01/repository.json", "vms.json", "manager/config",
                        "manager/dbbackup.tgz", "manifest.json"})
    CHECK_MESSAGE(fs::exists(stored / f), f);
  // The MBR is the server's first sector; the recipe and the WWID are recorded.
  CHECK(read_file(stored / "servers/ovms02/mbr.raw").size() == 512);
  nlohmann::json repo = nlohmann::json::parse(read_file(stored / "slotreposan01/repository.json"));
  CHECK(repo["uuid"] == "0004FB0000050000B4C48C3355BB2934");
  CHECK(repo["recipe"].get<std::string>().find("mkfs.ocfs2 -J block64 -b 4096 -L OVS48c3355bb2934") == 0);
  nlohmann::json vms = nlohmann::json::parse(read_file(stored / "vms.json"));
  REQUIRE(vms["vms"].size() == 2);
  CHECK(vms["scripts"].dump().find("add Vnic name=00:21:f6:01:00:16 to Vm name=slot021") != std::string::npos);
  CHECK(read_file(stored / "manager/config").find("UUID=0004fb000001000079a86253a43b91fb") != std::string::npos);
  CHECK(lab.cli_writes() == 0);  // a backup changes nothing in the manager

  // Those definitions bring the VMs back on a manager that lost them.
  OvmLab lost("examples/ovm/lab/lost-vms.yaml", 174);
  fs::copy_file(stored / "vms.json", lost.fleet.host("backup_storage").in_sandbox("/srv/backups/ovm/captured.json"));
  ProcessResult again = lost.run("ovm-recreate-vms", "  definitions: /srv/backups/ovm/captured.json\n  repositories: [slotreposan01]\n");
  INFO(again.output);
  REQUIRE(again.exit_code == 0);
  CHECK(shape(lost.world(), "slot021").disks == std::map<int, std::string>{{0, "slot021_xvda.img"}, {2, "slot021_xvdc.img"}});
  CHECK(shape(lost.world(), "slot021").macs == std::set<std::string>{"00:21:f6:01:00:15", "00:21:f6:01:00:16"});
}

TEST_CASE("ovm procedures: a dry run of ovm-backup makes reads only") {
  OvmLab lab("examples/ovm/lab/two-servers.yaml", 178);
  ProcessResult r = lab.dry_run("ovm-backup", "  repository:\n    name: slotreposan01\n    id: 0004fb0000030000c43cdd00584279ea\n"
                                              "    server: ovms01\n    wwid: 360002ac000000000000000740000d140\n");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(lab.commands("ovms01", "\"command\":\"tar") == 0);
  CHECK(lab.commands("ovm_manager", "BackupDatabase") == 0);
  CHECK(lab.commands("ovms01", "tunefs.ocfs2 -Q") >= 1);  // reads made live
  CHECK(lab.commands("ovm_cli", "show Vm name=slot021") == 1);
  CHECK(lab.cli_writes() == 0);
}

TEST_CASE("ovm procedures: a CLI failure stops the step with the CLI's own message") {
  OvmLab lab("examples/ovm/lab/lost-vms.yaml", 182);
  // Definitions naming a network the manager does not have.
  write_file(lab.fleet.host("backup_storage").in_sandbox("/srv/backups/ovm/bad.json"),
             R"({"vms": [{"name": "web9", "repository": "slotreposan01", "server_pool": "slot", "attributes": {},
                 "vnics": [{"mac": "00:21:f6:01:00:99", "network": "vlan-gone"}], "disks": []}]})");
  ProcessResult r = lab.run("ovm-recreate-vms", "  definitions: /srv/backups/ovm/bad.json\n");
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("OVMAPI_4001E Cannot find object: Network name=vlan-gone. No such object.") != std::string::npos);
  CHECK(r.output.find("create Vnic name=00:21:f6:01:00:99 network=vlan-gone") != std::string::npos);
}

TEST_CASE("ovm procedures: ovm-reinstall-manager reinstalls with the same UUID and rediscovers") {
  OvmLab lab("examples/ovm/lab/lost-manager.yaml", 186);
  CHECK_FALSE(fs::exists(lab.fleet.host("ovm_manager").in_sandbox(lab::ovm::kManagerDatabase)));
  const std::string with =
      "  config: /srv/backups/ovm/manager/config\n  servers: [ovms01, ovms02]\n  agent_password: env:LAB_OVM_AGENT\n"
      "  repositories: [slotreposan01]\n";
  ProcessResult r = lab.run("ovm-reinstall-manager", with, "", "LAB_OVM_AGENT=lab-agent-secret");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // The same UUID: the repository (which records it) was refreshed, and
  // its VMs came back from their vm.cfg with their MACs and disks in place.
  CHECK(lab.world().manager_uuid() == "0004fb000001000079a86253a43b91fb");
  CHECK(lab.file("ovm_manager", lab::ovm::kManagerConfig).find("UUID=0004fb000001000079a86253a43b91fb") != std::string::npos);
  CHECK(count_named(lab.world(), "Server", "ovms01") == 1);
  CHECK(count_named(lab.world(), "Server", "ovms02") == 1);
  CHECK(shape(lab.world(), "slot021").disks == std::map<int, std::string>{{0, "slot021_xvda.img"}, {2, "slot021_xvdc.img"}});
  CHECK(shape(lab.world(), "slot021").macs == std::set<std::string>{"00:21:f6:01:00:15", "00:21:f6:01:00:16"});
  CHECK(shape(lab.world(), "slot011").macs == std::set<std::string>{"00:21:f6:01:00:0b"});
  // The agent password went on the CLI session's standard input: the lab
  // CLI logged the command masked, and nothing shows the value.
  CHECK(lab.commands("ovm_cli", "discoverServer ipAddress=ovms01 password=\\\"*****\\\"") == 1);  // JSON-escaped quotes
  CHECK(lab.commands("ovm_cli", "lab-agent-secret") == 0);
  CHECK(lab.commands("ovm_manager", "lab-agent-secret") == 0);
  CHECK(r.output.find("lab-agent-secret") == std::string::npos);
  CHECK(lab.commands("ovm_manager", "runInstaller.sh --installtype=Install --uuid=0004fb000001000079a86253a43b91fb") == 1);

  // Again: the servers are known, nothing is discovered twice.
  ProcessResult again = lab.run("ovm-reinstall-manager", with, "--from discover", "LAB_OVM_AGENT=lab-agent-secret");
  INFO(again.output);
  CHECK(again.exit_code == 0);
  CHECK(lab.commands("ovm_cli", "discoverServer") == 2);
}

TEST_CASE("ovm procedures: a wrong agent password stops discovery with the manager's message") {
  OvmLab lab("examples/ovm/lab/lost-manager.yaml", 190);
  ProcessResult r = lab.run("ovm-reinstall-manager",
                            "  config: /srv/backups/ovm/manager/config\n  servers: [ovms01]\n  agent_password: env:LAB_OVM_AGENT\n",
                            "", "LAB_OVM_AGENT=not-the-password");
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("OVMRU_002005E The Oracle VM agent on ovms01 refused the password") != std::string::npos);
  CHECK(r.output.find("not-the-password") == std::string::npos);
  CHECK(count_named(lab.world(), "Server", "ovms01") == 0);
}

TEST_CASE("ovm procedures: with the manager down a stopped VM is started from its vm.cfg with xm create - once") {
  OvmLab lab("examples/ovm/lab/two-servers.yaml", 198);
  const std::string id = (*lab.world().find("Vm", "name", "slot011"))["id"];
  const std::string running = (*lab.world().find("Vm", "name", "slot021"))["id"];
  // The manager is down; ovms01 rebooted and runs slot021 only again.
  fs::remove(lab.fleet.host("ovm_manager").in_sandbox("/var/run/ovmm.running"));
  const fs::path domains = lab.fleet.host("ovms01").in_sandbox("/var/run/lab-xen/domains.json");
  nlohmann::json kept = nlohmann::json::array();
  for (auto& d : nlohmann::json::parse(read_file(domains)))
    if (d["name"] == running) kept.push_back(d);
  REQUIRE(kept.size() == 1);
  write_file(domains, kept.dump());
  const std::string with = "  vm: " + id + "\n  repository: 0004fb0000030000c43cdd00584279ea\n  server: ovms01\n";
  ProcessResult r = lab.run("ovm-start-vm-without-manager", with);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(lab.commands("ovms01", "xm create /OVS/Repositories/0004fb0000030000c43cdd00584279ea/VirtualMachines/" + id +
                                   "/vm.cfg") == 1);
  CHECK(lab.file("ovms01", "/var/run/lab-xen/domains.json").find(id) != std::string::npos);
  // Running now: a second run leaves it alone; so does a run for a VM that runs.
  ProcessResult again = lab.run("ovm-start-vm-without-manager", with);
  INFO(again.output);
  CHECK(again.exit_code == 0);
  ProcessResult other = lab.run("ovm-start-vm-without-manager",
                                "  vm: " + running + "\n  repository: 0004fb0000030000c43cdd00584279ea\n  server: ovms01\n");
  INFO(other.output);
  CHECK(other.exit_code == 0);
  CHECK(lab.commands("ovms01", "xm create") == 1);
  CHECK(lab.commands("ovms01", "xm list") >= 1);  // the check before the create
  CHECK(lab.cli_writes() == 0);
}

}  // namespace she::test
