#include "workflows/secret_store.h"

#include <stdexcept>

#include "workflows/secret_ref.h"

namespace she {

std::string SecretStore::value(const std::string& reference) const {
  if (!parse_secret_ref(reference))
    throw SecretUnavailable("a secret must be given as a reference (env:NAME or file:PATH), not as a value");
  if (mode_ == Mode::StandIn) return stand_in(reference);
  auto v = resolve_secret(reference);
  if (!v) throw SecretUnavailable("cannot read the secret " + reference + " (variable unset or file unreadable)");
  if (on_resolved_) on_resolved_(*v);
  return *v;
}

}  // namespace she
