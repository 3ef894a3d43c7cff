// Second pass over a structurally sound plan: binds parameter values, then
// checks every `${...}` reference, the type of every literal value, loops,
// and the rules of the tools the steps drive (by describing each step once).
#pragma once

#include <string>
#include <utility>
#include <vector>
#include <yaml-cpp/yaml.h>

#include "base/diagnostics.h"
#include "workflows/plan.h"

namespace she {

void bind_and_validate(Plan& plan, const YAML::Node& given, const std::string& given_file,
                       const std::vector<std::pair<std::string, std::string>>& cli_params,
                       Diagnostics& diags);

}  // namespace she
