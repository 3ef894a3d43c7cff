// Shorthands for the parameter schemas of the built-in step types.
#pragma once

#include "workflows/step_type.h"

namespace she::schema {

inline ParamSchema required(std::string name, ParamType type, std::string help) {
  return {std::move(name), type, true, nullptr, {}, std::move(help)};
}

inline ParamSchema optional(std::string name, ParamType type, Value def, std::string help) {
  return {std::move(name), type, false, std::move(def), {}, std::move(help)};
}

inline ParamSchema choice(std::string name, std::vector<std::string> choices, std::string def,
                          std::string help) {
  return {std::move(name), ParamType::Choice, false, Value(std::move(def)), std::move(choices),
          std::move(help)};
}

}  // namespace she::schema
