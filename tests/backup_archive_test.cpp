// engine-backup archives: the layout and checksum checks of verify-backup,
// and the version-pair rule (ovirt-he-automation.md section 3).
#include <doctest/doctest.h>

#include <algorithm>
#include <archive.h>
#include <archive_entry.h>
#include <memory>
#include <random>
#include <sys/stat.h>

#include "hosts/backup_archive.h"
#include "hosts/backup_scopes.h"
#include "tests/test_support.h"

using namespace she;

namespace {
BackupContent sample() {
  BackupContent c;
  c.version = "4.5.6";
  c.engine_fqdn = "engine.example.com";
  c.dumps = {{"db", std::string(100000, 'x') + "engine dump"}, {"dwhdb", "dwh dump"}};
  c.files = {{"etc/pki/ovirt-engine/ca.pem", "CA"}};
  return c;
}

std::string write(const test::TempDir& dir, const BackupContent& c, const char* name = "engine.backup") {
  std::string path = (dir.path() / name).string();
  std::string err;
  REQUIRE_MESSAGE(write_backup_archive(path, c, &err), err);
  return path;
}

}  // namespace

TEST_CASE("backup archive: a well-formed archive verifies - the summary names version / OS / scopes / FQDN") {
  test::TempDir dir;
  std::string path = write(dir, sample());
  BackupSummary s;
  std::vector<std::string> problems;
  CHECK_MESSAGE(verify_backup_archive(path, "4.5.6", &s, &problems), problems.size());
  CHECK(s.version == "4.5.6");
  CHECK(s.os_version == "centos8");
  CHECK(s.dump_format == "custom");
  CHECK(s.scopes == std::vector<std::string>{"files", "db", "dwhdb"});
  CHECK(s.checksum_kind == "sha256sum");
  CHECK(s.engine_fqdn == "engine.example.com");
  CHECK(s.sha256.size() == 64);
  CHECK(s.bytes > 0);
}

TEST_CASE("backup archive: a flipped byte - a missing entry - a legacy md5sum") {
  test::TempDir dir;
  std::string path = write(dir, sample());
  // A flipped byte inside the compressed stream is caught by gzip's CRC or
  // by the entry's checksum: either way the archive is refused.
  std::string data = test::read_file(path);
  data[data.size() / 2] ^= 0x01;
  test::write_file(dir.path() / "flipped.backup", data);
  BackupSummary s;
  std::vector<std::string> problems;
  CHECK_FALSE(verify_backup_archive((dir.path() / "flipped.backup").string(), "", &s, &problems));

  std::string missing = (dir.path() / "missing.backup").string();
  test::rewrite_archive(path, missing, [](const std::string& name, std::string&) { return name != "./db/engine_backup.db"; });
  problems.clear();
  CHECK_FALSE(verify_backup_archive(missing, "", &s, &problems));
  CHECK(std::find(problems.begin(), problems.end(), "./db/engine_backup.db is listed in ./sha256sum but missing") !=
        problems.end());

  BackupContent legacy = sample();
  legacy.legacy_md5 = true;
  std::string md5 = write(dir, legacy, "legacy.backup");
  problems.clear();
  CHECK(verify_backup_archive(md5, "4.5.6", &s, &problems));
  CHECK(s.checksum_kind == "md5sum");
}

TEST_CASE("backup archive: version pairs as engine-backup's verifyVersion allows them") {
  CHECK(version_pair_problem("4.5.4", "4.5.6").empty());
  CHECK(version_pair_problem("4.5.6", "4.5.6").empty());
  CHECK(version_pair_problem("4.4.10", "4.5.6").empty());  // 4.4 -> 4.5 allowed
  CHECK(version_pair_problem("4.3.10", "4.5.2").empty());  // 4.3 -> 4.5 allowed
  CHECK(version_pair_problem("4.5.7", "4.5.6") ==
        "Backup was created by version '4.5.7' and can not be restored using the installed version 4.5.6");
  CHECK(!version_pair_problem("4.3.9", "4.5.2").empty());  // 4.3 below .10 refused
  CHECK(!version_pair_problem("4.4.8", "4.4.7").empty());  // newer than the appliance (pain point 1)
  CHECK(!version_pair_problem("4.2.8", "4.5.0").empty());

  test::TempDir dir;
  std::string path = write(dir, sample());
  BackupSummary s;
  std::vector<std::string> problems;
  REQUIRE_FALSE(verify_backup_archive(path, "4.4.9", &s, &problems));
  CHECK(problems.back().find("can not be restored using the installed version 4.4.9") != std::string::npos);
}

namespace {

/// A tar.gz (or another format and filter) written entry by entry
/// (libarchive), with whatever names and sizes a hostile archive would hold.
std::string write_raw(const test::TempDir& dir, const char* name,
                      const std::vector<std::pair<std::string, std::string>>& entries,
                      int (*format)(archive*) = archive_write_set_format_pax_restricted,
                      int (*filter)(archive*) = archive_write_add_filter_gzip) {
  std::string path = (dir.path() / name).string();
  std::unique_ptr<archive, decltype(&archive_write_free)> w(archive_write_new(), archive_write_free);
  REQUIRE(filter(w.get()) == ARCHIVE_OK);
  REQUIRE(format(w.get()) == ARCHIVE_OK);
  REQUIRE(archive_write_open_filename(w.get(), path.c_str()) == ARCHIVE_OK);
  for (auto& [entry, data] : entries) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), entry.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0600);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
    REQUIRE(archive_write_header(w.get(), e.get()) == ARCHIVE_OK);
    if (!data.empty()) archive_write_data(w.get(), data.data(), data.size());
  }
  REQUIRE(archive_write_close(w.get()) == ARCHIVE_OK);
  return path;
}

/// The single problem an archive is refused with under `limits`.
std::string refusal(const std::string& path, const ArchiveLimits& limits = {}) {
  BackupSummary s;
  std::vector<std::string> problems;
  CHECK_FALSE(verify_backup_archive(path, "", &s, &problems, limits));
  return problems.empty() ? "" : problems.back();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("verify-backup: only a regular file is read - a directory / FIFO / device exits 3") {
  test::TempDir dir;
  std::string fifo = (dir.path() / "archive.fifo").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  for (const std::string& path : {dir.path().string(), fifo, std::string("/dev/zero")}) {
    CAPTURE(path);
    // A FIFO with no writer or /dev/zero would block or never end.
    auto r = test::she_restore("verify-backup '" + path + "'");
    CHECK(r.exit_code == 3);
    CHECK(contains(r.output, "verify-backup: " + path));
    CHECK((contains(r.output, "is a directory") || contains(r.output, "is not a regular file")));
    BackupSummary s;
    std::vector<std::string> problems;
    CHECK_FALSE(verify_backup_archive(path, "", &s, &problems));
  }
  auto r = test::she_restore("verify-backup '" + (dir.path() / "none.backup").string() + "'");
  CHECK(r.exit_code == 3);
  CHECK(contains(r.output, "cannot read"));
}

TEST_CASE("verify-backup: entries with an absolute path or '..' are refused") {
  test::TempDir dir;
  CHECK(contains(refusal(write_raw(dir, "abs.backup", {{"/etc/shadow", "x"}})), "entry '/etc/shadow' has an absolute path"));
  CHECK(contains(refusal(write_raw(dir, "up.backup", {{"./db/../../etc/cron.d/x", "x"}})), "has '..' in its path"));
  CHECK(contains(refusal(write_raw(dir, "long.backup", {{std::string(300, 'a'), "x"}}), {10000, 2000000, 200}),
                 "a path longer than 200 characters"));
  // ./files is extracted onto the engine: its entries are held to the same rule.
  std::string inner;
  {
    test::TempDir inner_dir;
    inner = test::read_file(write_raw(inner_dir, "inner.tar.gz", {{"../../root/.ssh/authorized_keys", "k"}}));
  }
  CHECK(contains(refusal(write_raw(dir, "inner.backup", {{"./files", inner}})),
                 "./files entry '../../root/.ssh/authorized_keys' has '..' in its path"));
}

TEST_CASE("verify-backup: only tar is read - bare / gzip / bzip2 / xz - zip / cpio / 7-Zip / lz4 are refused unparsed") {
  // engine-backup's --archive-compressor: gzip|bzip2|xz|None, always a tar
  // (ovirt-he-automation.md); no other parser meets a hostile file.
  test::TempDir dir;
  const std::vector<std::pair<std::string, std::string>> entries = {{"./version", "4.5.6\n"}};
  for (auto filter : {archive_write_add_filter_none, archive_write_add_filter_gzip, archive_write_add_filter_bzip2,
                      archive_write_add_filter_xz}) {
    const std::string why = refusal(write_raw(dir, "tar", entries, archive_write_set_format_pax_restricted, filter));
    CAPTURE(why);
    CHECK(why.find("not a readable archive") == std::string::npos);  // read, then refused for its layout
  }
  for (auto format : {archive_write_set_format_zip, archive_write_set_format_cpio_newc, archive_write_set_format_7zip}) {
    const std::string why = refusal(write_raw(dir, "other", entries, format, archive_write_add_filter_none));
    CAPTURE(why);
    CHECK(why.find("not a readable archive") != std::string::npos);
  }
  const std::string lz4 = refusal(write_raw(dir, "lz4", entries, archive_write_set_format_pax_restricted,
                                            archive_write_add_filter_lz4));
  CHECK(lz4.find("not a readable archive") != std::string::npos);
}

TEST_CASE("verify-backup: work is bounded - entries / per-entry size / total size / expansion") {
  test::TempDir dir;
  ArchiveLimits small;
  small.max_entries = 5;
  std::vector<std::pair<std::string, std::string>> many;
  for (int i = 0; i < 6; ++i) many.emplace_back("./e" + std::to_string(i), "x");
  CHECK(contains(refusal(write_raw(dir, "many.backup", many), small), "more than 5 entries"));

  ArchiveLimits sizes;
  sizes.max_entry_bytes = 100000;
  CHECK(contains(refusal(write_raw(dir, "big.backup", {{"./db/engine_backup.db", std::string(200000, 'z')}}), sizes),
                 "./db/engine_backup.db expands beyond 100000 bytes"));
  sizes.max_entry_bytes = 1 << 30;
  sizes.max_total_bytes = 150000;
  CHECK(contains(refusal(write_raw(dir, "total.backup", {{"./a", std::string(100000, 'a')}, {"./b", std::string(100000, 'b')}}),
                         sizes),
                 "the archive expands beyond 150000 bytes"));
  // 8 MiB of zeros gzip to a few KiB: far beyond what a dump expands.
  ArchiveLimits bomb;
  bomb.expansion_floor = 1 << 20;
  bomb.max_expansion = 100;  // the default lets one gzip layer by (its limit is about 1032)
  CHECK(contains(refusal(write_raw(dir, "bomb.backup", {{"./db/engine_backup.db", std::string(8 << 20, '\0')}}), bomb),
                 "a compression bomb"));
  // The real layout stays well inside every default bound.
  BackupContent c;
  std::mt19937 rng(7);
  std::string dump(4 << 20, '\0');
  for (auto& ch : dump) ch = static_cast<char>(rng() % 64 + 32);  // compresses like a dump, not like zeros
  c.dumps = {{"db", dump}};
  std::string err;
  std::string ok = (dir.path() / "ok.backup").string();
  REQUIRE(write_backup_archive(ok, c, &err));
  BackupSummary s;
  std::vector<std::string> problems;
  CHECK(verify_backup_archive(ok, "", &s, &problems, bomb));
}

TEST_CASE("backup scopes: a restore names the missing scope and the remedy - Reports only before 4.0") {
  test::TempDir dir;
  BackupContent c;
  c.version = "3.6.7";
  c.dumps = {{"db", "engine dump"}, {"reportsdb", "reports dump"}};
  c.files = {{"etc/pki/ovirt-engine/ca.pem", "CA"}};
  std::string path = (dir.path() / "old.backup").string();
  std::string err;
  REQUIRE_MESSAGE(write_backup_archive(path, c, &err), err);
  BackupSummary s;
  std::vector<std::string> problems;
  CHECK_MESSAGE(verify_backup_archive(path, "", &s, &problems), problems.size());
  CHECK(s.scopes == std::vector<std::string>{"files", "db", "reportsdb"});

  CHECK(missing_scope_problems(s.scopes, {"files", "db"}, "4.5.6").empty());
  CHECK(restored_scopes(s.scopes, "3.6.8") == std::vector<std::string>{"files", "db", "reportsdb"});
  CHECK(restored_scopes(s.scopes, "4.5.6") == std::vector<std::string>{"files", "db"});

  auto dwh = missing_scope_problems(s.scopes, {"db", "dwhdb"}, "4.5.6");
  REQUIRE(dwh.size() == 1);
  CHECK(dwh[0].find("lacks the DWH database (ovirt_engine_history) (scope dwhdb)") != std::string::npos);
  CHECK(dwh[0].find("--scope=dwhdb") != std::string::npos);

  auto reports = missing_scope_problems(s.scopes, {"reportsdb"}, "4.2.8");
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].find("no longer restores") != std::string::npos);
  CHECK(missing_scope_problems(s.scopes, {"reportsdb"}, "3.6.8").empty());

  auto unknown = missing_scope_problems(s.scopes, {"everything"}, "4.5.6");
  REQUIRE(unknown.size() == 1);
  CHECK(unknown[0].find("not an engine-backup scope") != std::string::npos);
}
