// An answer of the Oracle VM Manager command line, read as the CLI prints
// it: "Command: ...", "Status: Success|Failure", "Time: ...", an optional
// "JobId: ...", then "Data:" with the object's fields ("Name = slot011",
// "Vnic 1 = <id>  [00:21:f6:01:00:0b]") or a listing ("id:<id>  name:<name>"),
// or "Error Msg: ..." with the reason, kept verbatim.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/value.h"

namespace she::ovm {

/// One object reference in an answer: "<id>  [label]", or a listing line.
struct CliItem {
  std::string id;
  std::string name;  // the [label], or name: of a listing line
  std::map<std::string, std::string> fields;  // every key:value of a listing line
};

/// Why the CLI refused, from its message: the class a step's `retry.on`
/// names follows from it.
enum class CliFailure { None, NotFound, Exists, InUse, Refused };
const char* failure_name(CliFailure f);

struct CliAnswer {
  bool parsed = false;   // a "Status:" line was found
  bool success = false;
  std::string command;   // as the CLI echoed it
  std::string time;
  std::string job_id;
  std::string error;     // "Error Msg:" text, verbatim (continuation lines kept)
  CliFailure failure = CliFailure::None;
  /// "Key = value" fields of a show, in order; a value with a [label] keeps
  /// only the part before it here (the id) and the label in `labels`.
  std::vector<std::pair<std::string, std::string>> fields;
  std::map<std::string, std::string> labels;
  /// Numbered fields ("Vnic 1", "VmDiskMapping 2") grouped by their name.
  std::map<std::string, std::vector<CliItem>> lists;
  /// Listing lines ("id:...  name:...") and the object a create answers with.
  std::vector<CliItem> items;

  std::string field(const std::string& key) const;
  /// The object's id: its "Id" field, else the one item of a create.
  std::string id() const;
  /// status, job_id, id, name, fields, lists, items: the step's outputs.
  Value to_value() const;
};

CliAnswer parse_cli_answer(std::string_view text);

}  // namespace she::ovm
