// Diagnostics for plan files: every problem carries file:line:column, a
// stable kind (tests and tooling key on it), a message and a hint. Loading
// collects all of them before stopping, so an operator fixes a plan in one
// pass instead of one error per run.
#pragma once

#include <string>
#include <vector>

namespace she {

/// 1-based position in a source file; line 0 means "no position" (for
/// example a value given with --param on the command line).
struct SourcePos {
  std::string file;
  int line = 0;
  int column = 0;

  std::string str() const;
};

enum class ErrorKind {
  YamlSyntax,
  FileNotFound,
  UnknownKey,
  DuplicateKey,
  MissingKey,
  WrongType,
  InvalidValue,
  InvalidId,
  InvalidDuration,
  InvalidSecret,
  InvalidExpression,
  UnknownStepType,
  MissingParam,
  UnknownParam,
  DuplicateStepId,
  DuplicateHost,
  UndefinedVariable,
  UndefinedStep,
  ForwardReference,
  UnknownOutput,
  UnknownHost,
  LoopNotList,
  RuleViolation,
  UnresolvedSecret,  // a reference whose value cannot be read (unset variable, missing file)
  WrongFileKind,     // a file that is missing, unreadable or not what the setting needs
  RoleCardinality,   // a role the procedure takes one host of, given to several
  // Input limits (base/yaml_reader.h) and typed values (workflows/typed_value.h)
  NotAFile,
  InputTooLarge,
  RecursiveAlias,
  InvalidEncoding,
  ExtraDocument,
  InvalidHost,
  InvalidUser,
  InvalidPath,
  InvalidUrl,
};

/// The kind as written in messages: "unknown-key", "invalid-duration", ...
const char* kind_name(ErrorKind kind);

struct Diagnostic {
  ErrorKind kind;
  SourcePos pos;
  std::string message;
  std::string hint;

  /// "file:3:5: error[unknown-key]: message\n  hint: ..."
  std::string str() const;
};

class Diagnostics {
 public:
  void error(ErrorKind kind, SourcePos pos, std::string message,
             std::string hint = {});
  bool ok() const { return items_.empty(); }
  const std::vector<Diagnostic>& all() const { return items_; }
  /// All diagnostics sorted by file and position, one per paragraph.
  std::string str() const;

 private:
  std::vector<Diagnostic> items_;
};

/// "did you mean 'foreach'?" when one candidate is close to `word`, else "".
std::string did_you_mean(const std::string& word,
                         const std::vector<std::string>& candidates);

/// "one of: a, b, c" for hints.
std::string one_of(const std::vector<std::string>& choices);

}  // namespace she
