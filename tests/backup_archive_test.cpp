// engine-backup archives: the layout and checksum checks of verify-backup,
// and the version-pair rule (ovirt-he-automation.md section 3).
#include <doctest/doctest.h>

#include <algorithm>

#include "hosts/backup_archive.h"
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
