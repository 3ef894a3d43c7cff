// The Oracle VM server commands the OVM procedures run (lab/agent/agent.h),
// inside the server's sandbox: `multipath -ll` and the OCFS2 tools from the
// server's LUN table (/etc/lab-ovm/luns.json: WWID, dm name, size, the
// filesystem on it), `reflink`, and `tar` (gzip archives with libarchive;
// --one-file-system leaves out what other filesystems hold: the
// repositories, the pool filesystem, /boot), and Xen's `xm list` and `xm
// create vm.cfg` (the domains running on the server, kept in
// /var/run/lab-xen/domains.json). Each is found only where the server has
// it (its marker file), as on a real Oracle VM Server.
#include <algorithm>
#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <sstream>

#include "lab/agent/agent.h"

namespace she::lab::agent {

namespace {

const char* const kLuns = "/etc/lab-ovm/luns.json";

// A list the lab keeps in a JSON file on the server (LUNs, Xen domains);
// empty when the file is missing or not a list.
nlohmann::json read_list(const Agent& a, const char* path) {
  std::string text;
  if (!read_file(a.map(path), &text)) return nlohmann::json::array();
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  return j.is_array() ? j : nlohmann::json::array();
}

nlohmann::json read_luns(const Agent& a) { return read_list(a, kLuns); }

void write_luns(const Agent& a, const nlohmann::json& luns) { write_file_atomic(a.map(kLuns), luns.dump(2) + "\n"); }

nlohmann::json* lun_of(nlohmann::json& luns, const std::string& device) {
  for (auto& l : luns)
    if ("/dev/mapper/" + l.value("wwid", std::string()) == device) return &l;
  return nullptr;
}

int multipath(const Agent& a, const Args& argv) {
  if (argv.size() != 2 || argv[1] != "-ll") {
    err("she-lab-agent: multipath: the lab simulates only -ll\n");
    return 1;
  }
  for (auto& l : read_luns(a))
    out(fmt::format("{} {} 3PARdata,VV\nsize={} features='1 queue_if_no_path' hwhandler='0' wp=rw\n"
                    "`-+- policy='round-robin 0' prio=1 status=active\n  `- 1:0:0:1 sdb 8:16 active ready running\n",
                    l.value("wwid", std::string()), l.value("dm", std::string("dm-1")), l.value("size", std::string("5.0T"))));
  return 0;
}

// tunefs.ocfs2 -Q FORMAT DEVICE: the filesystem's parameters in FORMAT.
int tunefs(const Agent& a, const Args& argv) {
  if (argv.size() != 4 || argv[1] != "-Q") {
    err("she-lab-agent: tunefs.ocfs2: the lab simulates only -Q FORMAT DEVICE\n");
    return 1;
  }
  nlohmann::json luns = read_luns(a);
  nlohmann::json* lun = lun_of(luns, argv[3]);
  if (!lun) {
    err(fmt::format("tunefs.ocfs2: No such file or directory while opening device \"{}\"\n", argv[3]));
    return 1;
  }
  if (!lun->contains("ocfs2")) {
    err(fmt::format("tunefs.ocfs2: Bad magic number in superblock while opening device \"{}\"\n", argv[3]));
    return 1;
  }
  const nlohmann::json& fs = (*lun)["ocfs2"];
  std::string text;
  const std::string& f = argv[2];
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '\\' && i + 1 < f.size() && f[i + 1] == 'n') {
      text += '\n';
      ++i;
    } else if (f[i] == '%' && i + 1 < f.size()) {
      const char c = f[++i];
      auto v = [&](const char* key) { return fs.contains(key) ? (fs[key].is_string() ? fs[key].get<std::string>() : fs[key].dump()) : ""; };
      if (c == 'B') text += v("block");
      else if (c == 'T') text += v("cluster");
      else if (c == 'N') text += v("slots");
      else if (c == 'V') text += v("label");
      else if (c == 'U') text += v("uuid");
      else text += std::string("%") + c;
    } else {
      text += f[i];
    }
  }
  out(text);
  return 0;
}

// mkfs.ocfs2 [options] DEVICE: a new, empty filesystem on the LUN; the
// repository mounted from it is empty afterwards.
int mkfs(const Agent& a, const Args& argv) {
  nlohmann::json recipe = nlohmann::json::object();
  std::string device;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& w = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argv.size() ? argv[++i] : ""; };
    if (w == "-b") recipe["block"] = next();
    else if (w == "-C") recipe["cluster"] = next();
    else if (w == "-N") recipe["slots"] = next();
    else if (w == "-L") recipe["label"] = next();
    else if (w == "-U") recipe["uuid"] = next();
    else if (w == "-J" || w == "-T") recipe[w == "-J" ? "journal" : "type"] = next();
    else if (w.rfind("--", 0) == 0) continue;  // --force, --global-heartbeat, --cluster-stack=..., --cluster-name=...
    else device = w;
  }
  nlohmann::json luns = read_luns(a);
  nlohmann::json* lun = lun_of(luns, device);
  if (device.empty() || !lun) {
    err(fmt::format("mkfs.ocfs2: Could not open device {}: No such file or directory\n", device));
    return 1;
  }
  (*lun)["ocfs2"] = recipe;
  write_luns(a, luns);
  // The repository this server mounts from the device starts empty.
  std::string db;
  read_file(a.map("/etc/ovs-agent/db/repository"), &db);
  std::istringstream lines(db);
  std::string line, mount_point, prev;
  while (std::getline(lines, line)) {
    if (prev == "mount_point") mount_point = line;
    if (prev == "fs_location" && line != device) mount_point.clear();
    prev = line;
  }
  if (!mount_point.empty()) {
    std::error_code ec;
    fs::remove_all(a.map(mount_point), ec);
    fs::create_directories(a.map(mount_point), ec);
  }
  out(fmt::format("mkfs.ocfs2 1.8.6\nCluster stack: classic o2cb\nLabel: {}\nFeatures: sparse extended-slotmap backup-super "
                  "unwritten inline-data strict-journal-super xattr indexed-dirs refcount discontig-bg\n"
                  "Block size: {}\nNumber of node slots: {}\nWriting superblock: done\nmkfs.ocfs2 successful\n\n",
                  recipe.value("label", std::string()), recipe.value("block", std::string("4096")),
                  recipe.value("slots", std::string("32"))));
  return 0;
}

// reflink SRC DST: a copy-on-write copy (OCFS2); DST must not exist.
int reflink(const Agent& a, const Args& argv) {
  if (argv.size() != 3) {
    err("reflink: usage: reflink <source> <destination>\n");
    return 1;
  }
  fs::path src = a.map(argv[1]), dst = a.map(argv[2]);
  if (fs::is_directory(dst)) dst /= src.filename();
  if (!fs::exists(src)) {
    err(fmt::format("reflink: {}: No such file or directory\n", argv[1]));
    return 1;
  }
  if (fs::exists(dst)) {
    err(fmt::format("reflink: {}: File exists\n", argv[2]));
    return 1;
  }
  std::error_code ec;
  fs::copy_file(src, dst, ec);
  if (ec) {
    err(fmt::format("reflink: {}: {}\n", argv[2], ec.message()));
    return 1;
  }
  return 0;
}

// What --one-file-system leaves out of /: other filesystems' mount points.
bool other_filesystem(const std::string& host_path) {
  for (const char* m : {"/OVS", "/poolfsmnt", "/boot", "/proc", "/sys", "/dev", "/run"})
    if (host_path == m || host_path.rfind(std::string(m) + "/", 0) == 0) return true;
  return false;
}

void add_tree(const Agent& a, archive* ar, const std::string& host_path, bool one_fs, const fs::path& skip) {
  if (one_fs && host_path != "/" && other_filesystem(host_path)) return;
  const fs::path p = a.map(host_path);
  if (p == skip) return;
  std::error_code ec;
  const auto st = fs::symlink_status(p, ec);
  if (ec || fs::is_symlink(st)) return;
  const std::string name = host_path == "/" ? "./" : host_path.substr(1);
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, name.c_str());
  archive_entry_set_perm(e, static_cast<int>(st.permissions()) & 07777);
  if (fs::is_directory(st)) {
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_write_header(ar, e);
    archive_entry_free(e);
    for (auto& child : fs::directory_iterator(p, ec))
      add_tree(a, ar, (host_path == "/" ? "" : host_path) + "/" + child.path().filename().string(), one_fs, skip);
    return;
  }
  std::string data;
  read_file(p, &data);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
  archive_write_header(ar, e);
  archive_write_data(ar, data.data(), data.size());
  archive_entry_free(e);
}

// tar with the options the procedures use: -c/-x/-t, -z, -v, -f FILE,
// -C DIR, --one-file-system; bundled (-zcvf FILE) or apart.
int tar(const Agent& a, const Args& argv) {
  char mode = 0;
  bool one_fs = false, verbose = false;
  std::string file, dir = "/root";
  std::vector<std::string> paths;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& w = argv[i];
    if (w == "--one-file-system") one_fs = true;
    else if (w == "-C" && i + 1 < argv.size()) dir = argv[++i];
    else if (w.size() > 1 && w[0] == '-' && w[1] != '-') {
      for (std::size_t k = 1; k < w.size(); ++k) {
        const char c = w[k];
        if (c == 'c' || c == 'x' || c == 't') mode = c;
        else if (c == 'v') verbose = true;
        else if (c == 'z') continue;
        else if (c == 'f' && i + 1 < argv.size()) file = argv[++i];
        else {
          err(fmt::format("tar: the lab simulates -c -x -t -z -v -f -C and --one-file-system, not -{}\n", c));
          return 2;
        }
      }
    } else {
      paths.push_back(w);
    }
  }
  if (!mode || file.empty()) {
    err("tar: You must specify one of the '-Acdtrux', '--delete' or '--test-label' options and -f FILE\n");
    return 2;
  }
  auto absolute = [&](const std::string& p) { return p.empty() || p[0] != '/' ? dir + "/" + p : p; };
  if (mode == 'c') {
    archive* ar = archive_write_new();
    archive_write_add_filter_gzip(ar);
    archive_write_set_format_pax_restricted(ar);
    fs::create_directories(a.map(file).parent_path());
    if (archive_write_open_filename(ar, a.map(absolute(file)).c_str()) != ARCHIVE_OK) {
      err(fmt::format("tar: {}: Cannot open: {}\n", file, archive_error_string(ar)));
      archive_write_free(ar);
      return 2;
    }
    if (one_fs) err("tar: Removing leading `/' from member names\n");
    for (auto& p : paths) {
      if (!fs::exists(a.map(absolute(p)))) {
        err(fmt::format("tar: {}: Cannot stat: No such file or directory\n", p));
        archive_write_free(ar);
        return 2;
      }
      add_tree(a, ar, fs::path(absolute(p)).lexically_normal().string(), one_fs, a.map(absolute(file)));
      if (verbose) out(p + "\n");
    }
    archive_write_close(ar);
    archive_write_free(ar);
    return 0;
  }
  archive* ar = archive_read_new();
  // GNU tar reads its own -z (and bare) archives; so does the lab's.
  archive_read_support_format_tar(ar);
  archive_read_support_filter_gzip(ar);
  if (archive_read_open_filename(ar, a.map(absolute(file)).c_str(), 65536) != ARCHIVE_OK) {
    err(fmt::format("tar: {}: Cannot open: No such file or directory\ntar: Error is not recoverable: exiting now\n", file));
    archive_read_free(ar);
    return 2;
  }
  archive_entry* e = nullptr;
  int rc = 0;
  while (archive_read_next_header(ar, &e) == ARCHIVE_OK) {
    const std::string name = archive_entry_pathname(e);
    if (mode == 't' || verbose) out(name + "\n");
    if (mode == 't') continue;
    const fs::path target = a.map(dir + "/" + name);
    if (archive_entry_filetype(e) == AE_IFDIR) {
      fs::create_directories(target);
      continue;
    }
    std::string data;
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(ar, buf, sizeof buf)) > 0) data.append(buf, static_cast<std::size_t>(n));
    fs::create_directories(target.parent_path());
    if (!write_file_atomic(target, data, archive_entry_perm(e))) rc = 2;
  }
  archive_read_free(ar);
  return rc;
}

const char* const kDomains = "/var/run/lab-xen/domains.json";

nlohmann::json read_domains(const Agent& a) { return read_list(a, kDomains); }

std::string domain_line(const std::string& name, int id, const std::string& mem, const std::string& vcpus,
                        const char* state) {
  return fmt::format("{:<40} {:>4} {:>5} {:>5}     {}  {:>8}\n", name, id, mem, vcpus, state, "12.3");
}

// xm list [NAME]: Domain-0 and the running domains, as Xen prints them.
int xm_list(const Agent& a, const Args& argv) {
  const nlohmann::json domains = read_domains(a);
  std::string text = "Name                                       ID   Mem VCPUs      State   Time(s)\n";
  if (argv.size() == 2) text += domain_line("Domain-0", 0, "1024", "8", "r-----");
  bool found = argv.size() == 2;
  for (auto& d : domains)
    if (argv.size() == 2 || d.value("name", std::string()) == argv[2]) {
      found = true;
      text += domain_line(d.value("name", std::string()), d.value("id", 0), d.value("memory", std::string("1024")),
                          d.value("vcpus", std::string("1")), "-b----");
    }
  if (!found) {
    err(fmt::format("Error: Domain '{}' does not exist.\n", argv[2]));
    return 1;
  }
  out(text);
  return 0;
}

// xm create PATH: a domain from a vm.cfg (its name, memory and vcpus);
// refused when a domain of that name runs, or its disks are missing.
int xm_create(const Agent& a, const Args& argv) {
  std::string cfg;
  if (argv.size() != 3 || !read_file(a.map(argv[2]), &cfg)) {
    err(fmt::format("Error: Unable to open config file: {}\n", argv.size() > 2 ? argv[2] : std::string()));
    return 1;
  }
  std::map<std::string, std::string> kv;
  std::istringstream in(cfg);
  for (std::string l; std::getline(in, l);)
    if (size_t eq = l.find(" = "); eq != std::string::npos) {
      std::string v = l.substr(eq + 3);
      if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') v = v.substr(1, v.size() - 2);
      kv[l.substr(0, eq)] = v;
    }
  const std::string name = kv["name"];
  if (name.empty()) {
    err(fmt::format("Error: {} names no domain (name = ...)\n", argv[2]));
    return 1;
  }
  nlohmann::json domains = read_domains(a);
  int next = 1;
  for (auto& d : domains) {
    if (d.value("name", std::string()) == name) {
      err(fmt::format("Error: Domain '{}' already exists with ID '{}'\n", name, d.value("id", 0)));
      return 1;
    }
    next = std::max(next, d.value("id", 0) + 1);
  }
  // Each disk file:PATH,DEV,MODE must be there.
  for (size_t at = 0; (at = kv["disk"].find("file:", at)) != std::string::npos;) {
    const size_t end = kv["disk"].find(',', at);
    const std::string path = kv["disk"].substr(at + 5, end - at - 5);
    if (!fs::exists(a.map(path))) {
      err(fmt::format("Error: Disk isn't accessible: {}\n", path));
      return 1;
    }
    at = end == std::string::npos ? kv["disk"].size() : end;
  }
  domains.push_back({{"name", name}, {"id", next}, {"memory", kv["memory"]}, {"vcpus", kv["vcpus"]}, {"config", argv[2]}});
  fs::create_directories(a.map(kDomains).parent_path());
  write_file_atomic(a.map(kDomains), domains.dump(2) + "\n");
  out(fmt::format("Using config file \"{}\".\nStarted domain {} (id={})\n", argv[2], name, next));
  return 0;
}

int xm(const Agent& a, const Args& argv) {
  if (argv.size() >= 2 && argv[1] == "list" && argv.size() <= 3) return xm_list(a, argv);
  if (argv.size() >= 2 && argv[1] == "create") return xm_create(a, argv);
  err("she-lab-agent: xm: the lab simulates only `xm list [NAME]` and `xm create CONFIG`\n");
  return 1;
}

}  // namespace

bool installed_tool(const Agent& a, const Args& argv, const std::vector<std::pair<std::string, std::string>>& tools,
                    bool* handled, int* code) {
  const std::string name = fs::path(argv[0]).filename().string();
  *handled = false;
  *code = 127;
  for (const auto& [tool, marker] : tools)
    if (name == tool) {
      *handled = true;
      if (!fs::exists(a.map(marker))) {
        err("bash: line 1: " + argv[0] + ": command not found\n");
        return false;
      }
    }
  return *handled;
}

int ovm_server_command(Agent& a, const Args& argv, bool* handled) {
  static const std::vector<std::pair<std::string, std::string>> tools = {
      {"multipath", "/sbin/multipath"}, {"tunefs.ocfs2", "/sbin/tunefs.ocfs2"}, {"mkfs.ocfs2", "/sbin/mkfs.ocfs2"},
      {"reflink", "/usr/bin/reflink"},  {"tar", "/bin/tar"},                 {"xm", "/usr/sbin/xm"}};
  const std::string name = fs::path(argv[0]).filename().string();
  if (int code = 0; !installed_tool(a, argv, tools, handled, &code)) return code;
  if (name == "multipath") return multipath(a, argv);
  if (name == "tunefs.ocfs2") return tunefs(a, argv);
  if (name == "mkfs.ocfs2") return mkfs(a, argv);
  if (name == "reflink") return reflink(a, argv);
  if (name == "xm") return xm(a, argv);
  return tar(a, argv);
}

}  // namespace she::lab::agent
