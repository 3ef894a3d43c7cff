#include "lab/token_store.h"

#include <openssl/rand.h>
#include <sstream>
#include <stdexcept>

#include "lab/iso_time.h"

namespace she::lab {

namespace {

// Tokens are opaque to clients; 32 random bytes in base64url, about the
// length of the engine's.
std::string random_token() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no randomness for an SSO token");
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned int acc = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += alphabet[(acc << (6 - bits)) & 0x3f];
  return out;
}

bool api_scope(const std::string& scope) {
  std::istringstream in(scope);
  std::string word;
  while (in >> word)
    if (word == "ovirt-app-api") return true;
  return false;
}

}  // namespace

TokenStore::Issued TokenStore::issue(const std::string& user, const std::string& scope, int ttl_s) {
  Entry e;
  e.user = user;
  e.scope = scope;
  Issued out;
  out.token = random_token();
  if (ttl_s > 0) {
    e.valid_to = std::chrono::system_clock::now() + std::chrono::seconds(ttl_s);
    out.exp = std::to_string(epoch_ms(*e.valid_to));
  } else {
    out.exp = "9223372036854775807";  // the engine's Long.MAX_VALUE: no valid_to
  }
  std::lock_guard<std::mutex> l(mutex_);
  tokens_[out.token] = e;
  return out;
}

std::optional<std::string> TokenStore::api_user(const std::string& token) const {
  std::lock_guard<std::mutex> l(mutex_);
  auto it = tokens_.find(token);
  if (it == tokens_.end() || it->second.dead || !api_scope(it->second.scope)) return std::nullopt;
  if (it->second.valid_to && std::chrono::system_clock::now() >= *it->second.valid_to) return std::nullopt;
  return it->second.user;
}

bool TokenStore::revoke(const std::string& token) {
  std::lock_guard<std::mutex> l(mutex_);
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return false;
  it->second.dead = true;
  return true;
}

int TokenStore::expire_all() {
  std::lock_guard<std::mutex> l(mutex_);
  int n = 0;
  for (auto& [token, e] : tokens_)
    if (!e.dead) {
      e.dead = true;
      ++n;
    }
  return n;
}

}  // namespace she::lab
