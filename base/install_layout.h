// Where an installed she-restore keeps its data and helpers, found from the
// running executable's own path rather than the prefix it was configured
// with, so a tree unpacked or installed anywhere (a .deb under /usr, `make
// install` under /usr/local, `dpkg-deb -x` into a scratch root) finds its own
// plans, examples and lab programs, not those of another install.
#pragma once

#include <filesystem>
#include <initializer_list>

namespace she {

/// The running executable (/proc/self/exe); empty if it cannot be read.
std::filesystem::path self_executable();

/// DATADIR/she-restore beside the running executable's BINDIR (plans/,
/// examples/, schema.json), e.g. /usr/share/she-restore for /usr/bin/she-restore.
/// Empty when the executable is unknown; the directory need not exist (it
/// does not in a build tree).
std::filesystem::path installed_data_dir();

/// LIBEXECDIR/she-restore beside the running executable's BINDIR: programs
/// that are not commands of their own (she-lab-agent). Same caveats.
std::filesystem::path installed_libexec_dir();

/// The first of `candidates` that is an executable file; empty if none.
std::filesystem::path first_executable(std::initializer_list<std::filesystem::path> candidates);

}  // namespace she
