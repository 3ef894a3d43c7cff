// she-restore with the test step types: the binary the executor tests run.
#include "orchestrator/app.h"
#include "tests/testbed/test_steps.h"

int main(int argc, char** argv) {
  she::test::register_test_steps();
  return she::she_restore_main(argc, argv);
}
