// Control probe (tests/CMakeLists.txt, layers:legal-include-builds): a file
// of the hosts layer includes its own headers and base/ ones. It must build,
// or layers:wrong-way-include proves nothing.
#include "base/digest.h"
#include "base/value.h"
#include "hosts/shell_quote.h"

namespace she {

std::string layer_probe_hosts_legal() { return to_text(Value(sha256_hex(""))); }

}  // namespace she
