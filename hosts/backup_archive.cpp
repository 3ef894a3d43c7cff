#include "hosts/backup_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/digest.h"
#include <cstdio>
#include <sstream>

namespace she {

namespace {

std::string hex_of(const EVP_MD* md, const std::string& data) {
  Digest d(md);
  d.update(data.data(), data.size());
  return d.hex();
}

/// libarchive returns no message for some failures; never format a null pointer.
std::string error_of(archive* a) {
  const char* e = archive_error_string(a);
  return e ? e : "unknown libarchive error";
}

std::string normalized(std::string p) {
  while (p.rfind("./", 0) == 0) p = p.substr(2);
  return p;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

/// Metadata entries are a few lines each; anything larger is not an
/// engine-backup archive, and the cap keeps a hostile one from filling memory.
constexpr size_t kMetadataCap = 64 * 1024;

/// The value of `KEY=value` (optionally double-quoted) in shell-style config text.
std::string config_value(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + "=", 0) != 0) continue;
    std::string v = trim(line.substr(key.size() + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  return "";
}

/// A `sha256sum`/`md5sum` line: lowercase hex, a space, a space or '*', the name.
bool checksum_line(const std::string& line, std::string* hash, std::string* name) {
  size_t sp = line.find(' ');
  if (sp == 0 || sp == std::string::npos || sp + 2 >= line.size()) return false;
  if (line.find_first_not_of("0123456789abcdef") != sp) return false;
  if (line[sp + 1] != ' ' && line[sp + 1] != '*') return false;
  *hash = line.substr(0, sp);
  *name = trim(line.substr(sp + 2));
  return !name->empty();
}

/// engine-backup keeps the FQDN in etc/ovirt-engine/engine.conf.d/*.conf.
bool is_engine_conf(const std::string& path) {
  const std::string dir = "etc/ovirt-engine/engine.conf.d/";
  return path.rfind(dir, 0) == 0 && path.size() > dir.size() + 5 && path.find('/', dir.size()) == std::string::npos &&
         path.compare(path.size() - 5, 5, ".conf") == 0;
}

std::vector<long long> numbers(const std::string& v) {
  std::vector<long long> out;
  std::string core = v.substr(0, v.find_first_of("-_"));
  std::stringstream in(core);
  for (std::string part; std::getline(in, part, '.');) out.push_back(part.empty() ? 0 : std::atoll(part.c_str()));
  return out;
}

/// What flows through the outer entry ./files also feeds its checksums.
struct Budget;
bool take(Budget* budget, long long n, long long& entry_bytes);

struct InnerSource {
  archive* outer;
  Digest* sha;
  Digest* md5;
  char buf[65536];
  Budget* budget;
  long long* entry_bytes;  // of ./files, as the outer archive gives it
};

la_ssize_t read_inner(archive*, void* data, const void** out) {
  auto* src = static_cast<InnerSource*>(data);
  la_ssize_t n = archive_read_data(src->outer, src->buf, sizeof src->buf);
  if (n > 0 && !take(src->budget, n, *src->entry_bytes)) n = 0;  // the outer loop reports it
  if (n > 0) {
    src->sha->update(src->buf, static_cast<size_t>(n));
    src->md5->update(src->buf, static_cast<size_t>(n));
  }
  *out = src->buf;
  return n < 0 ? 0 : n;
}

struct Entry {
  std::string sha256, md5;
  std::string text;  // small entries only
};

/// "" when an entry's path is one engine-backup writes (relative, staying
/// below the archive), else what is wrong with it.
std::string entry_path_problem(const char* raw, size_t max_path) {
  if (!raw || !*raw) return "no readable path";
  std::string p = raw;
  if (p.size() > max_path) return fmt::format("a path longer than {} characters", max_path);
  if (p[0] == '/') return "an absolute path";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    if (p.compare(start, end - start, "..") == 0 && end - start == 2) return "'..' in its path";
    start = end + 1;
  }
  return {};
}

/// An entry's path as messages show it: bounded, without control characters.
std::string shown(const char* raw) {
  std::string out;
  for (const char* c = raw ? raw : ""; *c && out.size() < 80; ++c)
    out += static_cast<unsigned char>(*c) < 0x20 ? '?' : *c;
  return out;
}

/// Counts what an archive makes us read, against its limits. The first
/// bound crossed is the problem; reading stops there.
struct Budget {
  const ArchiveLimits& limits;
  const long long& compressed;  // bytes of the archive read so far
  long long total = 0;
  std::string exceeded;

  bool take(long long n, long long& entry_bytes, const std::string& entry) {
    entry_bytes += n;
    total += n;
    if (!exceeded.empty()) return false;
    if (entry_bytes > limits.max_entry_bytes)
      exceeded = fmt::format("./{} expands beyond {} bytes: refused as a hostile archive", entry, limits.max_entry_bytes);
    else if (total > limits.max_total_bytes)
      exceeded = fmt::format("the archive expands beyond {} bytes: refused as a hostile archive", limits.max_total_bytes);
    else if (total > limits.expansion_floor && total / std::max(compressed, 1LL) > limits.max_expansion)
      exceeded = fmt::format("the archive expands more than {} times its size (at ./{}): a compression bomb, refused",
                             limits.max_expansion, entry);
    return exceeded.empty();
  }
};

bool take(Budget* budget, long long n, long long& entry_bytes) { return budget->take(n, entry_bytes, "files"); }

}  // namespace

void read_engine_backup_layers(archive* a) {
  archive_read_support_format_tar(a);
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_bzip2(a);
  archive_read_support_filter_xz(a);
}

const std::map<std::string, std::string>& backup_scope_dumps() {
  static const std::map<std::string, std::string> dumps = {
      {"db", "db/engine_backup.db"},           {"dwhdb", "db/dwh_backup.db"},
      {"reportsdb", "db/reports_backup.db"},  // 3.4.1 to 3.6
      {"cinderlibdb", "db/cinderlib_backup.db"}, {"keycloakdb", "db/keycloak_backup.db"},
      {"managedblockdb", "db/managedblock_backup.db"}, {"grafanadb", "db/grafana.db"}};
  return dumps;
}

std::string version_pair_problem(const std::string& backup, const std::string& installed) {
  auto b = numbers(backup), i = numbers(installed);
  std::string refused =
      fmt::format("Backup was created by version '{}' and can not be restored using the installed version {}", backup,
                  installed);
  if (b.size() < 2 || i.size() < 2) return refused;
  if (b[0] == 4 && b[1] == 3 && (b.size() < 3 || b[2] < 10)) return refused;
  bool same_minor = b[0] == i[0] && b[1] == i[1];
  if (same_minor && b <= i) return {};
  bool allowed_pair = i[0] == 4 && i[1] == 5 && b[0] == 4 && (b[1] == 3 || b[1] == 4);
  return allowed_pair ? std::string() : refused;
}

std::string backup_file_problem(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fmt::format("cannot read {}: {}", path, std::strerror(errno));
  struct stat st {};
  int rc = ::fstat(fd, &st);
  ::close(fd);
  if (rc != 0) return fmt::format("cannot read {}: {}", path, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return fmt::format("{} is a directory, not an archive file", path);
  if (!S_ISREG(st.st_mode))
    return fmt::format("{} is not a regular file (a FIFO, device or socket): an archive is read from a file", path);
  return {};
}

namespace {

bool verify_open(FILE* f, const std::string& target_version, BackupSummary* summary,
                 std::vector<std::string>* problems, const ArchiveLimits& limits);

}  // namespace

bool verify_backup_archive(const std::string& path, const std::string& target_version, BackupSummary* summary,
                           std::vector<std::string>* problems, const ArchiveLimits& limits) {
  // The file is checked as opened (fstat), so it cannot be swapped for a
  // FIFO or a device between the check and the read.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    if (fd >= 0) ::close(fd);
    std::string problem = backup_file_problem(path);
    problems->push_back(problem.empty() ? fmt::format("cannot read {}", path) : problem);
    return false;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  FILE* f = ::fdopen(fd, "rb");
  if (!f) {
    ::close(fd);
    problems->push_back(fmt::format("cannot read {}", path));
    return false;
  }
  std::unique_ptr<FILE, decltype(&std::fclose)> guard(f, std::fclose);
  return verify_open(f, target_version, summary, problems, limits);
}

bool verify_backup_stream(int fd, const std::string& target_version, BackupSummary* summary,
                          std::vector<std::string>* problems, const ArchiveLimits& limits) {
  FILE* f = ::fdopen(fd, "rb");
  if (!f) {
    ::close(fd);
    problems->push_back(fmt::format("cannot read the archive's stream: {}", std::strerror(errno)));
    return false;
  }
  std::unique_ptr<FILE, decltype(&std::fclose)> guard(f, std::fclose);
  return verify_open(f, target_version, summary, problems, limits);
}

namespace {

bool verify_open(FILE* f, const std::string& target_version, BackupSummary* summary,
                 std::vector<std::string>* problems, const ArchiveLimits& limits) {
  BackupSummary s;
  // One pass over the bytes: libarchive reads through a callback that also
  // hashes the whole file, so a stream (a pipe fed over SSH) works too.
  struct Source {
    FILE* f = nullptr;
    Digest whole{EVP_sha256()};
    long long bytes = 0;
    char buf[65536];
  } src;
  src.f = f;
  Budget budget{limits, src.bytes, 0, {}};
  auto read_cb = [](archive*, void* data, const void** out) -> la_ssize_t {
    auto* s = static_cast<Source*>(data);
    size_t n = std::fread(s->buf, 1, sizeof s->buf, s->f);
    s->whole.update(s->buf, n);
    s->bytes += static_cast<long long>(n);
    *out = s->buf;
    return static_cast<la_ssize_t>(n);
  };
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  read_engine_backup_layers(a.get());
  if (archive_read_open(a.get(), &src, nullptr, read_cb, nullptr) != ARCHIVE_OK) {
    problems->push_back(fmt::format("not a readable archive: {}", error_of(a.get())));
    return false;
  }
  std::map<std::string, Entry> entries;
  archive_entry* e;
  int rc;
  size_t count = 0;
  auto refuse = [&](const std::string& problem) {
    problems->push_back(problem);
    *summary = s;
    return false;
  };
  while ((rc = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK) {
    if (++count > limits.max_entries)
      return refuse(fmt::format("the archive has more than {} entries: refused as a hostile archive", limits.max_entries));
    if (std::string bad = entry_path_problem(archive_entry_pathname(e), limits.max_path); !bad.empty())
      return refuse(fmt::format("entry '{}' has {}: refused (engine-backup writes relative paths below the archive)",
                                shown(archive_entry_pathname(e)), bad));
    std::string name = normalized(archive_entry_pathname(e));
    if (archive_entry_filetype(e) != AE_IFREG) {
      char buf[8192];
      long long skipped = 0;
      for (la_ssize_t n; (n = archive_read_data(a.get(), buf, sizeof buf)) > 0;)
        if (!budget.take(n, skipped, name)) return refuse(budget.exceeded);
      continue;
    }
    Digest sha(EVP_sha256()), md5(EVP_md5());
    Entry entry;
    long long entry_bytes = 0;
    if (name == "files") {
      // Scan the inner tar as it streams past, for the engine's FQDN.
      InnerSource src{a.get(), &sha, &md5, {}, &budget, &entry_bytes};
      std::unique_ptr<archive, decltype(&archive_read_free)> inner(archive_read_new(), archive_read_free);
      read_engine_backup_layers(inner.get());
      if (archive_read_open(inner.get(), &src, nullptr, read_inner, nullptr) == ARCHIVE_OK) {
        archive_entry* ie;
        size_t inner_count = 0;
        while (budget.exceeded.empty() && archive_read_next_header(inner.get(), &ie) == ARCHIVE_OK) {
          if (++inner_count > limits.max_inner_entries)
            return refuse(fmt::format("./files has more than {} entries: refused as a hostile archive",
                                      limits.max_inner_entries));
          if (std::string bad = entry_path_problem(archive_entry_pathname(ie), limits.max_path); !bad.empty())
            return refuse(fmt::format("./files entry '{}' has {}: refused (it would be restored outside its place)",
                                      shown(archive_entry_pathname(ie)), bad));
          std::string ipath = normalized(archive_entry_pathname(ie));
          bool conf = is_engine_conf(ipath);
          std::string text;
          char buf[8192];
          long long inner_bytes = 0;
          // Every entry is read through the budget: skipping one still
          // decompresses it, and a bomb would hide there.
          for (la_ssize_t n; (n = archive_read_data(inner.get(), buf, sizeof buf)) > 0;) {
            if (!budget.take(n, inner_bytes, "files/" + ipath)) break;
            if (conf && text.size() < kMetadataCap) text.append(buf, static_cast<size_t>(n));
          }
          std::string fqdn = conf ? config_value(text, "ENGINE_FQDN") : "";
          if (!fqdn.empty()) s.engine_fqdn = fqdn;
        }
      } else {
        problems->push_back("./files is not a readable tar archive");
      }
      // Whatever the inner reader left unread still counts for the checksum.
      const void* ignored;
      while (budget.exceeded.empty() && read_inner(nullptr, &src, &ignored) > 0) {
      }
    } else {
      char buf[65536];
      bool keep = name == "version" || name == "os_version" || name == "config" || name == "sha256sum" || name == "md5sum";
      for (la_ssize_t n; (n = archive_read_data(a.get(), buf, sizeof buf)) > 0;) {
        if (!budget.take(n, entry_bytes, name)) break;
        sha.update(buf, static_cast<size_t>(n));
        md5.update(buf, static_cast<size_t>(n));
        if (keep && entry.text.size() < kMetadataCap) entry.text.append(buf, static_cast<size_t>(n));
      }
    }
    if (!budget.exceeded.empty()) return refuse(budget.exceeded);
    entry.sha256 = sha.hex();
    entry.md5 = md5.hex();
    entries[name] = std::move(entry);
  }
  if (rc != ARCHIVE_EOF)
    problems->push_back(fmt::format("the archive is damaged or truncated: {}", error_of(a.get())));

  auto need = [&](const char* name) {
    if (!entries.count(name)) problems->push_back(fmt::format("./{} is missing", name));
    return entries.count(name) > 0;
  };
  if (need("version")) s.version = trim(entries["version"].text);
  if (need("os_version")) s.os_version = trim(entries["os_version"].text);
  if (need("config")) s.dump_format = config_value(entries["config"].text, "DB_DUMP_FORMAT");
  if (entries.count("files")) s.scopes.push_back("files");
  for (auto& [scope, dump] : backup_scope_dumps())
    if (entries.count(dump)) s.scopes.push_back(scope);
  if (s.scopes.empty()) problems->push_back("the archive holds neither ./files nor any database dump");

  // Every entry against the checksum list, and every listed entry present.
  s.checksum_kind = entries.count("sha256sum") ? "sha256sum" : entries.count("md5sum") ? "md5sum" : "";
  if (s.checksum_kind.empty()) {
    problems->push_back("neither ./sha256sum nor ./md5sum is present: the entries cannot be checked");
  } else {
    std::map<std::string, std::string> listed;
    std::istringstream in(entries[s.checksum_kind].text);
    for (std::string line; std::getline(in, line);) {
      std::string hash, name;
      if (checksum_line(line, &hash, &name)) listed[normalized(name)] = hash;
    }
    for (auto& [name, hash] : listed) {
      auto it = entries.find(name);
      if (it == entries.end()) problems->push_back(fmt::format("./{} is listed in ./{} but missing", name, s.checksum_kind));
      else if ((s.checksum_kind == "sha256sum" ? it->second.sha256 : it->second.md5) != hash)
        problems->push_back(fmt::format("./{} does not match its checksum in ./{}", name, s.checksum_kind));
    }
    for (auto& [name, entry] : entries)
      if (name != "sha256sum" && name != "md5sum" && !listed.count(name))
        problems->push_back(fmt::format("./{} is not listed in ./{}", name, s.checksum_kind));
  }
  if (!target_version.empty() && !s.version.empty()) {
    std::string v = version_pair_problem(s.version, target_version);
    if (!v.empty()) problems->push_back(v);
  }
  // The archive's own checksum and size, for manifests and transfers: the
  // rest of the stream is read so that it covers every byte.
  const void* unused;
  while (read_cb(nullptr, &src, &unused) > 0) {
  }
  s.sha256 = src.whole.hex();
  s.bytes = src.bytes;
  *summary = s;
  return problems->empty();
}

}  // namespace

namespace {

la_ssize_t append_to_string(archive*, void* data, const void* buf, size_t n) {
  static_cast<std::string*>(data)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

bool add_entry(archive* w, const std::string& name, const std::string& data) {
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(), archive_entry_free);
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), 0600);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
  if (archive_write_header(w, e.get()) != ARCHIVE_OK) return false;
  return data.empty() || archive_write_data(w, data.data(), data.size()) == static_cast<la_ssize_t>(data.size());
}

}  // namespace

bool write_backup_archive(const std::string& path, const BackupContent& c, std::string* err) {
  // ./files: an inner tar of the engine's files, xz-compressed as engine-backup does.
  std::string files;
  {
    std::unique_ptr<archive, decltype(&archive_write_free)> w(archive_write_new(), archive_write_free);
    archive_write_add_filter_xz(w.get());
    archive_write_set_format_pax_restricted(w.get());
    archive_write_open(w.get(), &files, nullptr, append_to_string, nullptr);
    std::map<std::string, std::string> contents = c.files;
    if (!c.engine_fqdn.empty())
      contents["etc/ovirt-engine/engine.conf.d/10-setup-protocols.conf"] = "ENGINE_FQDN=" + c.engine_fqdn + "\n";
    for (auto& [name, data] : contents)
      if (!add_entry(w.get(), name, data)) {
        *err = std::string("cannot build ./files: ") + error_of(w.get());
        return false;
      }
    if (archive_write_close(w.get()) != ARCHIVE_OK) {
      *err = std::string("cannot build ./files: ") + error_of(w.get());
      return false;
    }
  }
  std::map<std::string, std::string> entries = {
      {"./files", files},
      {"./version", c.version + "\n"},
      {"./os_version", c.os_version + "\n"},
      {"./config", "DB_DUMP_COMPRESSOR=\nDB_DUMP_FORMAT=custom\nDWH_DB_DUMP_COMPRESSOR=\nDWH_DB_DUMP_FORMAT=custom\n"}};
  for (auto& [scope, dump] : c.dumps) entries["./" + backup_scope_dumps().at(scope)] = dump;
  std::string sums;
  for (auto& [name, data] : entries)
    sums += (c.legacy_md5 ? hex_of(EVP_md5(), data) : hex_of(EVP_sha256(), data)) + "  " + name + "\n";
  entries[c.legacy_md5 ? "./md5sum" : "./sha256sum"] = sums;

  std::unique_ptr<archive, decltype(&archive_write_free)> w(archive_write_new(), archive_write_free);
  archive_write_add_filter_gzip(w.get());
  archive_write_set_format_pax_restricted(w.get());
  if (archive_write_open_filename(w.get(), path.c_str()) != ARCHIVE_OK) {
    *err = fmt::format("cannot write {}: {}", path, error_of(w.get()));
    return false;
  }
  // A half-written archive must not look like a backup to the next reader.
  auto fail = [&](const char* what) {
    *err = fmt::format("cannot {} {}: {}", what, path, error_of(w.get()));
    w.reset();
    std::remove(path.c_str());
    return false;
  };
  for (auto& [name, data] : entries)
    if (!add_entry(w.get(), name, data)) return fail("write");
  if (archive_write_close(w.get()) != ARCHIVE_OK) return fail("finish");
  return true;
}

}  // namespace she
