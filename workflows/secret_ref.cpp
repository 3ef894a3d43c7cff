#include "workflows/secret_ref.h"

#include <cctype>

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

std::string secret_ref_hint() {
  return "write a reference, not the value: env:NAME (an environment variable) "
         "or file:PATH (a file whose first line is the secret); the value given "
         "here is not shown";
}

}  // namespace she
