// Text values with a shape of their own: host names and addresses, SSH
// users, remote paths and the file names joined onto them, URLs. Quoting
// keeps a hostile value inert on a remote shell, but it would still reach
// DNS, split log lines, or climb out of a backup directory with `..`; so
// every environment field and step parameter of one of these kinds is
// checked here, once, at the line that gives it.
//
// Each check returns why the value is refused, or nothing. The reason never
// repeats the value (a URL may carry a password; a name may carry a line
// break); it names the offending character instead.
#pragma once

#include <optional>
#include <string>

#include "base/diagnostics.h"

namespace she {

enum class TextKind {
  HostAddress,  // an RFC 1123 host name, an IPv4 literal or an IPv6 literal
  EngineName,   // a name the engine knows a host by: letters, digits, '.', '_', '-'
  SshUser,      // a conservative POSIX user name
  RemotePath,   // absolute, without '.' or '..' segments
  FileName,     // one path segment: no '/', not '.' or '..'
  LocalPath,    // a path on this machine, relative or not
  Url,          // http(s), without user name or password
};

/// The kind as the step catalog and messages name it ("host address", ...).
const char* text_kind_name(TextKind kind);

/// Why `value` is not a `kind`, or nothing when it is.
std::optional<std::string> text_problem(TextKind kind, const std::string& value);

/// A hint saying what the kind looks like.
const char* text_kind_hint(TextKind kind);

/// The kind a procedure parameter declared `type: address` (hostname,
/// user, path, filename, url) has, or nothing for other types.
std::optional<TextKind> declared_text_kind(const std::string& type);

/// The diagnostic kind of a refused `kind`: invalid-host, invalid-path, ...
ErrorKind error_kind(TextKind kind);

}  // namespace she
