// The plan model: a procedure (params, vars, steps) bound to an environment
// and to parameter values. Loading never executes anything; every value that
// depends on run time stays a template until a step runs.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include <yaml-cpp/yaml.h>

#include "base/diagnostics.h"
#include "base/duration.h"
#include "workflows/environment.h"
#include "workflows/expression.h"
#include "workflows/step_type.h"

namespace she {

struct RetryPolicy {
  int attempts = 1;                               // 1: no retry
  Duration backoff = std::chrono::seconds(5);     // first wait, doubled each time, with jitter
  Duration max_backoff = std::chrono::minutes(5);
  Duration total = Duration(0);                   // all attempts and waits together; 0: no cap
  std::vector<std::string> on;                    // error classes that retry
};

/// Error classes a step's retry may name.
const std::vector<std::string>& retryable_error_classes();

enum class OnFailure { Stop, Continue, Pause };
const char* on_failure_name(OnFailure f);

struct Foreach {
  enum class Kind { None, Items, HostQuery };
  Kind kind = Kind::None;
  YAML::Node items;        // Items: a sequence, or a "${...}" string
  std::string as = "item"; // the loop variable
  // HostQuery: hosts of the live engine
  std::vector<std::string> statuses;
  std::string hosted_engine = "any";  // any | yes | no
  YAML::Node exclude;                 // names, may hold templates
  SourcePos pos;
};

struct Step {
  std::string id;
  std::string name;
  std::string uses;
  const StepType* type = nullptr;
  std::vector<std::pair<std::string, YAML::Node>> with;  // as written
  std::string when;
  ExprPtr when_expr;
  SourcePos when_pos;
  Foreach foreach;
  int concurrency = 1;
  YAML::Node concurrency_expr;  // "${...}": bound with the parameters
  Duration timeout = std::chrono::minutes(30);
  RetryPolicy retry;
  OnFailure on_failure = OnFailure::Stop;
  bool in_rehearsal = true;
  bool in_real = true;
  SourcePos pos;
  WrittenAt written_at;  // e.g. where its timeout is
  /// The block (a pipeline, or a group side by side) the step belongs to:
  /// its index in Plan::blocks, -1 for a step of its own. A pipeline's
  /// steps share its loop and concurrency (copied here).
  int block = -1;

  const YAML::Node* param(const std::string& name) const;
};

/// Steps that run as one part of the walk; they stay plan steps (journal,
/// status, --from name them) and the block keeps their range.
///  - A pipeline (`foreach` + `steps`): each loop item flows through the
///    steps on its own, in order, with at most `concurrency` items in
///    flight; no item waits for another item's step.
///  - A group (`parallel`): its steps, each run once, all at the same time;
///    the walk goes on when every one has ended (checks against different
///    hosts and the engine, none waiting for another's answer).
struct Block {
  enum class Kind { Pipeline, Parallel };
  Kind kind = Kind::Pipeline;
  std::string id;
  std::string name;
  size_t first = 0;  // index of its first step in Plan::steps
  size_t count = 0;
  SourcePos pos;
};

struct ParamDecl {
  std::string name;
  std::string type = "string";  // string | int | bool | list | map | duration | secret
  bool required = false;
  YAML::Node default_value;     // may hold templates over env
  std::string description;
  SourcePos pos;
};

struct Plan {
  std::string name;
  std::string description;
  std::string file;             // the file the operator named
  std::string procedure_name;
  std::string procedure_file;   // where the steps were read from
  Environment env;
  std::vector<ParamDecl> param_decls;
  Value params = Value::object();  // resolved values, secrets as references
  std::map<std::string, SourcePos> param_pos;  // where each bound value was written (with:, default, --param)
  std::vector<std::pair<std::string, YAML::Node>> vars;
  std::vector<SourcePos> var_pos;
  Value var_values = Value::object();
  std::vector<Step> steps;
  std::vector<Block> blocks;

  const Step* find_step(const std::string& id) const;
  /// The index of step `id`, or of the first step of block `id`; -1.
  int step_index(const std::string& id) const;
  const Block* find_block(const std::string& id) const;
  /// The block step `s` belongs to, if any.
  const Block* block_of(const Step& s) const;
  /// Roots of `${...}`: params, vars, env, run, and steps (deferred: their
  /// outputs exist only once they ran).
  Value roots(bool dry_run) const;
};

struct LoadOptions {
  std::string env_file;  // --env: overrides the plan's environment
  std::vector<std::pair<std::string, std::string>> params;  // --param NAME=VALUE (YAML value)
};

/// Loads, resolves and validates a plan. Returns nothing when there is any
/// error; all of them are in `diags`.
std::optional<Plan> load_plan(const std::string& file, const LoadOptions& opts, Diagnostics& diags);

/// A later step's use of one of a step's outputs (`${steps.ID.NAME}` in its
/// parameters, condition or loop), for the operator who says an unprobed
/// step took effect: the values it would have captured must come from them.
struct OutputUse {
  std::string output;
  std::string by_step;
};
std::vector<OutputUse> output_uses(const Plan& plan, const std::string& step_id);

/// Directories searched for `uses: NAME`: SHE_RESTORE_PLANS_PATH, this
/// source tree's plans (when it still exists), the installed plans.
std::vector<std::string> procedure_search_path();

/// The file of the procedure a plan's `uses` names: a path (relative to the
/// plan) or a name on procedure_search_path(); empty when there is none.
std::string find_procedure_file(const std::string& plan_file, const std::string& uses);

/// A step's parameters: given values rendered against `roots`, defaults of
/// the step type for the rest.
Value resolve_step_params(const Step& step, const Scope& roots);
/// One of them.
Value resolve_step_param(const Step& step, const ParamSchema& param, const Scope& roots);

/// 1-based position of a YAML node in `file`.
SourcePos source_pos(const YAML::Node& node, const std::string& file);
/// The position of each value of a mapping, by key (none for a non-mapping).
WrittenAt written_at(const YAML::Node& map, const std::string& file);

/// YAML → JSON value with every `${...}` string rendered against `roots`.
/// Quoted scalars stay strings; plain ones become numbers/booleans/null.
Value resolve_node(const YAML::Node& node, const Scope& roots);

}  // namespace she
