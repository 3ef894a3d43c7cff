#include "workflows/secret_ref.h"

#include <cctype>
#include <cstdlib>
#include <fstream>

namespace she {

std::string SecretRef::str() const {
  return (scheme == Scheme::Env ? "env:" : "file:") + name;
}

std::optional<SecretRef> parse_secret_ref(std::string_view text) {
  if (text.substr(0, 4) == "env:") {
    std::string_view name = text.substr(4);
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])))
      return std::nullopt;
    for (char c : name)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return std::nullopt;
    return SecretRef{SecretRef::Scheme::Env, std::string(name)};
  }
  if (text.substr(0, 5) == "file:" && text.size() > 5)
    return SecretRef{SecretRef::Scheme::File, std::string(text.substr(5))};
  return std::nullopt;
}

std::optional<std::string> resolve_secret(const std::string& reference) {
  auto ref = parse_secret_ref(reference);
  if (!ref) return std::nullopt;
  if (ref->scheme == SecretRef::Scheme::Env) {
    const char* v = std::getenv(ref->name.c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  }
  std::ifstream in(ref->name);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

std::string secret_ref_hint() {
  return "write a reference, not the value: env:NAME (an environment variable) "
         "or file:PATH (a file whose first line is the secret); the value given "
         "here is not shown";
}

}  // namespace she
