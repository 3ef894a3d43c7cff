#include "base/diagnostics.h"

#include <algorithm>
#include <fmt/format.h>

namespace she {

std::string SourcePos::str() const {
  if (line <= 0) return file.empty() ? std::string("<command line>") : file;
  return fmt::format("{}:{}:{}", file, line, column);
}

const char* kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::YamlSyntax: return "yaml-syntax";
    case ErrorKind::FileNotFound: return "file-not-found";
    case ErrorKind::UnknownKey: return "unknown-key";
    case ErrorKind::DuplicateKey: return "duplicate-key";
    case ErrorKind::MissingKey: return "missing-key";
    case ErrorKind::WrongType: return "wrong-type";
    case ErrorKind::InvalidValue: return "invalid-value";
    case ErrorKind::InvalidId: return "invalid-id";
    case ErrorKind::InvalidDuration: return "invalid-duration";
    case ErrorKind::InvalidSecret: return "invalid-secret";
    case ErrorKind::InvalidExpression: return "invalid-expression";
    case ErrorKind::UnknownStepType: return "unknown-step-type";
    case ErrorKind::MissingParam: return "missing-param";
    case ErrorKind::UnknownParam: return "unknown-param";
    case ErrorKind::DuplicateStepId: return "duplicate-step-id";
    case ErrorKind::DuplicateHost: return "duplicate-host";
    case ErrorKind::UndefinedVariable: return "undefined-variable";
    case ErrorKind::UndefinedStep: return "undefined-step";
    case ErrorKind::ForwardReference: return "forward-reference";
    case ErrorKind::UnknownOutput: return "unknown-output";
    case ErrorKind::UnknownHost: return "unknown-host";
    case ErrorKind::LoopNotList: return "loop-not-list";
    case ErrorKind::RuleViolation: return "rule-violation";
    case ErrorKind::UnresolvedSecret: return "unresolved-secret";
    case ErrorKind::WrongFileKind: return "wrong-file-kind";
    case ErrorKind::RoleCardinality: return "role-cardinality";
    case ErrorKind::NotAFile: return "not-a-file";
    case ErrorKind::InputTooLarge: return "too-large";
    case ErrorKind::RecursiveAlias: return "recursive-alias";
    case ErrorKind::InvalidEncoding: return "invalid-encoding";
    case ErrorKind::ExtraDocument: return "extra-document";
    case ErrorKind::InvalidHost: return "invalid-host";
    case ErrorKind::InvalidUser: return "invalid-user";
    case ErrorKind::InvalidPath: return "invalid-path";
    case ErrorKind::InvalidUrl: return "invalid-url";
  }
  return "error";
}

std::string Diagnostic::str() const {
  std::string out =
      fmt::format("{}: error[{}]: {}", pos.str(), kind_name(kind), message);
  if (!hint.empty()) out += "\n  hint: " + hint;
  return out;
}

void Diagnostics::error(ErrorKind kind, SourcePos pos, std::string message,
                        std::string hint) {
  items_.push_back({kind, std::move(pos), std::move(message), std::move(hint)});
}

std::string Diagnostics::str() const {
  std::vector<const Diagnostic*> sorted;
  for (const auto& d : items_) sorted.push_back(&d);
  std::stable_sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) {
    if (a->pos.file != b->pos.file) return a->pos.file < b->pos.file;
    if (a->pos.line != b->pos.line) return a->pos.line < b->pos.line;
    return a->pos.column < b->pos.column;
  });
  std::string out;
  for (auto* d : sorted) out += d->str() + "\n";
  out += fmt::format("{} error{}\n", sorted.size(), sorted.size() == 1 ? "" : "s");
  return out;
}

namespace {
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}
}  // namespace

std::string did_you_mean(const std::string& word,
                         const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  size_t best_distance = 0;
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (!best || d < best_distance) {
      best = &c;
      best_distance = d;
    }
  }
  // Close enough to be a typo: at most 2 edits, and not most of the word.
  if (best && best_distance <= 2 && best_distance * 2 < std::max(word.size(), best->size()))
    return fmt::format("did you mean '{}'?", *best);
  return {};
}

std::string one_of(const std::vector<std::string>& choices) {
  return "one of: " + fmt::format("{}", fmt::join(choices, ", "));
}

}  // namespace she
