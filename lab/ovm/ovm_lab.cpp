#include "lab/ovm/ovm_lab.h"

#include <charconv>
#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <fstream>
#include <stdexcept>
#include <yaml-cpp/yaml.h>

#include "hosts/ovm_cli_command.h"
#include "lab/ovm/ovm_cli_server.h"
#include "lab/ovm/ovm_world.h"

namespace she::lab::ovm {

namespace fs = std::filesystem;

namespace {

Json to_json(const YAML::Node& n) {
  if (n.IsMap()) {
    Json out = Json::object();
    for (auto it = n.begin(); it != n.end(); ++it) out[it->first.as<std::string>()] = to_json(it->second);
    return out;
  }
  if (n.IsSequence()) {
    Json out = Json::array();
    for (auto item : n) out.push_back(to_json(item));
    return out;
  }
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    if (n.Tag() != "!" && (s == "true" || s == "false")) return s == "true";
    return s;
  }
  return nullptr;
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::trunc | std::ios::binary) << text;
}

std::string str(const Json& j, const char* key, const std::string& def = "") {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : def;
}

const Json& list(const Json& j, const char* key) {
  static const Json empty = Json::array();
  return j.contains(key) && j[key].is_array() ? j[key] : empty;
}

// A disk image's content: recognisable, so a test can tell which generation is back.
std::string image(const std::string& file, const std::string& generation) {
  std::string s = fmt::format("lab virtual disk {} ({})\n", file, generation);
  s.resize(4096, '\0');
  return s;
}

void run_cli(const CliSetup& setup, const she::ovm::CliCommand& c) {
  CliReply r = answer_cli(setup, c.line(), "seed");
  if (r.text.find("Status: Success") == std::string::npos)
    throw std::runtime_error("OVM scenario: the lab manager refused `" + c.line() + "`: " + r.text);
}

// A gzip tar of a directory's content (names relative to it), as tar -C DIR -zcf makes it.
void tar_directory(const fs::path& dir, const fs::path& archive_path) {
  archive* ar = archive_write_new();
  archive_write_add_filter_gzip(ar);
  archive_write_set_format_pax_restricted(ar);
  fs::create_directories(archive_path.parent_path());
  if (archive_write_open_filename(ar, archive_path.c_str()) != ARCHIVE_OK)
    throw std::runtime_error("OVM scenario: cannot write " + archive_path.string());
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, fs::relative(e.path(), dir).string().c_str());
    archive_entry_set_perm(entry, e.is_directory() ? 0755 : 0644);
    if (e.is_directory()) {
      archive_entry_set_filetype(entry, AE_IFDIR);
      archive_write_header(ar, entry);
    } else {
      std::ifstream in(e.path(), std::ios::binary);
      std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_set_size(entry, static_cast<la_int64_t>(data.size()));
      archive_write_header(ar, entry);
      archive_write_data(ar, data.data(), data.size());
    }
    archive_entry_free(entry);
  }
  archive_write_close(ar);
  archive_write_free(ar);
}

// A VM of the scenario as ovm.vm.capture describes it.
Json definition(const Json& vm) {
  Json d = {{"name", str(vm, "name")}, {"repository", str(vm, "repository")}, {"server_pool", str(vm, "pool")},
            {"attributes", vm.contains("attributes") ? vm["attributes"] : Json::object()},
            {"vnics", Json::array()}, {"disks", Json::array()}};
  for (auto& n : list(vm, "vnics")) d["vnics"].push_back({{"mac", str(n, "mac")}, {"network", str(n, "network")}});
  for (auto& k : list(vm, "disks"))
    d["disks"].push_back({{"slot", std::stoi(str(k, "slot", "0"))}, {"disk", str(k, "disk")}, {"name", str(k, "name")}});
  return d;
}

}  // namespace

bool is_ovm_scenario(const fs::path& file) {
  try {
    YAML::Node root = YAML::LoadFile(file.string());
    return root.IsMap() && root["ovm"];
  } catch (const YAML::Exception&) {
    return false;
  }
}

Json load_ovm_scenario(const fs::path& file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(fmt::format("{}:{}:{}: {}", file.string(), e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  if (!root.IsMap() || !root["ovm"] || !root["ovm"].IsMap())
    throw std::runtime_error(fmt::format("{}:1:1: not an Oracle VM lab scenario: it needs a top-level 'ovm:' map",
                                         file.string()));
  return to_json(root["ovm"]);
}

std::vector<FleetHostSpec> ovm_fleet(const Json& sc, int first_octet) {
  std::vector<FleetHostSpec> out;
  int n = first_octet;
  auto add = [&](const std::string& name, const std::string& role, const std::string& hostname) {
    FleetHostSpec s;
    s.name = name;
    s.role = role;
    s.hostname = hostname;
    s.address = fmt::format("127.0.0.{}", n++);
    out.push_back(s);
    return &out.back();
  };
  const std::string manager = str(sc["manager"], "hostname", "ovmm.lab.example");
  add("ovm_manager", "ovm_manager", manager);
  add("ovm_cli", "ovm_cli", manager);
  for (auto& s : list(sc, "servers")) add(str(s, "name"), "ovm_server", str(s, "name"));
  add("backup_storage", "backup_storage", "backup.lab.example");
  return out;
}

void seed_ovm_lab(const Json& sc, const HostFleet& fleet) {
  const FleetHost& mgr = fleet.host("ovm_manager");
  const std::string uuid = str(sc["manager"], "uuid", "0004fb000001000079a86253a43b91fb");
  CliSetup setup{mgr.sandbox, fleet.dir() / "hosts"};

  // The manager's OS: its configuration, tools, service and database.
  write(mgr.in_sandbox(kManagerConfig), fmt::format("DBTYPE=MySQL\nDBHOST=localhost\nSID=ovs\nLSNR=49500\nOVSSCHEMA=ovs\n"
                                                    "APEX=8080\nWLSADMIN=weblogic\nOVSADMIN=admin\nCOREPORT=54321\n"
                                                    "UUID={}\nBUILDID=3.4.6.2105\n",
                                                    uuid));
  write(mgr.in_sandbox("/etc/sysconfig/ovmm"), fmt::format("RUN_OVMM=YES\nUUID={}\n", uuid));
  for (const char* tool : {"/u01/app/oracle/ovm-manager-3/ovm_tools/bin/BackupDatabase", kManagerInstaller,
                           "/u01/app/oracle/ovm-manager-3/ovm_tools/bin/RestoreDatabase.sh", "/sbin/service", "/bin/tar"})
    write(mgr.in_sandbox(tool), "#!/bin/sh\n# lab marker: the lab agent runs this tool\n");
  fs::create_directories(mgr.in_sandbox(kManagerBackups));
  write(setup.service_flag(), "1\n");
  fs::create_directories(setup.database_path().parent_path());
  OvmWorld w(Json{{"manager_uuid", uuid}});
  for (auto& p : list(sc, "server_pools")) w.add("ServerPool", str(p, "name"));
  for (auto& nw : list(sc, "networks")) w.add("Network", str(nw, "name"));

  // Each server: its OS, its LUNs (multipath and OCFS2), its repositories.
  for (auto& s : list(sc, "servers")) {
    const FleetHost& h = fleet.host(str(s, "name"));
    Json& server = w.add("Server", str(s, "name"));
    if (Json* pool = w.find("ServerPool", "name", str(s, "pool"))) server["pool"] = (*pool)["id"];
    for (const char* tool : {"/sbin/tunefs.ocfs2", "/sbin/mkfs.ocfs2", "/sbin/multipath", "/usr/bin/reflink",
                             "/bin/tar", "/usr/sbin/xm"})
      write(h.in_sandbox(tool), "#!/bin/sh\n# lab marker: the lab agent runs this tool\n");
    std::string mbr(512, '\0');
    mbr.replace(0, 28, fmt::format("lab MBR of {:<16}", str(s, "name")).substr(0, 28));
    mbr[510] = '\x55';
    mbr[511] = '\xaa';
    write(h.in_sandbox("/dev/sda"), mbr + std::string(512 * 7, '\0'));
    write(h.in_sandbox("/boot/vmlinuz-4.1.12-lab"), "lab kernel\n");
    write(h.in_sandbox("/etc/ovs-agent/agent.ini"), "[server]\napi_port=8899\n");
    write(h.in_sandbox("/etc/ocfs2/cluster.conf"),
          fmt::format("cluster:\n\tname = {}\n\theartbeat_mode = global\n", str(sc["manager"], "cluster", "e778eb160b9eab47")));
    Json luns = Json::array();
    for (auto& l : list(s, "luns")) {
      luns.push_back(l);
      write(h.in_sandbox("/dev/mapper/" + str(l, "wwid")), "lab LUN\n");
    }
    write(h.in_sandbox(kLunsFile), luns.dump(2) + "\n");
  }
  std::string agent_db;
  for (auto& r : list(sc, "repositories")) {
    const FleetHost& h = fleet.host(str(r, "server"));
    Json& repo = w.add("Repository", str(r, "name"));
    if (!str(r, "id").empty()) repo["id"] = str(r, "id");
    repo["server"] = str(r, "server");
    repo["lun"] = "/dev/mapper/" + str(r, "lun");
    const std::string id = repo["id"];
    const std::string dir = "/OVS/Repositories/" + id;
    write(h.in_sandbox(dir + "/.ovsrepo"), fmt::format("OVS_REPO_UUID={}\nOVS_REPO_VERSION=3.0\nOVS_REPO_MGR_UUID={}\n"
                                                       "OVS_REPO_ALIAS={}\n",
                                                       id, uuid, str(r, "name")));
    for (const char* sub : {"VirtualMachines", "VirtualDisks", "Templates", "ISOs", "Assemblies"})
      fs::create_directories(h.in_sandbox(dir + "/" + sub));
    for (auto& d : list(r, "disks")) write(h.in_sandbox(dir + "/VirtualDisks/" + d.get<std::string>()), image(d, "current"));
    for (auto& snap : list(r, "snapshots"))
      write(h.in_sandbox(dir + "/snapshots/" + str(snap, "file")), image(str(snap, "of"), "snapshot " + str(snap, "file")));
    // The server's own record of what it mounts where (binary for real).
    write(h.in_sandbox("/etc/ovs-agent/db/repository"),
          fmt::format("mount_point\n{}\nfs_location\n/dev/mapper/{}\n{}\n", dir, str(r, "lun"), id));
  }
  w.save(setup.database_path());

  // What each server's agent knows of itself (its manager's UUID, its pool,
  // the networks and repositories it has) and its agent password: what a
  // reinstalled manager learns back with discoverServer.
  for (auto& srv : list(sc, "servers")) {
    Json agent = {{"manager_uuid", uuid}, {"pool", str(srv, "pool")},
                  {"agent_password", str(sc["manager"], "agent_password", "lab-agent-password")},
                  {"networks", Json::array()}, {"repositories", Json::array()}};
    for (Json* n : w.all("Network")) agent["networks"].push_back({{"id", (*n)["id"]}, {"name", (*n)["name"]}});
    for (Json* r : w.all("Repository"))
      if (r->value("server", std::string()) == str(srv, "name"))
        agent["repositories"].push_back({{"id", (*r)["id"]}, {"name", (*r)["name"]}, {"lun", (*r)["lun"]}});
    write(fleet.host(str(srv, "name")).in_sandbox("/etc/ovs-agent/db/lab-server.json"), agent.dump(2) + "\n");
  }

  // VMs through the lab CLI: the database and every vm.cfg as the manager makes them.
  for (auto& r : list(sc, "repositories")) run_cli(setup, {"refresh", "Repository", {{"name", str(r, "name")}}, "", {}});
  for (auto& vm : list(sc, "vms")) {
    she::ovm::CliCommand create{"create", "Vm", {{"name", str(vm, "name")}, {"repository", str(vm, "repository")}},
                                "on", {"ServerPool", "name", str(vm, "pool")}};
    if (vm.contains("attributes"))
      for (auto& [k, v] : vm["attributes"].items()) create.attributes.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
    run_cli(setup, create);
    for (auto& n : list(vm, "vnics")) {
      run_cli(setup, {"create", "Vnic", {{"name", str(n, "mac")}, {"network", str(n, "network")}}, "", {}});
      run_cli(setup, {"add", "Vnic", {{"name", str(n, "mac")}}, "to", {"Vm", "name", str(vm, "name")}});
    }
    for (auto& d : list(vm, "disks"))
      run_cli(setup, {"create", "VmDiskMapping",
                      {{"slot", str(d, "slot", "0")}, {"storageDevice", str(d, "disk")}, {"name", str(d, "name")}},
                      "on", {"Vm", "name", str(vm, "name")}});
    if (str(vm, "status") == "Running") run_cli(setup, {"start", "Vm", {{"name", str(vm, "name")}}, "", {}});
  }

  // A copy of the database as the manager's nightly backup leaves it.
  fs::create_directories(mgr.in_sandbox(std::string(kManagerBackups) + "/AutoFullBackup-20161105_235900"));
  fs::copy_file(setup.database_path(),
                mgr.in_sandbox(std::string(kManagerBackups) + "/AutoFullBackup-20161105_235900/ovs.json"),
                fs::copy_options::overwrite_existing);
  fs::create_directories(fleet.host("backup_storage").in_sandbox("/srv/backups/ovm"));

  // What an earlier ovm-backup left on backup storage.
  const FleetHost& storage = fleet.host("backup_storage");
  const Json kept = sc.contains("backup_storage") ? sc["backup_storage"] : Json::object();
  if (kept.contains("definitions")) {
    Json vms = Json::array();
    for (auto& vm : list(sc, "vms")) vms.push_back(definition(vm));
    write(storage.in_sandbox(str(kept, "definitions")), Json{{"vms", vms}}.dump(2) + "\n");
  }
  if (kept.contains("config")) {  // the manager's .config as ovm-backup copies it
    std::ifstream in(mgr.in_sandbox(kManagerConfig), std::ios::binary);
    write(storage.in_sandbox(str(kept, "config")),
          std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
  }
  if (kept.contains("repository_backup"))
    for (auto& r : list(sc, "repositories")) {
      const FleetHost& h = fleet.host(str(r, "server"));
      const std::string dir = str(kept, "repository_backup");
      std::ifstream in(h.in_sandbox(kLunsFile));
      Json luns = Json::parse(in);
      for (auto& l : luns)
        if (str(l, "wwid") == str(r, "lun") && l.contains("ocfs2")) {
          const Json& f = l["ocfs2"];
          const std::string device = "/dev/mapper/" + str(r, "lun");
          write(storage.in_sandbox(dir + "/repository.json"),
                Json{{"name", str(r, "name")}, {"id", str(r, "id")}, {"server", str(r, "server")}, {"device", device},
                     {"wwid", str(r, "lun")}, {"block", str(f, "block")}, {"label", str(f, "label")},
                     {"uuid", str(f, "uuid")}, {"slots", str(f, "slots")},
                     {"recipe", fmt::format("mkfs.ocfs2 -J block64 -b {} -L {} -U {} -T vmstore -N {} {}", str(f, "block"),
                                          str(f, "label"), str(f, "uuid"), str(f, "slots"), device)}}
                        .dump(2) + "\n");
        }
      tar_directory(h.in_sandbox("/OVS/Repositories/" + str(r, "id")), storage.in_sandbox(dir + "/repository.tgz"));
    }

  // Faults, after the world they break was made.
  const Json faults = sc.contains("faults") ? sc["faults"] : Json::object();
  if (faults.value("lost_vms", false)) {
    // A fresh manager: it knows its pools, servers, networks and repositories, not a VM nor a disk.
    OvmWorld fresh = *OvmWorld::load(setup.database_path());
    for (const char* type : {"Vm", "Vnic", "VmDiskMapping", "VirtualDisk"}) {
      std::vector<std::string> ids;
      for (Json* o : fresh.all(type)) ids.push_back((*o)["id"].get<std::string>());
      for (auto& id : ids) fresh.remove(id);
    }
    fresh.save(setup.database_path());
    for (auto& r : list(sc, "repositories")) {
      fs::path vms = fleet.host(str(r, "server")).in_sandbox("/OVS/Repositories/" + str(r, "id") + "/VirtualMachines");
      fs::remove_all(vms);
      fs::create_directories(vms);
    }
  }
  if (faults.contains("wwid_changed")) {
    const Json& f = faults["wwid_changed"];
    const FleetHost& h = fleet.host(str(f, "server"));
    std::ifstream in(h.in_sandbox(kLunsFile));
    Json luns = Json::parse(in);
    for (auto& l : luns)
      if (str(l, "wwid") == str(f, "wwid")) {
        l["wwid"] = str(f, "now");
        fs::rename(h.in_sandbox("/dev/mapper/" + str(f, "wwid")), h.in_sandbox("/dev/mapper/" + str(f, "now")));
      }
    write(h.in_sandbox(kLunsFile), luns.dump(2) + "\n");
  }
  if (faults.contains("lost_repository")) {
    for (auto& r : list(sc, "repositories"))
      if (str(r, "name") == faults["lost_repository"].get<std::string>()) {
        const FleetHost& h = fleet.host(str(r, "server"));
        fs::path dir = h.in_sandbox("/OVS/Repositories/" + (r.contains("id") ? str(r, "id") : ""));
        fs::remove_all(dir);
        fs::create_directories(dir);  // the mount point stays; the filesystem on it is gone
        std::ifstream in(h.in_sandbox(kLunsFile));
        Json luns = Json::parse(in);
        for (auto& l : luns)
          if (str(l, "wwid") == str(r, "lun")) l.erase("ocfs2");  // no filesystem on the LUN any more
        write(h.in_sandbox(kLunsFile), luns.dump(2) + "\n");
      }
  }
  if (faults.value("lost_manager", false)) {
    // The manager's box rebuilt from nothing: no database, no backup of it,
    // no .config; the installer is there to run.
    fs::remove(setup.database_path());
    fs::remove(setup.service_flag());
    fs::remove_all(mgr.in_sandbox(kManagerBackups));
    fs::create_directories(mgr.in_sandbox(kManagerBackups));
    fs::remove(mgr.in_sandbox(kManagerConfig));
    fs::remove(mgr.in_sandbox("/etc/sysconfig/ovmm"));
  }
  if (faults.contains("slow_vm_jobs")) {
    // A VM's start or stop runs on as the manager's job after the CLI has
    // answered (lab/ovm/ovm_cli_server.cpp).
    OvmWorld w = *OvmWorld::load(setup.database_path());
    // A scenario's scalars arrive as text (to_json above).
    const Json& given = faults["slow_vm_jobs"];
    const std::string count = given.is_string() ? given.get<std::string>() : given.dump();
    int shows = -1;
    const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), shows);
    if (ec != std::errc() || end != count.data() + count.size() || shows < 0 || shows > 1000)
      throw std::runtime_error("faults.slow_vm_jobs is a count of shows, 0 to 1000, not '" + count + "'");
    w.data()["slow_vm_jobs"] = shows;
    w.save(setup.database_path());
  }
  if (faults.value("lost_database", false)) {
    fs::remove(setup.database_path());
    fs::remove(setup.service_flag());
  }
}

void write_ovm_environment(const fs::path& path, const HostFleet& fleet) {
  YAML::Emitter out;
  auto ssh = [&](const FleetHost& h) {
    out << YAML::Key << "ssh" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "address" << YAML::Value
        << h.address << YAML::Key << "port" << YAML::Value << h.port << YAML::EndMap;
  };
  out << YAML::BeginMap << YAML::Key << "environment" << YAML::Value << "ovm-lab" << YAML::Key << "mode" << YAML::Value
      << "rehearsal";
  out << YAML::Key << "ssh" << YAML::Value << YAML::BeginMap << YAML::Key << "user" << YAML::Value << fleet.user()
      << YAML::Key << "key" << YAML::Value << fleet.client_key().string() << YAML::Key << "known_hosts" << YAML::Value
      << fleet.known_hosts().string() << YAML::EndMap;
  out << YAML::Key << "hosts" << YAML::Value << YAML::BeginSeq;
  for (const FleetHost& h : fleet.hosts()) {
    if (h.name == "backup_storage") continue;
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << h.name << YAML::Key << "address" << YAML::Value
        << (h.spec.hostname.empty() ? h.name : h.spec.hostname);
    out << YAML::Key << "roles" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    if (h.spec.role == "ovm_manager" || h.spec.role == "ovm_server") out << h.spec.role;
    out << YAML::EndSeq;
    ssh(h);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  const FleetHost& b = fleet.host("backup_storage");
  out << YAML::Key << "backup_storage" << YAML::Value << YAML::BeginMap << YAML::Key << "address" << YAML::Value
      << b.spec.hostname;
  ssh(b);
  out << YAML::Key << "path" << YAML::Value << "/srv/backups/ovm" << YAML::EndMap << YAML::EndMap;
  write(path, std::string(out.c_str()) + "\n");
}

}  // namespace she::lab::ovm
