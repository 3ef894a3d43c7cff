#include "lab/ovm/ovm_cli_server.h"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "hosts/ovm_cli_command.h"
#include "lab/ovm/ovm_world.h"

namespace she::lab::ovm {

namespace fs = std::filesystem;
using she::ovm::CliCommand;

fs::path CliSetup::database_path() const { return manager_root / "u01/app/oracle/mysql/data/ovs.json"; }
fs::path CliSetup::service_flag() const { return manager_root / "var/run/ovmm.running"; }

namespace {

// A refusal, with the manager's message.
struct Refusal {
  std::string message;
};

std::string label_of(OvmWorld& w, const std::string& id) {
  Json* o = w.by_id(id);
  return o ? fmt::format("{}  [{}]", id, o->value("name", std::string())) : id;
}

Json& need(OvmWorld& w, const std::string& type, const std::string& key, const std::string& value) {
  if (key != "id" && key != "name") throw Refusal{fmt::format("OVMAPI_4002E Invalid identifier {}= for {}", key, type)};
  Json* o = w.find(type, key, value);
  if (!o) throw Refusal{fmt::format("OVMAPI_4001E Cannot find object: {} {}={}. No such object.", type, key, value)};
  return *o;
}

// The object the command itself names by id= or name=.
Json& named(OvmWorld& w, const CliCommand& c, const std::string& type) {
  if (!c.attribute("id").empty()) return need(w, type, "id", c.attribute("id"));
  if (!c.attribute("name").empty()) return need(w, type, "name", c.attribute("name"));
  throw Refusal{fmt::format("OVMAPI_4003E {} needs id= or name=", c.verb)};
}

// A reference attribute given by name or id (repository=..., network=...).
Json& referenced(OvmWorld& w, const std::string& type, const std::string& value) {
  if (Json* o = w.find(type, "id", value)) return *o;
  return need(w, type, "name", value);
}

std::vector<std::string> ids(const Json& o, const char* key) {
  std::vector<std::string> out;
  if (o.contains(key))
    for (auto& v : o[key]) out.push_back(v.get<std::string>());
  return out;
}

fs::path repository_dir(const CliSetup& s, const Json& repo) {
  return s.hosts_dir / repo.value("server", std::string()) / "root/OVS/Repositories" / repo.value("id", std::string());
}

// vm.cfg as the manager writes it (Xen's Python syntax).
void write_vm_cfg(const CliSetup& s, OvmWorld& w, const Json& vm) {
  Json* repo = w.by_id(vm.value("repository", std::string()));
  if (!repo) return;
  fs::path repo_dir = repository_dir(s, *repo);
  if (!fs::exists(repo_dir / ".ovsrepo")) return;
  std::vector<std::string> vifs, disks;
  for (auto& id : ids(vm, "vnics"))
    if (Json* n = w.by_id(id)) {
      Json* net = w.by_id(n->value("network", std::string()));
      vifs.push_back(fmt::format("'mac={},bridge={}'", n->value("name", std::string()),
                                 net ? net->value("id", std::string()) : "xenbr0"));
    }
  std::vector<std::pair<int, std::string>> slots;
  for (auto& id : ids(vm, "mappings"))
    if (Json* m = w.by_id(id))
      if (Json* d = w.by_id(m->value("disk", std::string())))
        slots.emplace_back(m->value("slot", 0), fmt::format("'file:{}/VirtualDisks/{},xvd{},w'",
                                                            "/OVS/Repositories/" + repo->value("id", std::string()),
                                                            d->value("file", std::string()),
                                                            static_cast<char>('a' + m->value("slot", 0))));
  std::sort(slots.begin(), slots.end());
  for (auto& [_, d] : slots) disks.push_back(d);
  const Json& a = vm["attributes"];
  std::string text = fmt::format(
      "vif = [{}]\nOVM_simple_name = '{}'\ndisk = [{}]\nname = '{}'\nmemory = {}\nvcpus = {}\n"
      "OVM_domain_type = '{}'\nOVM_os_type = '{}'\nOVM_high_availability = {}\n",
      fmt::join(vifs, ", "), vm.value("name", std::string()), fmt::join(disks, ", "), vm.value("id", std::string()),
      a.value("memory", std::string("1024")), a.value("cpuCount", std::string("1")),
      a.value("domainType", std::string("XEN_PVM")), a.value("osType", std::string("None")),
      a.value("highAvailability", std::string("no")) == "yes" ? "True" : "False");
  fs::create_directories(repo_dir / "VirtualMachines" / vm.value("id", std::string()));
  std::ofstream(repo_dir / "VirtualMachines" / vm.value("id", std::string()) / "vm.cfg", std::ios::trunc) << text;
}

// A VM runs as a Xen domain (named by its id) on its repository's server:
// what `xm list` there shows (lab/agent/ovm_server_tools.cpp).
void set_domain(const CliSetup& s, OvmWorld& w, const Json& vm, bool running) {
  Json* repo = w.by_id(vm.value("repository", std::string()));
  if (!repo) return;
  const fs::path file = s.hosts_dir / repo->value("server", std::string()) / "root/var/run/lab-xen/domains.json";
  Json domains = Json::array();
  if (std::ifstream in(file); in) domains = Json::parse(in, nullptr, false);
  if (!domains.is_array()) domains = Json::array();
  Json kept = Json::array();
  int next = 1;
  for (auto& d : domains) {
    if (d.value("name", std::string()) != vm.value("id", std::string())) kept.push_back(d);
    next = std::max(next, d.value("id", 0) + 1);
  }
  if (running) {
    const Json& a = vm["attributes"];
    const std::string id = vm.value("id", std::string());
    kept.push_back({{"name", id}, {"id", next}, {"memory", a.value("memory", std::string("1024"))},
                    {"vcpus", a.value("cpuCount", std::string("1"))},
                    {"config", "/OVS/Repositories/" + repo->value("id", std::string()) + "/VirtualMachines/" + id + "/vm.cfg"}});
  }
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::trunc) << kept.dump(2) << "\n";
}

std::string show(OvmWorld& w, const Json& o) {
  const std::string type = o.value("type", std::string());
  std::string d = fmt::format("  Id = {}  [{}]\n  Name = {}\n", o.value("id", std::string()), o.value("name", std::string()),
                              o.value("name", std::string()));
  if (type == "Vm") {
    const Json& a = o["attributes"];
    d += fmt::format("  Status = {}\n", o.value("status", std::string("Stopped")));
    d += fmt::format("  Memory (MB) = {}\n  Processors = {}\n", a.value("memory", std::string("1024")),
                     a.value("cpuCount", std::string("1")));
    d += fmt::format("  Domain Type = {}\n  Operating System = {}\n  Boot Order 1 = {}\n  High Availability = {}\n",
                     a.value("domainType", std::string("XEN_PVM")), a.value("osType", std::string("None")),
                     a.value("bootOrder", std::string("DISK")), a.value("highAvailability", std::string("no")));
    d += fmt::format("  Repository = {}\n  Server Pool = {}\n", label_of(w, o.value("repository", std::string())),
                     label_of(w, o.value("pool", std::string())));
    int n = 0;
    for (auto& id : ids(o, "vnics")) d += fmt::format("  Vnic {} = {}\n", ++n, label_of(w, id));
    n = 0;
    for (auto& id : ids(o, "mappings")) d += fmt::format("  VmDiskMapping {} = {}\n", ++n, label_of(w, id));
  } else if (type == "Vnic") {
    d += fmt::format("  Mac Address = {}\n", o.value("name", std::string()));
    d += fmt::format("  Network = {}\n", label_of(w, o.value("network", std::string())));
    if (!o.value("vm", std::string()).empty()) d += fmt::format("  Vm = {}\n", label_of(w, o.value("vm", std::string())));
  } else if (type == "VmDiskMapping") {
    d += fmt::format("  Slot = {}\n  Virtual Disk Id = {}\n  Vm = {}\n", o.value("slot", 0),
                     label_of(w, o.value("disk", std::string())), label_of(w, o.value("vm", std::string())));
  } else if (type == "VirtualDisk") {
    d += fmt::format("  Path = /OVS/Repositories/{}/VirtualDisks/{}\n  Repository = {}\n",
                     o.value("repository", std::string()), o.value("file", std::string()),
                     label_of(w, o.value("repository", std::string())));
  } else if (type == "Repository") {
    d += fmt::format("  File System = {}\n  Manager UUID = {}\n  Presented Server = {}\n", o.value("lun", std::string()),
                     w.manager_uuid(), o.value("server", std::string()));
  } else if (type == "Server") {
    d += fmt::format("  Server Pool = {}\n", label_of(w, o.value("pool", std::string())));
  }
  return d;
}

void import_vm(OvmWorld& w, const Json& repo, const std::string& id, const std::string& cfg);

// Reads the repository's files back, as a refresh does: a disk image the
// database does not know becomes a VirtualDisk named after its file; a
// known one whose file is gone, and that nothing maps, is dropped.
void refresh(const CliSetup& s, OvmWorld& w, Json& repo) {
  fs::path dir = repository_dir(s, repo);
  const Json repo_copy = repo;  // `repo` moves when objects are added
  std::ifstream marker(dir / ".ovsrepo");
  std::string text((std::istreambuf_iterator<char>(marker)), std::istreambuf_iterator<char>());
  if (text.find("OVS_REPO_UUID=" + repo.value("id", std::string())) == std::string::npos)
    throw Refusal{fmt::format("OVMRU_007006E Repository {} is not mounted on server {} (no .ovsrepo)",
                              repo.value("name", std::string()), repo.value("server", std::string()))};
  if (text.find("OVS_REPO_MGR_UUID=" + w.manager_uuid()) == std::string::npos)
    throw Refusal{fmt::format("OVMRU_007011E Repository {} is owned by another manager",
                              repo.value("name", std::string()))};
  std::set<std::string> files;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir / "VirtualDisks", ec))
    if (e.path().extension() == ".img") files.insert(e.path().filename().string());
  const std::string repo_id = repo.value("id", std::string());
  std::set<std::string> known;
  std::vector<std::string> gone;
  for (Json* d : w.all("VirtualDisk")) {
    if (d->value("repository", std::string()) != repo_id) continue;
    known.insert(d->value("file", std::string()));
    bool mapped = false;
    for (Json* m : w.all("VmDiskMapping"))
      if (m->value("disk", std::string()) == d->value("id", std::string())) mapped = true;
    if (!files.count(d->value("file", std::string())) && !mapped) gone.push_back(d->value("id", std::string()));
  }
  for (auto& id : gone) w.remove(id);
  for (auto& f : files)
    if (!known.count(f)) {
      Json& d = w.add("VirtualDisk", f);
      d["file"] = f;
      d["repository"] = repo_id;
    }
  // The repository's VMs the database does not know (a reinstalled manager).
  for (auto& e : fs::directory_iterator(dir / "VirtualMachines", ec)) {
    const std::string id = e.path().filename().string();
    std::ifstream cfg(e.path() / "vm.cfg");
    if (!cfg || w.find("Vm", "id", id)) continue;
    import_vm(w, repo_copy, id, std::string((std::istreambuf_iterator<char>(cfg)), std::istreambuf_iterator<char>()));
  }
}

// A VM a repository holds (its vm.cfg) that the database does not know,
// back in the database as a refresh finds it: its attributes, vNICs (MAC
// and bridge, the network's id) and disks in their slots (xvda is 0).
void import_vm(OvmWorld& w, const Json& repo, const std::string& id, const std::string& cfg) {
  std::map<std::string, std::string> kv;
  std::istringstream in(cfg);
  for (std::string l; std::getline(in, l);)
    if (size_t eq = l.find(" = "); eq != std::string::npos) kv[l.substr(0, eq)] = l.substr(eq + 3);
  auto unquote = [](std::string v) {
    if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') v = v.substr(1, v.size() - 2);
    return v;
  };
  auto items = [](const std::string& list) {
    std::vector<std::string> out;
    for (size_t at = 0; (at = list.find('\'', at)) != std::string::npos;) {
      size_t end = list.find('\'', at + 1);
      if (end == std::string::npos) break;
      out.push_back(list.substr(at + 1, end - at - 1));
      at = end + 1;
    }
    return out;
  };
  Json& vm = w.add("Vm", unquote(kv["OVM_simple_name"]));
  vm["id"] = id;
  vm["status"] = "Stopped";
  vm["repository"] = repo.value("id", std::string());
  Json* server = w.find("Server", "name", repo.value("server", std::string()));
  vm["pool"] = server ? server->value("pool", std::string()) : "";
  vm["vnics"] = Json::array();
  vm["mappings"] = Json::array();
  vm["attributes"] = {{"memory", kv["memory"]}, {"cpuCount", kv["vcpus"]}, {"domainType", unquote(kv["OVM_domain_type"])},
                      {"osType", unquote(kv["OVM_os_type"])},
                      {"highAvailability", kv["OVM_high_availability"] == "True" ? "yes" : "no"}};
  const std::string vm_id = id;
  for (const std::string& vif : items(kv["vif"])) {
    std::string mac, bridge;
    std::istringstream parts(vif);
    for (std::string p; std::getline(parts, p, ',');) {
      if (p.rfind("mac=", 0) == 0) mac = p.substr(4);
      if (p.rfind("bridge=", 0) == 0) bridge = p.substr(7);
    }
    if (mac.empty() || w.find("Vnic", "name", mac)) continue;
    Json& n = w.add("Vnic", mac);
    n["network"] = bridge;
    n["vm"] = vm_id;
    const std::string nid = n["id"];
    (*w.by_id(vm_id))["vnics"].push_back(nid);
  }
  for (const std::string& d : items(kv["disk"])) {
    // file:/OVS/Repositories/R/VirtualDisks/F,xvdX,w
    const size_t comma = d.find(',');
    const std::string path = d.substr(0, comma), file = path.substr(path.rfind('/') + 1);
    const std::string dev = comma == std::string::npos ? "" : d.substr(comma + 1, d.find(',', comma + 1) - comma - 1);
    Json* disk = nullptr;
    for (Json* x : w.all("VirtualDisk"))
      if (x->value("file", std::string()) == file && x->value("repository", std::string()) == repo.value("id", std::string()))
        disk = x;
    if (!disk || dev.size() != 4) continue;
    const std::string disk_id = (*disk)["id"];
    Json& m = w.add("VmDiskMapping", file);
    m["slot"] = dev[3] - 'a';
    m["disk"] = disk_id;
    m["vm"] = vm_id;
    const std::string mid = m["id"];
    (*w.by_id(vm_id))["mappings"].push_back(mid);
  }
}

// discoverServer ipAddress=... password=...: the server's agent checks the
// password; a server that belongs to another manager (its recorded manager
// UUID) is refused unless taken over. Once in, what the server knows comes
// with it: its pool, the networks and the repositories it presents.
std::string discover(const CliSetup& s, OvmWorld& w, const CliCommand& c) {
  const std::string address = c.attribute("ipAddress");
  if (address.empty()) throw Refusal{"OVMAPI_4003E discoverServer needs ipAddress="};
  std::ifstream in(s.hosts_dir / address / "root/etc/ovs-agent/db/lab-server.json");
  if (!in) throw Refusal{fmt::format("OVMRU_002018E Unable to connect to the server at {}: no Oracle VM agent answers", address)};
  const Json agent = Json::parse(in, nullptr, false);
  if (c.attribute("password").empty() || c.attribute("password") != agent.value("agent_password", std::string()))
    throw Refusal{fmt::format("OVMRU_002005E The Oracle VM agent on {} refused the password", address)};
  const std::string owner = agent.value("manager_uuid", std::string());
  std::string take = c.attribute("takeOwnership");
  std::transform(take.begin(), take.end(), take.begin(), ::tolower);
  if (!owner.empty() && owner != w.manager_uuid() && take != "yes")
    throw Refusal{fmt::format("OVMRU_002022E Server {} is owned by another Oracle VM Manager (UUID {}); this one is {}",
                              address, owner, w.manager_uuid())};
  std::string pool_id;
  if (!agent.value("pool", std::string()).empty()) {
    Json* pool = w.find("ServerPool", "name", agent["pool"].get<std::string>());
    pool_id = pool ? (*pool)["id"].get<std::string>() : w.add("ServerPool", agent["pool"].get<std::string>())["id"].get<std::string>();
  }
  if (agent.contains("networks"))
    for (auto& n : agent["networks"])
      if (!w.find("Network", "id", n.value("id", std::string()))) w.add("Network", n.value("name", std::string()))["id"] = n["id"];
  Json* server = w.find("Server", "name", address);
  if (!server) server = &w.add("Server", address);
  (*server)["pool"] = pool_id;
  const std::string server_id = (*server)["id"];
  if (agent.contains("repositories"))
    for (auto& r : agent["repositories"])
      if (!w.find("Repository", "id", r.value("id", std::string()))) {
        Json& repo = w.add("Repository", r.value("name", std::string()));
        repo["id"] = r["id"];
        repo["server"] = address;
        repo["lun"] = r.value("lun", std::string());
      }
  return fmt::format("  id:{}  name:{}\n", server_id, address);
}

std::string apply(const CliSetup& s, OvmWorld& w, const CliCommand& c, bool* wrote) {
  const std::string type = canonical_type(c.object);
  if (!c.object.empty() && type.empty())
    throw Refusal{fmt::format("OVMAPI_4000E Unknown object type: {}", c.object)};
  if (c.verb == "list") {
    if (type.empty()) throw Refusal{"OVMAPI_4003E list needs an object type"};
    std::string d;
    for (Json* o : w.all(type)) d += fmt::format("  id:{}  name:{}\n", o->value("id", std::string()), o->value("name", std::string()));
    return d;
  }
  if (c.verb == "show") return show(w, named(w, c, type));
  *wrote = true;
  if (c.verb == "create" && type == "Vm") {
    const std::string name = c.attribute("name");
    if (name.empty()) throw Refusal{"OVMAPI_4003E create Vm needs name="};
    if (w.find("Vm", "name", name)) throw Refusal{fmt::format("OVMAPI_4024E Object with name {} already exists: Vm", name)};
    if (c.relation != "on") throw Refusal{"OVMAPI_4003E create Vm needs: on ServerPool name=..."};
    // Ids, not references: adding an object may move the others.
    const std::string pool = need(w, "ServerPool", c.related.key, c.related.value)["id"];
    const std::string repo = referenced(w, "Repository", c.attribute("repository"))["id"];
    Json& vm = w.add("Vm", name);
    vm["status"] = "Stopped";
    vm["pool"] = pool;
    vm["repository"] = repo;
    vm["vnics"] = Json::array();
    vm["mappings"] = Json::array();
    vm["attributes"] = Json::object();
    for (auto& [k, v] : c.attributes)
      if (k != "name" && k != "repository") vm["attributes"][k] = v;
    write_vm_cfg(s, w, vm);
    return fmt::format("  id:{}  name:{}\n", vm["id"].get<std::string>(), name);
  }
  if (c.verb == "create" && type == "Vnic") {
    const std::string mac = c.attribute("macAddress").empty() ? c.attribute("name") : c.attribute("macAddress");
    if (mac.empty()) throw Refusal{"OVMAPI_4003E create Vnic needs name= (the MAC address)"};
    if (w.find("Vnic", "name", mac)) throw Refusal{fmt::format("OVMAPI_4024E Object with name {} already exists: Vnic", mac)};
    const std::string net = referenced(w, "Network", c.attribute("network"))["id"];
    Json& n = w.add("Vnic", mac);
    n["network"] = net;
    n["vm"] = "";
    return fmt::format("  id:{}  name:{}\n", n["id"].get<std::string>(), mac);
  }
  if (c.verb == "add" && type == "Vnic") {
    if (c.relation != "to") throw Refusal{"OVMAPI_4003E add Vnic needs: to Vm name=..."};
    Json& n = named(w, c, "Vnic");
    Json& vm = need(w, "Vm", c.related.key, c.related.value);
    if (!n.value("vm", std::string()).empty())
      throw Refusal{fmt::format("OVMAPI_4024E Vnic {} is already in use by Vm {}", n["name"].get<std::string>(),
                                label_of(w, n["vm"].get<std::string>()))};
    n["vm"] = vm["id"];
    vm["vnics"].push_back(n["id"]);
    write_vm_cfg(s, w, vm);
    return {};
  }
  if (c.verb == "create" && type == "VmDiskMapping") {
    if (c.relation != "on") throw Refusal{"OVMAPI_4003E create VmDiskMapping needs: on Vm name=..."};
    Json& vm = need(w, "Vm", c.related.key, c.related.value);
    Json& disk = referenced(w, "VirtualDisk", c.attribute("storageDevice"));
    int slot = 0;
    try {
      slot = std::stoi(c.attribute("slot"));
    } catch (const std::exception&) {
      throw Refusal{"OVMAPI_4003E slot= must be a number"};
    }
    for (auto& id : ids(vm, "mappings"))
      if (Json* m = w.by_id(id); m && m->value("slot", -1) == slot)
        throw Refusal{fmt::format("OVMRU_000021E Slot {} is already in use on Vm: {}", slot, vm["name"].get<std::string>())};
    for (Json* m : w.all("VmDiskMapping"))
      if (m->value("disk", std::string()) == disk["id"].get<std::string>())
        throw Refusal{fmt::format("OVMRU_000022E Virtual disk {} is already in use by Vm {}",
                                  disk["name"].get<std::string>(), label_of(w, m->value("vm", std::string())))};
    const std::string vm_id = vm["id"], disk_id = disk["id"];
    const std::string name = c.attribute("name").empty() ? disk["name"].get<std::string>() : c.attribute("name");
    Json& m = w.add("VmDiskMapping", name);
    m["slot"] = slot;
    m["disk"] = disk_id;
    m["vm"] = vm_id;
    const std::string id = m["id"];
    Json& owner = *w.by_id(vm_id);
    owner["mappings"].push_back(id);
    write_vm_cfg(s, w, owner);
    return fmt::format("  id:{}  name:{}\n", id, name);
  }
  if (c.verb == "delete" && type == "VmDiskMapping") {
    Json& m = named(w, c, "VmDiskMapping");
    Json* vm = w.by_id(m.value("vm", std::string()));
    if (vm && vm->value("status", std::string()) != "Stopped")
      throw Refusal{fmt::format("OVMRU_002035E Cannot delete the disk mapping of running Vm: {}; the disk is in use",
                                vm->value("name", std::string()))};
    const std::string id = m["id"];
    if (vm) {
      Json kept = Json::array();
      for (auto& x : (*vm)["mappings"])
        if (x != id) kept.push_back(x);
      (*vm)["mappings"] = kept;
      write_vm_cfg(s, w, *vm);
    }
    w.remove(id);
    return {};
  }
  if (c.verb == "delete" && type == "VirtualDisk") {
    Json& d = named(w, c, "VirtualDisk");
    for (Json* m : w.all("VmDiskMapping"))
      if (m->value("disk", std::string()) == d["id"].get<std::string>())
        throw Refusal{fmt::format("OVMRU_000023E Virtual disk {} is in use by Vm {}", d["name"].get<std::string>(),
                                  label_of(w, m->value("vm", std::string())))};
    Json* repo = w.by_id(d.value("repository", std::string()));
    if (repo) fs::remove(repository_dir(s, *repo) / "VirtualDisks" / d.value("file", std::string()));
    w.remove(d["id"].get<std::string>());
    return {};
  }
  if ((c.verb == "start" || c.verb == "stop") && type == "Vm") {
    Json& vm = named(w, c, "Vm");
    const char* target = c.verb == "start" ? "Running" : "Stopped";
    // The fault slow_vm_jobs: the job runs on after the answer, the VM
    // showing Starting or Stopping to that many shows of it.
    const int shows = w.data().value("slow_vm_jobs", 0);
    vm["status"] = shows > 0 ? (c.verb == "start" ? "Starting" : "Stopping") : target;
    if (shows > 0) vm["job"] = {{"status", target}, {"shows", shows}};
    set_domain(s, w, vm, c.verb == "start");
    return {};
  }
  if (c.verb == "discoverServer" && type.empty()) return discover(s, w, c);
  if (c.verb == "refresh" && type == "Repository") {
    refresh(s, w, named(w, c, "Repository"));
    return {};
  }
  *wrote = false;
  throw Refusal{fmt::format("OVMAPI_4000E Invalid command: {} {}", c.verb, c.object)};
}

// A show of a VM whose start or stop runs on (slow_vm_jobs): one show
// nearer its end, the VM at its new status with the last. True when the
// world changed.
bool run_vm_job(OvmWorld& w, const CliCommand& c) {
  if (canonical_type(c.object) != "Vm") return false;
  const std::string key = c.attribute("id").empty() ? "name" : "id";
  Json* vm = w.find("Vm", key, c.attribute(key));
  if (!vm || !vm->contains("job")) return false;
  Json& job = (*vm)["job"];
  job["shows"] = job.value("shows", 1) - 1;
  if (job["shows"].get<int>() <= 0) {
    (*vm)["status"] = job["status"];
    vm->erase("job");
  }
  return true;
}

}  // namespace

CliReply answer_cli(const CliSetup& setup, const std::string& line, const std::string& now) {
  CliReply r;
  CliCommand c;
  // The CLI echoes a password as *****, never as given.
  std::string head = fmt::format("Command: {}\n", she::ovm::shown_cli_line(line));
  auto failure = [&](const std::string& job, const std::string& message) {
    r.text = head + "Status: Failure\nTime: " + now + "\n" + (job.empty() ? "" : "JobId: " + job + "\n") +
             "Error Msg: " + message + "\n";
    return r;
  };
  try {
    c = she::ovm::parse_cli_line(line);
  } catch (const std::exception& e) {
    return failure("", std::string("OVMAPI_4000E Invalid command syntax: ") + e.what());
  }
  std::optional<OvmWorld> world = OvmWorld::load(setup.database_path());
  if (!world) return failure("", "OVMAPI_6000E Internal Error: the Oracle VM Manager database is not available");
  const bool reads = c.reads();
  const std::string job = reads ? "" : world->next_job();
  try {
    const bool job_ran = c.verb == "show" && run_vm_job(*world, c);
    std::string data = apply(setup, *world, c, &r.wrote);
    if (r.wrote || job_ran) world->save(setup.database_path());
    r.text = head + "Status: Success\nTime: " + now + "\n" + (job.empty() ? "" : "JobId: " + job + "\n") + "Data: \n" + data;
    return r;
  } catch (const Refusal& refusal) {
    r.wrote = false;
    return failure(job, "Job failed on Core: " + refusal.message);
  }
}

}  // namespace she::lab::ovm
