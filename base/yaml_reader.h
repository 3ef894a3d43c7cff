// The one way YAML enters she-restore: plans, procedures, environments,
// --param values, answers files and lab scenarios. yaml-cpp builds a graph
// in which an alias is a shared node, so `&a [*a]` is a cycle (every walk
// over it overflows the stack) and nine nested aliases of nine items each
// are a billion nodes to whoever walks them. The reader therefore streams
// the text through yaml-cpp's event parser first, counting what a walk
// would visit, and builds nodes only for text that stays within the limits.
// Everything refused is a positioned diagnostic.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <yaml-cpp/yaml.h>

#include "base/diagnostics.h"

namespace she {

struct YamlLimits {
  std::size_t max_bytes = 8u << 20;     // a 10,000-step plan is about 1 MiB
  std::size_t max_nodes = 2'000'000;    // nodes a full walk visits, aliases expanded
  int max_depth = 64;                   // nesting, aliases expanded
};

/// Reads a YAML file that must be a regular file (a FIFO, directory or
/// device is refused without being read). `from` is where the file is
/// named, for the error when it cannot be read. Returns nothing on error,
/// a null node for an empty document.
std::optional<YAML::Node> read_yaml_file(const std::string& path, const SourcePos& from, Diagnostics& diags,
                                         const YamlLimits& limits = {});

/// The same for text that comes from elsewhere (a --param value): `name`
/// stands for the file in positions.
std::optional<YAML::Node> parse_yaml_text(const std::string& text, const std::string& name, Diagnostics& diags,
                                          const YamlLimits& limits = {});

/// Whether `s` is valid UTF-8; `bad_at` gets the offset of the first bad byte.
bool is_valid_utf8(const std::string& s, std::size_t* bad_at = nullptr);

/// Position (1-based line and column, in bytes) of `offset` in `text`.
SourcePos position_in(const std::string& text, std::size_t offset, const std::string& name);

}  // namespace she
