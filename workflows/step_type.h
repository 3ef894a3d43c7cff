// The step contract (design brief section 3). A plan is data; a step type is
// code: a small class with a parameter schema, declared outputs, a declared
// kind, and rules / check / apply / verify. A step acts on the world only
// through operations (base/operation.h) handed to the run's runner, so a
// dry run is the same code with a runner that records the writes.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/operation.h"
#include "workflows/environment.h"
#include "workflows/expression.h"

namespace she {

namespace engine_api {
struct Request;
class EngineClient;
}  // namespace engine_api
class SshSession;
class SecretStore;

/// How safely a step may be repeated; drives dry runs and resume.
enum class StepKind {
  Read,        // no effect: runs for real even in a dry run
  Idempotent,  // safe to repeat
  Once,        // must not be repeated blindly; probed on resume
};
const char* kind_name(StepKind kind);

enum class ParamType {
  String, Int, Bool, Duration, StringList, Secret,
  SshTarget,   // a host, "engine" or "backup_storage" of the environment
  FileEndpoint,  // an SSH target, or "local" (the orchestrator's own disk)
  EngineHost,  // a host as the engine knows it: a name, or a host item of a live query
  Choice, Map, Any,
  // Text of a shape of its own (workflows/typed_value.h), checked where given
  HostAddress,  // an FQDN or IP address
  HostName,     // a name the engine knows a host by
  RemotePath,   // an absolute path on a host, without '..'
};
const char* type_name(ParamType type);

struct ParamSchema {
  std::string name;
  ParamType type;
  bool required = false;
  Value default_value = nullptr;  // null: no default
  std::vector<std::string> choices;
  std::string help;
};

struct OutputSchema {
  std::string name;
  bool is_list = false;
  std::string help;
};

/// Where an SSH target resolves to, and how to log in there (paths made
/// usable, secrets as references).
struct SshEndpoint {
  std::string name;
  std::string user;
  std::string address;
  int port = 22;
  std::string key;
  std::string key_passphrase;  // reference
  std::string password;        // reference
  std::string known_hosts;
  bool accept_new_host_key = false;
  std::string settings_at;  // where its SSH settings are written: the host's entry, else the environment file
  std::string str() const;  // root@name (address:port)
};

/// A host of the engine named by a step: known id (live query item), or a
/// name the step looks up first.
struct EngineHostRef {
  std::string name;
  std::string id;   // empty when it has to be looked up by name
  std::string id_or_placeholder() const;
};

class StepRuleError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Raised by the parts of the contract a later milestone fills in.
class NotImplemented : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A step's failure, with the class a step's `retry.on` names
/// (transport, timeout, server, conflict, command) or "fatal".
class StepError : public std::runtime_error {
 public:
  StepError(std::string error_class, const std::string& message)
      : std::runtime_error(message), class_(std::move(error_class)) {}
  const std::string& error_class() const { return class_; }

 private:
  std::string class_;
};

/// The step cannot go on without a person: no answer to a prompt, or a
/// check only a human can make. The run pauses with exit code 4.
class AwaitingOperator : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The person at the terminal, or the answers given in advance.
class OperatorChannel {
 public:
  virtual ~OperatorChannel() = default;
  /// The answer to `question` (asked by `key`, a step id and item), or
  /// nothing when no answer can be had: no terminal and none given.
  virtual std::optional<std::string> ask(const std::string& key, const std::string& question,
                                         const std::vector<std::string>& choices) = 0;
  /// Who answers (the login name), for the journal.
  virtual std::string who() const = 0;
  /// Where the last answer came from: "terminal", "--yes", "answers file".
  virtual std::string source() const = 0;
};

/// What a running step may use besides its parameters.
struct RunServices {
  OperatorChannel* operator_channel = nullptr;
  /// True once the run must stop (signal) or the step's time is up: every
  /// call in flight asks it and, once true, throws Interrupted
  /// (base/interrupted.h), which steps, probes and verifies let pass.
  std::function<bool()> should_stop;
  /// A progress line for the operator and the log (never secret values).
  std::function<void(const std::string&)> progress;
  /// A key identifying this step and loop item, stable across resumes.
  std::string iteration_key;
  /// Sent as Correlation-Id so the engine's events can be matched to the step.
  std::string correlation_id;
  /// The run's engine connection, made on first use (throws StepError when
  /// it cannot be made, e.g. the password reference cannot be read). With
  /// `via`, a connection through an SSH tunnel from that host, also kept.
  std::function<engine_api::EngineClient&(const SshEndpoint* via)> engine;
  /// An SSH session to a host, this thread's own, made on first use. A
  /// second `lane` gives a separate session to the same host (a host to
  /// host copy reads with one and writes with the other).
  std::function<SshSession&(const SshEndpoint&, int lane)> ssh;
  /// Performs every operation of the step: the run's runner, or a dry
  /// run's, which performs reads and records writes.
  OperationRunner* runner = nullptr;
  /// The only resolver of secret references (a dry run's gives stand-ins).
  const SecretStore* secrets = nullptr;
  /// A file holding a secret is about to be placed on a host (`placed`
  /// true) or is gone from it: the run journals each, so one left behind by
  /// a crash or a failed removal is found and removed, or reported.
  std::function<void(const std::string& host, const std::string& path, bool placed)> secret_file;
};

/// What a read-only probe found: the effect is in place, is not, or the
/// probe cannot tell (then a resumed `once` step waits for the operator).
enum class CheckResult {
  Done,
  NotDone,
  Unknown,
  InProgress,  // under way (a host installing, a deploy running): verify() waits for it, nothing is redone
};

struct StepResult {
  Value outputs = Value::object();  // captured values, journaled
};

/// Resolved parameters of one step (or one loop iteration) plus the
/// environment. Values known only at run time are deferred and render as
/// <path>.
class StepContext {
 public:
  StepContext(const Environment& env, std::string step_id, Value params, const RunServices* services = nullptr);

  const Environment& env() const { return env_; }
  const std::string& step_id() const { return step_id_; }
  const Value& params() const { return params_; }

  bool has(const std::string& name) const;
  std::string text(const std::string& name) const;
  bool flag(const std::string& name) const;
  long long number(const std::string& name) const;
  std::vector<std::string> texts(const std::string& name) const;
  SshEndpoint ssh(const std::string& name) const;
  EngineHostRef engine_host(const std::string& name) const;
  /// The value of a secret parameter, through the run's secret store;
  /// StepError when it cannot be read.
  std::string secret(const std::string& name) const;
  /// Services of a run; a dry run and validation have none.
  const RunServices& services() const;

 private:
  const Environment& env_;
  std::string step_id_;
  Value params_;
  const RunServices* services_;
};

class StepType {
 public:
  StepType(std::string name, StepKind kind, std::string summary,
           std::vector<ParamSchema> params, std::vector<OutputSchema> outputs);
  virtual ~StepType() = default;

  const std::string& name() const { return name_; }
  StepKind kind() const { return kind_; }
  const std::string& summary() const { return summary_; }
  const std::vector<ParamSchema>& params() const { return params_; }
  const std::vector<OutputSchema>& outputs() const { return outputs_; }
  const ParamSchema* param(const std::string& name) const;
  const OutputSchema* output(const std::string& name) const;

  /// Throws StepRuleError when the parameters break a rule of the tool
  /// being driven; validation calls it, so a plan that would be refused is
  /// refused up front, and so does every run and dry run before acting
  /// (through check_values).
  virtual void check_rules(const StepContext& /*ctx*/) const {}
  /// The parameters as the run resolved them, before any effect: each value
  /// of a typed kind (host address, host name, remote path) checked again,
  /// since one made of an earlier step's output (a host's answer) was not
  /// there to check when the plan was validated; then check_rules. Throws
  /// StepRuleError naming the parameter, never repeating its value.
  void check_values(const StepContext& ctx) const;

  /// Read-only probe: is the effect already in place? Used on resume and
  /// before retrying a `once` step. When it says Done it also fills in the
  /// values the step would have captured (a Done without them counts as
  /// Unknown when later steps need them).
  virtual CheckResult check(const StepContext& ctx, Value& outputs) const;
  /// Performs the step and returns what it captured.
  virtual StepResult apply(const StepContext& ctx) const;
  /// Confirms the effect (for example polls until a host is in maintenance).
  virtual void verify(const StepContext& ctx) const;
  /// Whether apply/check/verify are real yet; a run refuses a plan with a
  /// step that is not, before it starts anything.
  virtual bool runnable() const { return false; }

 private:
  std::string name_;
  StepKind kind_;
  std::string summary_;
  std::vector<ParamSchema> params_;
  std::vector<OutputSchema> outputs_;
};

/// All step types, by name.
class StepCatalog {
 public:
  /// The built-in catalog, built once.
  static const StepCatalog& builtin();
  /// Adds a step type to the built-in catalog before any plan is loaded
  /// (the testbed's test.* types).
  static void register_extra(std::unique_ptr<StepType> type);

  void add(std::unique_ptr<StepType> type);
  const StepType* find(const std::string& name) const;
  std::vector<std::string> names() const;
  const std::vector<std::unique_ptr<StepType>>& all() const { return types_; }

 private:
  std::vector<std::unique_ptr<StepType>> types_;
};

// Each family of step types registers itself (workflows/steps/*.cpp).
void register_engine_steps(StepCatalog& catalog);
void register_host_steps(StepCatalog& catalog);
void register_backup_steps(StepCatalog& catalog);
void register_postgres_steps(StepCatalog& catalog);
void register_legacy_deploy_steps(StepCatalog& catalog);
void register_retention_steps(StepCatalog& catalog);
void register_metrics_steps(StepCatalog& catalog);
void register_control_steps(StepCatalog& catalog);
void register_ovm_steps(StepCatalog& catalog);

}  // namespace she
