// Wrong-way probe (tests/CMakeLists.txt, layers:base-includes-no-module): a
// file of the base layer includes a hosts header. base/ depends on no other
// module, so this must fail to compile with "No such file or directory".
#include "hosts/shell_quote.h"
