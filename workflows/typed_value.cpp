#include "workflows/typed_value.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fmt/format.h>
#include <memory>
#include <cctype>

namespace she {

namespace {

/// A character as a message may show it: printable ones quoted, the rest
/// by code point, so a refused value never breaks the line it is told on.
std::string shown(char ch) {
  unsigned char c = static_cast<unsigned char>(ch);
  if (c == ' ') return "a space";
  if (c < 0x20 || c == 0x7f) return fmt::format("a control character (U+{:04X})", c);
  if (c >= 0x80) return "a non-ASCII character";
  return fmt::format("'{}'", ch);
}

/// The first character of `s` not in `allowed`, described.
std::optional<std::string> first_outside(const std::string& s, const char* allowed_what,
                                         bool (*allowed)(unsigned char)) {
  for (char ch : s)
    if (!allowed(static_cast<unsigned char>(ch))) return fmt::format("it contains {} ({})", shown(ch), allowed_what);
  return std::nullopt;
}

bool alnum(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
// '_' is not RFC 1123, but names with it resolve in practice (and the lab's
// hosts use them); it is no shell metacharacter.
bool name_char(unsigned char c) { return alnum(c) || c == '-' || c == '.' || c == '_'; }
bool engine_name_char(unsigned char c) { return alnum(c) || c == '-' || c == '.' || c == '_'; }
bool user_char(unsigned char c) { return alnum(c) || c == '-' || c == '.' || c == '_'; }
bool printable(unsigned char c) { return c >= 0x20 && c != 0x7f; }

bool is_ip_literal(std::string s) {
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  unsigned char buf[sizeof(struct in6_addr)];
  return ::inet_pton(AF_INET, s.c_str(), buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::optional<std::string> host_address_problem(const std::string& s) {
  if (s.empty()) return "it is empty";
  if (is_ip_literal(s)) return std::nullopt;
  if (s[0] == '-') return "it starts with '-'";
  if (auto bad = first_outside(s, "host names have letters, digits, '-', '_' and '.'", name_char)) return bad;
  std::string name = s.back() == '.' ? s.substr(0, s.size() - 1) : s;
  if (name.size() > 253) return "it is longer than 253 characters";
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('.', start);
    if (end == std::string::npos) end = name.size();
    std::string label = name.substr(start, end - start);
    if (label.empty()) return "it has an empty label ('..' or a leading '.')";
    if (label.size() > 63) return "a label is longer than 63 characters";
    if (label.front() == '-' || label.back() == '-') return "a label starts or ends with '-'";
    start = end + 1;
  }
  return std::nullopt;
}

std::optional<std::string> path_chars_problem(const std::string& s) {
  if (s.find('\0') != std::string::npos) return "it contains a NUL byte";
  return first_outside(s, "paths are printable text", printable);
}

std::optional<std::string> remote_path_problem(const std::string& s) {
  if (s.empty()) return "it is empty";
  if (auto bad = path_chars_problem(s)) return bad;
  if (s[0] != '/') return "it is not absolute (it must start with '/')";
  if (s.size() > 4096) return "it is longer than 4096 characters";
  size_t start = 1;
  while (start <= s.size()) {
    size_t end = s.find('/', start);
    if (end == std::string::npos) end = s.size();
    std::string seg = s.substr(start, end - start);
    if (seg == "..") return "it has a '..' segment: it could leave the directory it names";
    if (seg == ".") return "it has a '.' segment";
    start = end + 1;
  }
  return std::nullopt;
}

std::optional<std::string> file_name_problem(const std::string& s) {
  if (s.empty()) return "it is empty";
  if (auto bad = path_chars_problem(s)) return bad;
  if (s.find('/') != std::string::npos) return "it contains '/': a file name names no directory";
  if (s.find("..") != std::string::npos) return "it contains '..'";
  if (s == ".") return "it is '.'";
  if (s.size() > 255) return "it is longer than 255 characters";
  return std::nullopt;
}

std::optional<std::string> url_problem(const std::string& s) {
  if (auto bad = first_outside(s, "URLs are printable ASCII", [](unsigned char c) { return c > 0x20 && c < 0x7f; }))
    return bad;
  std::unique_ptr<CURLU, void (*)(CURLU*)> u(curl_url(), curl_url_cleanup);
  if (!u) return "it cannot be parsed (out of memory)";
  if (curl_url_set(u.get(), CURLUPART_URL, s.c_str(), 0) != CURLUE_OK) return "it is not a URL";
  auto part = [&](CURLUPart which) -> std::optional<std::string> {
    char* p = nullptr;
    if (curl_url_get(u.get(), which, &p, 0) != CURLUE_OK || !p) return std::nullopt;
    std::string out = p;
    curl_free(p);
    return out;
  };
  // Never shown: the part before '@' may be a password.
  if (part(CURLUPART_USER) || part(CURLUPART_PASSWORD) || part(CURLUPART_OPTIONS))
    return "it carries a user name or password before '@'; credentials belong in 'user' and 'password'";
  std::string scheme = part(CURLUPART_SCHEME).value_or("");
  if (scheme != "https" && scheme != "http") return "its scheme is not https";
  std::string host = part(CURLUPART_HOST).value_or("");
  if (auto bad = host_address_problem(host)) return "its host is not a host name or address: " + *bad;
  return std::nullopt;
}

}  // namespace

const char* text_kind_name(TextKind kind) {
  switch (kind) {
    case TextKind::HostAddress: return "host address";
    case TextKind::EngineName: return "host name";
    case TextKind::SshUser: return "user name";
    case TextKind::RemotePath: return "remote path";
    case TextKind::FileName: return "file name";
    case TextKind::LocalPath: return "path";
    case TextKind::Url: return "URL";
  }
  return "value";
}

const char* text_kind_hint(TextKind kind) {
  switch (kind) {
    case TextKind::HostAddress: return "an FQDN such as host1.example.com (RFC 1123), or an IPv4 or IPv6 address";
    case TextKind::EngineName: return "the name the engine shows: letters, digits, '.', '_' and '-', not starting with '-'";
    case TextKind::SshUser: return "a user name such as root: letters, digits, '_', '.', '-', starting with a letter or '_'";
    case TextKind::RemotePath: return "an absolute path without '..', such as /var/lib/ovirt-engine-backup/engine.backup";
    case TextKind::FileName: return "a file name inside its directory, such as engine-0001.backup: no '/' and no '..'";
    case TextKind::LocalPath: return "a path of printable characters";
    case TextKind::Url: return "https://HOST/ovirt-engine/api; the password goes in 'password' as a secret reference";
  }
  return "";
}

std::optional<TextKind> declared_text_kind(const std::string& type) {
  if (type == "address") return TextKind::HostAddress;
  if (type == "hostname") return TextKind::EngineName;
  if (type == "user") return TextKind::SshUser;
  if (type == "path") return TextKind::RemotePath;
  if (type == "filename") return TextKind::FileName;
  if (type == "url") return TextKind::Url;
  return std::nullopt;
}

ErrorKind error_kind(TextKind kind) {
  switch (kind) {
    case TextKind::HostAddress:
    case TextKind::EngineName: return ErrorKind::InvalidHost;
    case TextKind::SshUser: return ErrorKind::InvalidUser;
    case TextKind::RemotePath:
    case TextKind::FileName:
    case TextKind::LocalPath: return ErrorKind::InvalidPath;
    case TextKind::Url: return ErrorKind::InvalidUrl;
  }
  return ErrorKind::InvalidValue;
}

std::optional<std::string> text_problem(TextKind kind, const std::string& s) {
  switch (kind) {
    case TextKind::HostAddress: return host_address_problem(s);
    case TextKind::EngineName:
      if (s.empty()) return "it is empty";
      if (s[0] == '-' || s[0] == '.') return fmt::format("it starts with '{}'", s[0]);
      if (s.size() > 255) return "it is longer than 255 characters";
      return first_outside(s, "host names have letters, digits, '.', '_' and '-'", engine_name_char);
    case TextKind::SshUser: {
      if (s.empty()) return "it is empty";
      if (s[0] == '-') return "it starts with '-'";
      std::string body = s.back() == '$' ? s.substr(0, s.size() - 1) : s;  // Samba machine accounts
      if (auto bad = first_outside(body, "user names have letters, digits, '_', '.' and '-'", user_char)) return bad;
      if (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '.') return "it does not start with a letter or '_'";
      if (s.size() > 32) return "it is longer than 32 characters";
      return std::nullopt;
    }
    case TextKind::RemotePath: return remote_path_problem(s);
    case TextKind::FileName: return file_name_problem(s);
    case TextKind::LocalPath:
      if (s.empty()) return "it is empty";
      return path_chars_problem(s);
    case TextKind::Url: return url_problem(s);
  }
  return std::nullopt;
}

}  // namespace she
