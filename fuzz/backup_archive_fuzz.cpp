// Fuzz target: bytes -> the engine-backup archive check `verify-backup`
// makes (libarchive: every filter and format it detects, the inner ./files
// tar, checksum lists, the version file). Tight limits keep each input
// cheap; a crash, a hang or memory beyond them is a bug.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/fuzz_scratch.h"
#include "hosts/backup_archive.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = she::fuzz::write_scratch("archive", reinterpret_cast<const char*>(data), size);
  she::ArchiveLimits limits;
  limits.max_entries = 1000;
  limits.max_inner_entries = 10000;
  limits.max_entry_bytes = 64LL << 20;
  limits.max_total_bytes = 128LL << 20;
  limits.expansion_floor = 1LL << 20;
  she::BackupSummary summary;
  std::vector<std::string> problems;
  she::verify_backup_archive(path, "4.5.6", &summary, &problems, limits);
  return 0;
}
