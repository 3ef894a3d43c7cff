// SSO access tokens the lab engine has issued (POST /ovirt-engine/sso/oauth/token),
// with the engine's lifecycle: valid until they expire (the scenario's
// token_ttl_s, or never), are revoked by sso-logout, or are expired all at
// once by the lab (POST /lab/expire-tokens) to rehearse a client's re-login
// on 401. Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace she::lab {

class TokenStore {
 public:
  struct Issued {
    std::string token;
    std::string exp;  // epoch milliseconds as a string; Long.MAX_VALUE when it never expires
  };

  Issued issue(const std::string& user, const std::string& scope, int ttl_s);
  /// The user a token authenticates for the REST API: issued for the scope
  /// ovirt-app-api, not expired, not revoked.
  std::optional<std::string> api_user(const std::string& token) const;
  /// False if the token was not known.
  bool revoke(const std::string& token);
  /// Every token issued so far stops working; returns how many were live.
  int expire_all();

 private:
  struct Entry {
    std::string user, scope;
    std::optional<std::chrono::system_clock::time_point> valid_to;
    bool dead = false;  // revoked or expired by the lab
  };

  mutable std::mutex mutex_;
  std::map<std::string, Entry> tokens_;
};

}  // namespace she::lab
