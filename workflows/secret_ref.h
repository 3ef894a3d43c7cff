// Secrets appear in plans only as references: `env:NAME` or `file:PATH`.
// The reference is what logs, journals and dry runs show; the value is read
// only at the point of use, by the run's SecretStore (secret_store.h), the
// one resolver, and never stored.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace she {

struct SecretRef {
  enum class Scheme { Env, File };
  Scheme scheme;
  std::string name;  // variable name or file path

  std::string str() const;  // "env:NAME" / "file:PATH"
};

/// Parses "env:NAME" (NAME a valid environment variable name) or
/// "file:PATH" (non-empty). Anything else is not a reference.
std::optional<SecretRef> parse_secret_ref(std::string_view text);

/// Hint shown when a literal sits where a secret reference belongs. It never
/// repeats the literal: that may be the password itself.
std::string secret_ref_hint();

}  // namespace she
