// she-restore's entry point; orchestrator/app.cpp lists the phases.
#include "orchestrator/app.h"

int main(int argc, char** argv) { return she::she_restore_main(argc, argv); }
