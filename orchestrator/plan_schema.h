// The JSON Schema of plans, procedures and environments, for editors
// (yaml-language-server) and validators. Generated from the step catalog,
// so each step type's `with:` keys, types and help are the ones the loader
// checks; the structural keys follow workflows/plan_loader.cpp.
//
// A schema is structural: it cannot see that a host is in the environment
// or that `${steps.x.y}` names an output. `validate` remains the authority;
// the schema catches misspelt keys and wrong shapes as they are typed.
#pragma once

#include "base/value.h"

namespace she {

class StepCatalog;

/// Draft 2020-12. One schema for every file kind: a file with `engine:` is
/// an environment, any other a plan or procedure.
Value plan_schema(const StepCatalog& catalog);

}  // namespace she
