#include "hosts/shell_quote.h"

#include <cctype>

namespace she {

std::string shell_quote(std::string_view arg) {
  bool plain = !arg.empty();
  for (char c : arg) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) ||
          std::string_view("_@%+=:,./-").find(c) != std::string_view::npos)) {
      plain = false;
      break;
    }
  }
  if (plain) return std::string(arg);
  // Inside single quotes nothing is special except the quote itself, which
  // is closed, escaped and reopened.
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  out += "'";
  return out;
}

std::string shell_join(const std::vector<std::string>& argv) {
  std::string out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i) out += ' ';
    out += shell_quote(argv[i]);
  }
  return out;
}

std::vector<std::string> shell_and(const std::vector<std::vector<std::string>>& commands) {
  if (commands.size() == 1) return commands.front();
  std::string script;
  for (const auto& argv : commands) script += (script.empty() ? "" : " && ") + shell_join(argv);
  return {"sh", "-c", script};
}

}  // namespace she
