// Writes the seed archives of the backup-archive fuzz target into DIR:
// engine-backup's real layout (gzip, pax), with SHA-256 and with the legacy
// MD5 list, as the lab's engine-backup writes them.
#include <cstdio>
#include <filesystem>

#include "hosts/backup_archive.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz-seed-archives DIR\n");
    return 2;
  }
  std::filesystem::create_directories(argv[1]);
  she::BackupContent c;
  c.engine_fqdn = "engine.test";
  c.dumps = {{"db", "PGDMP engine dump"}, {"dwhdb", "PGDMP dwh dump"}};
  c.files = {{"etc/pki/ovirt-engine/ca.pem", "-----BEGIN CERTIFICATE-----\n"}};
  std::string err;
  for (bool md5 : {false, true}) {
    c.legacy_md5 = md5;
    std::string path = std::string(argv[1]) + (md5 ? "/md5.backup" : "/sha256.backup");
    if (!she::write_backup_archive(path, c, &err)) {
      std::fprintf(stderr, "fuzz-seed-archives: %s\n", err.c_str());
      return 1;
    }
  }
  return 0;
}
