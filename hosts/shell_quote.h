// The one function through which every argument reaching a remote shell
// passes. Remote commands are built from argument vectors, never by pasting
// strings, so a host name like `a;rm -rf /` stays one inert argument.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace she {

/// POSIX single-quote quoting; plain words ([A-Za-z0-9_@%+=:,./-]) stay bare.
std::string shell_quote(std::string_view arg);
/// Quotes each argument and joins them with spaces.
std::string shell_join(const std::vector<std::string>& argv);
/// `sh -c 'FIRST && SECOND ...'`: commands that go together in one round
/// trip, each later one run only if those before it succeeded; a single
/// command goes as itself.
std::vector<std::string> shell_and(const std::vector<std::vector<std::string>>& commands);

}  // namespace she
