// The whole command: parse, load, then validate, report, rehearse or run.
#pragma once

namespace she {

/// Runs she-restore with these arguments and returns its exit code; every
/// exception ends as exit code 70 with a message, never as an abort.
int she_restore_main(int argc, char** argv);

}  // namespace she
