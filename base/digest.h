// Hashes of streams and strings (OpenSSL EVP): SHA-256 for transfers,
// archives, journals and fingerprints; MD5 only to read legacy archives.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

typedef struct evp_md_st EVP_MD;
typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace she {

class Digest {
 public:
  /// SHA-256 unless told otherwise.
  explicit Digest(const EVP_MD* md = nullptr);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;

  void update(const void* data, size_t n);
  /// Lowercase hex of the digest; the object is spent afterwards.
  std::string hex();
  /// Lowercase hex of the digest of what went in so far; more may follow.
  std::string hex_so_far() const;

  static const EVP_MD* md5();

 private:
  EVP_MD_CTX* ctx_;
};

/// Lowercase hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace she
