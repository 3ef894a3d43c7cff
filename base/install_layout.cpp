#include "base/install_layout.h"

#include <unistd.h>

// Relative paths from BINDIR, set by the build from GNUInstallDirs; the
// defaults are the GNU layout, for a compile outside CMake.
#ifndef SHE_RESTORE_BIN_TO_DATA
#define SHE_RESTORE_BIN_TO_DATA "../share/she-restore"
#endif
#ifndef SHE_RESTORE_BIN_TO_LIBEXEC
#define SHE_RESTORE_BIN_TO_LIBEXEC "../libexec/she-restore"
#endif

namespace she {

namespace fs = std::filesystem;

fs::path self_executable() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : self;
}

namespace {

fs::path beside_bindir(const char* relative) {
  fs::path self = self_executable();
  if (self.empty()) return {};
  return (self.parent_path() / relative).lexically_normal();
}

}  // namespace

fs::path installed_data_dir() { return beside_bindir(SHE_RESTORE_BIN_TO_DATA); }

fs::path installed_libexec_dir() { return beside_bindir(SHE_RESTORE_BIN_TO_LIBEXEC); }

fs::path first_executable(std::initializer_list<fs::path> candidates) {
  for (const fs::path& c : candidates)
    if (::access(c.c_str(), X_OK) == 0) return c;
  return {};
}

}  // namespace she
