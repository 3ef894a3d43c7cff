#include "base/digest.h"

#include <openssl/evp.h>

namespace she {

Digest::Digest(const EVP_MD* md) : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, md ? md : EVP_sha256(), nullptr); }
Digest::~Digest() { EVP_MD_CTX_free(ctx_); }
void Digest::update(const void* data, size_t n) { EVP_DigestUpdate(ctx_, data, n); }

namespace {
// Journals check a digest per record on every resume: no formatting per byte.
std::string to_hex(const unsigned char* bytes, unsigned int n) {
  static const char digits[] = "0123456789abcdef";
  std::string h(2 * n, '0');
  for (unsigned int i = 0; i < n; ++i) {
    h[2 * i] = digits[bytes[i] >> 4];
    h[2 * i + 1] = digits[bytes[i] & 0xf];
  }
  return h;
}
}  // namespace

std::string Digest::hex() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, out, &len);
  return to_hex(out, len);
}

std::string Digest::hex_so_far() const {
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  EVP_MD_CTX_copy_ex(copy, ctx_);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(copy, out, &len);
  EVP_MD_CTX_free(copy);
  return to_hex(out, len);
}

const EVP_MD* Digest::md5() { return EVP_md5(); }

std::string sha256_hex(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
  return to_hex(out, len);
}

}  // namespace she
