#include "lab/lab_pki.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <memory>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace she::lab {

namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;

[[noreturn]] void fail(const std::string& what) {
  std::string reason;
  if (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    reason = std::string(": ") + buf;
  }
  ERR_clear_error();
  throw std::runtime_error("lab PKI: " + what + reason);
}

PkeyPtr rsa_key() {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0 || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), 2048) <= 0 ||
      EVP_PKEY_keygen(ctx.get(), &key) <= 0)
    fail("cannot generate an RSA key");
  return PkeyPtr(key);
}

void set_serial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) fail("no random serial");
  bytes[0] &= 0x7f;  // a positive serial
  BnPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert))) fail("cannot set the serial");
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || !X509_add_ext(cert, ext.get(), -1)) fail(fmt::format("cannot add extension {}", OBJ_nid2sn(nid)));
}

X509Ptr new_cert(EVP_PKEY* key, const std::vector<std::pair<std::string, std::string>>& subject, long days) {
  X509Ptr cert(X509_new());
  if (!cert || !X509_set_version(cert.get(), 2)) fail("cannot create a certificate");
  set_serial(cert.get());
  // A day of slack before now, for clocks that disagree a little.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -86400);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * days);
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& [field, value] : subject)
    if (!X509_NAME_add_entry_by_txt(name, field.c_str(), MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0))
      fail("cannot set the subject");
  if (!X509_set_pubkey(cert.get(), key)) fail("cannot set the public key");
  return cert;
}

std::string pem_of(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !PEM_write_bio_X509(bio.get(), cert)) fail("cannot write a certificate");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string pem_of_key(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr))
    fail("cannot write a private key");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

// Written through a descriptor opened with the final mode, so a private key
// is never readable by others, not even for an instant.
void write_file(const std::filesystem::path& p, const std::string& text, mode_t mode) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw std::runtime_error("lab PKI: cannot write " + p.string());
  ::fchmod(fd, mode);  // O_CREAT's mode does not apply to an existing file
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error("lab PKI: cannot write " + p.string());
    }
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

X509Ptr read_cert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return nullptr;
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}

void put_string(std::string& out, const std::string& s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out += s;
}

// An SSH mpint: big-endian, with a leading zero byte when the top bit is set.
void put_mpint(std::string& out, const BIGNUM* bn) {
  std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  if (!bytes.empty() && (static_cast<unsigned char>(bytes[0]) & 0x80)) bytes.insert(bytes.begin(), '\0');
  put_string(out, bytes);
}

}  // namespace

LabPki generate_lab_pki(const std::filesystem::path& dir, const std::string& fqdn,
                        const std::vector<std::string>& extra_ips) {
  std::filesystem::create_directories(dir);

  // The CA, named the way engine-setup names its CA: "<fqdn>.<number>".
  unsigned char r[2];
  RAND_bytes(r, sizeof r);
  const std::string ca_cn = fmt::format("{}.{}", fqdn, (r[0] << 8 | r[1]) % 90000 + 10000);
  PkeyPtr ca_key = rsa_key();
  X509Ptr ca = new_cert(ca_key.get(), {{"C", "US"}, {"O", "she-restore lab"}, {"CN", ca_cn}}, 3650);
  X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get()));
  add_ext(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_ext(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
  add_ext(ca.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
  if (!X509_sign(ca.get(), ca_key.get(), EVP_sha256())) fail("cannot sign the CA");

  // The server certificate, for the engine's name and the loopback.
  PkeyPtr key = rsa_key();
  X509Ptr cert = new_cert(key.get(), {{"C", "US"}, {"O", "she-restore lab"}, {"CN", fqdn}}, 825);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));
  std::string san = is_ip(fqdn) ? "IP:" + fqdn : "DNS:" + fqdn;
  if (fqdn != "localhost") san += ",DNS:localhost";
  if (fqdn != "127.0.0.1") san += ",IP:127.0.0.1";
  for (const auto& ip : extra_ips) {
    if (!is_ip(ip)) throw std::runtime_error("lab PKI: '" + ip + "' is not an IP address");
    if (ip != "127.0.0.1" && ip != fqdn) san += ",IP:" + ip;
  }
  add_ext(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
  add_ext(cert.get(), ca.get(), NID_ext_key_usage, "serverAuth");
  add_ext(cert.get(), ca.get(), NID_subject_alt_name, san);
  add_ext(cert.get(), ca.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
  if (!X509_sign(cert.get(), ca_key.get(), EVP_sha256())) fail("cannot sign the server certificate");

  LabPki pki;
  pki.files = {dir / "ca.pem", dir / "server.pem", dir / "server.key"};
  pki.ca_pem = pem_of(ca.get());
  pki.cert_pem = pem_of(cert.get());
  write_file(pki.files.ca_file, pki.ca_pem, 0644);
  write_file(pki.files.cert_file, pki.cert_pem, 0644);
  write_file(pki.files.key_file, pem_of_key(key.get()), 0600);
  pki.ca_fingerprint = pem_sha256_fingerprint(pki.ca_pem);
  return pki;
}

std::string pem_sha256_fingerprint(const std::string& pem) {
  X509Ptr cert = read_cert(pem);
  if (!cert) {
    ERR_clear_error();
    return {};
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!X509_digest(cert.get(), EVP_sha256(), md, &len)) return {};
  std::string out = "SHA256:";
  for (unsigned int i = 0; i < len; ++i) out += fmt::format(i ? ":{:02X}" : "{:02X}", md[i]);
  return out;
}

std::string openssh_public_key(const std::string& cert_pem, const std::string& comment) {
  X509Ptr cert = read_cert(cert_pem);
  if (!cert) {
    ERR_clear_error();
    return {};
  }
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) return {};
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) || !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e)) {
    BN_free(n);
    BN_free(e);
    return {};
  }
  std::string blob;
  put_string(blob, "ssh-rsa");
  put_mpint(blob, e);
  put_mpint(blob, n);
  BN_free(n);
  BN_free(e);
  std::string b64(4 * ((blob.size() + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                                  reinterpret_cast<const unsigned char*>(blob.data()), static_cast<int>(blob.size()));
  b64.resize(static_cast<std::size_t>(len));
  return "ssh-rsa " + b64 + (comment.empty() ? "" : " " + comment);
}

}  // namespace she::lab
