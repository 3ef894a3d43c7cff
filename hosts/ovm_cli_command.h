// A command of the Oracle VM Manager command line (OVM CLI, reached with
// `ssh -p 10000 admin@manager`) as data: a verb, an object type, the
// object's attributes (its identifying `id=`/`name=` among them) and, for
// `create ... on`, `add ... to` and `remove ... from`, the object it relates
// to. The line sent is built here and only here, so a value such as
// `x" on Vm name=other` stays one inert attribute value.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace she::ovm {

/// A command the CLI would not read as meant (a bad verb, a control
/// character in a value): refused before anything is sent.
class CliCommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An object named by its type and `id=` or `name=` ("Vm name=slot011").
struct CliObjectRef {
  std::string type;
  std::string key;  // "id" or "name"
  std::string value;
};

struct CliCommand {
  std::string verb;    // show, list, create, delete, add, remove, edit, refresh, start, stop, getXxx...
  std::string object;  // Vm, Vnic, VmDiskMapping, Repository...
  std::vector<std::pair<std::string, std::string>> attributes;  // in the order given
  std::string relation;  // "", "on", "to" or "from"
  CliObjectRef related;  // the object after `relation`

  /// The line the CLI reads: "create VmDiskMapping slot=2 storageDevice=d on Vm name=slot021".
  /// Throws CliCommandError for a command the CLI would misread.
  std::string line() const;
  /// show, list and getXxx change nothing: a dry run performs them live.
  bool reads() const;
  /// The attribute `key`, or empty.
  std::string attribute(const std::string& key) const;
};

/// A value as the CLI reads it: bare when it is a plain word, else in
/// double quotes with `"`, `'` and `/` escaped by `/` (the CLI's escape
/// character). Throws CliCommandError for a control character or an
/// empty value, which no quoting carries over one command line.
std::string cli_quote(std::string_view value);

/// A line read back the way the CLI reads it (the lab's CLI answers from
/// this): words, `key=value` attributes with quoted values unescaped, and
/// an `on`/`to`/`from` clause. Throws CliCommandError for an unterminated
/// quote or a stray word.
CliCommand parse_cli_line(std::string_view line);

/// Whether `verb` is one that only reads (show, list, getXxx).
bool cli_verb_reads(std::string_view verb);

}  // namespace she::ovm
