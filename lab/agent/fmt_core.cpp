// fmt's one out-of-line function the agent calls, fmt::vformat, compiled
// here from fmt's own headers (FMT_HEADER_ONLY) instead of taken from
// libfmt.so: that library needs libstdc++.so, which the agent, started
// afresh for every command a lab host runs, links statically instead
// (lab/CMakeLists.txt). Taking its address emits the inline definition out
// of line, as a weak symbol, for the objects that call it.
#define FMT_HEADER_ONLY
#include <fmt/format.h>

namespace she::lab::agent {

extern std::string (*const kFmtVformat)(fmt::string_view, fmt::format_args);
std::string (*const kFmtVformat)(fmt::string_view, fmt::format_args) = &fmt::vformat;

}  // namespace she::lab::agent
