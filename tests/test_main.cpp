#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>

int main(int argc, char** argv) {
  // Every run a test starts (in this process or a she-restore it spawns)
  // writes its journal's checkpoint every third record, and every open that
  // reads one checks it against the whole journal: each resume of every
  // test, crash campaigns included, proves the checkpoint gives the state
  // the records give.
  ::setenv("SHE_RESTORE_TEST_CHECKPOINT_EVERY", "3", 0);
  ::setenv("SHE_RESTORE_TEST_CHECK_CHECKPOINT", "1", 0);
  return doctest::Context(argc, argv).run();
}
