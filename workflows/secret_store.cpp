#include "workflows/secret_store.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>

#include "workflows/secret_ref.h"

namespace she {

namespace {

// Here and nowhere else: a second resolver would read values the run's
// redactor never hears of (brief section 3, one secret store).
std::optional<std::string> resolve_secret(const SecretRef& ref) {
  if (ref.scheme == SecretRef::Scheme::Env) {
    const char* v = std::getenv(ref.name.c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  }
  // Only a regular file: a FIFO or a device would block or never end.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(ref.name, ec)) return std::nullopt;
  std::ifstream in(ref.name);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

std::string SecretStore::value(const std::string& reference) const {
  auto ref = parse_secret_ref(reference);
  if (!ref) throw SecretUnavailable("a secret must be given as a reference (env:NAME or file:PATH), not as a value");
  if (mode_ == Mode::StandIn) return stand_in(reference);
  auto v = resolve_secret(*ref);
  if (!v) throw SecretUnavailable("cannot read the secret " + reference + " (variable unset or file unreadable)");
  if (on_resolved_) on_resolved_(*v);
  return *v;
}

}  // namespace she
