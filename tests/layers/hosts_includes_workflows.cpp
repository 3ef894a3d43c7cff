// Wrong-way probe (tests/CMakeLists.txt, layers:wrong-way-include): a file
// of the hosts layer includes a workflows header. workflows/ sits above
// hosts/, so this must fail to compile with "No such file or directory".
#include "workflows/step_type.h"
