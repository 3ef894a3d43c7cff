#include "base/digest.h"

#include <fmt/format.h>
#include <openssl/evp.h>

namespace she {

Digest::Digest(const EVP_MD* md) : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, md ? md : EVP_sha256(), nullptr); }
Digest::~Digest() { EVP_MD_CTX_free(ctx_); }
void Digest::update(const void* data, size_t n) { EVP_DigestUpdate(ctx_, data, n); }

std::string Digest::hex() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, out, &len);
  std::string h;
  for (unsigned int i = 0; i < len; ++i) h += fmt::format("{:02x}", out[i]);
  return h;
}

const EVP_MD* Digest::md5() { return EVP_md5(); }

std::string sha256_hex(const std::string& data) {
  Digest d;
  d.update(data.data(), data.size());
  return d.hex();
}

}  // namespace she
