// The lab's own PKI, made with OpenSSL's EVP/X509 APIs: a self-signed CA
// (CA:TRUE) and a server certificate for the engine FQDN, so that clients
// verify the lab's TLS exactly as they verify a real engine's (against
// ca.pem, or by pinning the CA's SHA-256 fingerprint).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace she::lab {

struct LabPkiFiles {
  std::filesystem::path ca_file;    // ca.pem: the CA certificate
  std::filesystem::path cert_file;  // server.pem: the server certificate
  std::filesystem::path key_file;   // server.key: its private key, mode 0600
};

struct LabPki {
  LabPkiFiles files;
  std::string ca_pem;
  std::string cert_pem;
  std::string ca_fingerprint;  // SHA256:AA:BB:...
};

/// Writes ca.pem, server.pem and server.key (0600) into `dir` (created if
/// missing). The server certificate's subjectAltName holds DNS:<fqdn>,
/// DNS:localhost, IP:127.0.0.1 and every address of `extra_ips`. Throws
/// std::runtime_error with OpenSSL's reason on failure.
LabPki generate_lab_pki(const std::filesystem::path& dir, const std::string& fqdn,
                        const std::vector<std::string>& extra_ips = {});

/// The SHA-256 fingerprint of the first certificate of `pem`, in the form
/// `openssl x509 -noout -fingerprint -sha256` prints after its "=", with a
/// "SHA256:" prefix: SHA256:AA:BB:... ("" if unreadable).
std::string pem_sha256_fingerprint(const std::string& pem);

/// The certificate's public key as an OpenSSH public key line
/// ("ssh-rsa AAAA... comment"), for pki-resource's OPENSSH-PUBKEY format;
/// "" if the key is not RSA.
std::string openssh_public_key(const std::string& cert_pem, const std::string& comment);

}  // namespace she::lab
