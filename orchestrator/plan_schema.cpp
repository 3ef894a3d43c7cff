#include "orchestrator/plan_schema.h"

#include <fmt/format.h>
#include <string>
#include <vector>

#include "engine_api/requests.h"
#include "workflows/environment.h"
#include "workflows/plan.h"
#include "workflows/step_type.h"

namespace she {

namespace {

Value def_ref(const std::string& def) { return {{"$ref", "#/$defs/" + def}}; }

Value described(Value schema, const std::string& description) {
  schema["description"] = description;
  return schema;
}

Value type(const char* name) { return {{"type", name}}; }

Value one_of_texts(const std::vector<std::string>& texts) { return {{"enum", texts}}; }

/// A value that may be given as itself or as a `${...}` template that
/// resolves to one (the loader checks templated values once resolved).
Value or_template(Value schema) { return {{"anyOf", {std::move(schema), def_ref("template")}}}; }

/// One item, or a list of them: the loader reads `roles: spm` as [spm].
Value one_or_list(const Value& item) {
  return {{"anyOf", {item, {{"type", "array"}, {"items", item}, {"minItems", 1}}}}};
}

/// What a `with:` key of a step type accepts, per ParamType: the shapes
/// plan_validator.cpp's check_param_type lets through.
Value param_value(const ParamSchema& p) {
  switch (p.type) {
    case ParamType::String: return def_ref("scalar");
    case ParamType::Int: return or_template(type("integer"));
    case ParamType::Bool: return or_template(type("boolean"));
    case ParamType::Duration: return or_template(def_ref("duration"));
    case ParamType::StringList: return or_template({{"type", "array"}, {"items", def_ref("scalar")}});
    case ParamType::Secret: return or_template(def_ref("secret"));
    // A name of the environment, or a host item of a loop, a template then.
    case ParamType::SshTarget:
    case ParamType::FileEndpoint:
    case ParamType::EngineHost: return {{"type", {"string", "object"}}};
    case ParamType::Choice: return or_template(one_of_texts(p.choices));
    case ParamType::Map: return or_template(type("object"));
    case ParamType::Any: return Value::object();
    case ParamType::HostAddress:
    case ParamType::HostName: return type("string");
    case ParamType::RemotePath: return {{"type", "string"}, {"pattern", "^/|\\$\\{"}};
  }
  return Value::object();
}

Value with_of(const StepType& t) {
  Value properties = Value::object();
  std::vector<std::string> required;
  for (const ParamSchema& p : t.params()) {
    Value s = param_value(p);
    s["description"] = p.help + " (" + type_name(p.type) + (p.required ? ", required)" : ")");
    if (!p.default_value.is_null()) s["default"] = p.default_value;
    properties[p.name] = std::move(s);
    if (p.required) required.push_back(p.name);
  }
  Value with = {{"type", "object"}, {"description", t.name() + " (" + kind_name(t.kind()) + "): " + t.summary()},
                {"properties", std::move(properties)}, {"additionalProperties", false}};
  if (!required.empty()) with["required"] = required;
  return with;
}

/// A step: its own keys (parse_step), and for each step type of the
/// catalog the `with:` keys that type takes.
Value step_schema(const StepCatalog& catalog, Value& defs) {
  Value by_type = Value::array();
  for (const auto& t : catalog.all()) {
    std::string def = "with." + t->name();
    defs[def] = with_of(*t);
    Value then = {{"properties", {{"with", def_ref(def)}}}};
    for (const ParamSchema& p : t->params())
      if (p.required) then["required"] = {"with"};
    by_type.push_back({{"if", {{"properties", {{"uses", {{"const", t->name()}}}}}, {"required", {"uses"}}}},
                       {"then", std::move(then)}});
  }
  const std::vector<std::string> modes = {"rehearsal", "real"};
  Value retry_policy = {
      {"type", "object"},
      {"additionalProperties", false},
      {"properties",
       {{"attempts", {{"type", "integer"}, {"minimum", 1}, {"maximum", 100}, {"default", 3}}},
        {"backoff", described(def_ref("duration"), "first wait, doubled each time, with jitter")},
        {"max_backoff", described(def_ref("duration"), "longest wait between attempts")},
        {"total", described(def_ref("duration"), "all attempts and waits together; 0: no cap")},
        {"on", described(one_or_list(one_of_texts(retryable_error_classes())), "the error classes to retry")}}}};
  return {
      {"type", "object"},
      {"required", {"id", "uses"}},
      {"dependentRequired", {{"concurrency", {"foreach"}}}},
      {"additionalProperties", false},
      {"properties",
       {{"id", {{"type", "string"}, {"pattern", "^[a-z0-9][a-z0-9_-]*$"},
                {"description", "stable id: used by --from, the journal and the reports"}}},
        {"name", described(def_ref("scalar"), "what the operator reads; defaults to the id")},
        {"uses", described(one_of_texts(catalog.names()), "the step type (`she-restore steps` lists them)")},
        {"with", described(type("object"), "the step type's parameters")},
        {"when", described({{"type", {"string", "boolean"}}}, "an expression; the step is skipped when false")},
        {"foreach", def_ref("foreach")},
        {"concurrency", described(or_template({{"type", "integer"}, {"minimum", 1}, {"maximum", 64}}),
                                  "loop iterations run at once")},
        {"timeout", described(def_ref("duration"), "bound on each attempt, every call inside it included")},
        {"retry", described({{"anyOf", {{{"type", "integer"}, {"minimum", 1}, {"maximum", 100}}, retry_policy}}},
                            "attempts, or a policy")},
        {"on_failure", described(one_of_texts({"stop", "continue", "pause"}), "what a failure does to the run")},
        {"runs_in", described(one_or_list(one_of_texts(modes)), "rehearsal, real, or both")}}},
      {"allOf", std::move(by_type)}};
}

Value foreach_schema() {
  Value query = {{"type", "object"},
                 {"additionalProperties", false},
                 {"properties",
                  {{"status", one_or_list(one_of_texts(engine_api::host_statuses()))},
                   {"hosted_engine", {{"enum", {"yes", "no", "any", true, false}}}},
                   {"exclude", described(Value::object(), "host names (or a template) left out")}}}};
  Value mapping = {{"type", "object"},
                   {"additionalProperties", false},
                   {"properties",
                    {{"items", {{"type", {"array", "string"}}}},
                     {"hosts", described(query, "hosts the engine lists, selected live")},
                     {"as", {{"type", "string"}, {"pattern", "^[a-z_][a-z0-9_]*$"},
                             {"description", "the loop variable's name (default: item)"}}}}},
                   {"oneOf", {{{"required", {"items"}}}, {{"required", {"hosts"}}}}}};
  return described({{"anyOf", {type("array"), def_ref("template"), mapping}}},
                   "run the step once per item: a list, a ${...} list, or {items|hosts, as}");
}

Value ssh_schema(bool per_host) {
  Value properties = {
      {"user", type("string")},
      {"port", {{"type", "integer"}, {"minimum", 1}, {"maximum", 65535}}},
      {"key", described(type("string"), "private key file, relative to this file")},
      {"key_passphrase", def_ref("secret")},
      {"known_hosts", described(type("string"), "known_hosts file, relative to this file")},
      {"password", def_ref("secret")},
      {"accept_new_host_key", type("boolean")}};
  if (per_host) properties["address"] = described(type("string"), "the address to connect to, if not the host's");
  return {{"type", "object"}, {"additionalProperties", false}, {"properties", std::move(properties)}};
}

Value host_schema(std::vector<std::string> required) {
  return {{"type", "object"},
          {"additionalProperties", false},
          {"required", std::move(required)},
          {"properties",
           {{"name", described(type("string"), "the name the engine knows the host by")},
            {"address", described(type("string"), "FQDN or IP address")},
            {"hardware_id", def_ref("scalar")},
            {"roles", one_or_list(one_of_texts(known_host_roles()))},
            {"ssh", def_ref("host_ssh")},
            {"path", {{"type", "string"}, {"pattern", "^/"}}}}}};
}

// An environment needs an engine, unless it is an Oracle VM environment (a
// host with role ovm_manager): its manager is reached over SSH.
Value engine_or_ovm_manager() {
  Value with_engine = Value::object();
  with_engine["required"] = Value::array({"engine"});
  Value manager_host = Value::object();
  manager_host["required"] = Value::array({"roles"});
  manager_host["properties"]["roles"]["type"] = "array";
  manager_host["properties"]["roles"]["contains"]["const"] = "ovm_manager";
  Value with_manager = Value::object();
  with_manager["required"] = Value::array({"hosts"});
  with_manager["properties"]["hosts"]["contains"] = manager_host;
  return Value::array({with_engine, with_manager});
}

Value environment_keys() {
  Value with_engine = Value::object(), with_hosts = Value::object(), either = Value::object();
  with_engine["required"] = Value::array({"engine"});
  with_hosts["required"] = Value::array({"hosts"});
  either["anyOf"] = Value::array({with_engine, with_hosts});
  return either;
}

Value environment_schema() {
  Value engine = {
      {"type", "object"},
      {"additionalProperties", false},
      {"required", {"fqdn", "password"}},
      {"anyOf", {{{"required", {"ca_file"}}}, {{"required", {"ca_fingerprint"}}}, {{"required", {"trust_on_first_use"}}}}},
      {"properties",
       {{"fqdn", type("string")},
        {"api_url", {{"type", "string"}, {"pattern", "^https?://"}}},
        {"user", described(type("string"), "default admin@internal")},
        {"password", def_ref("secret")},
        {"ca_file", described(type("string"), "the engine CA (PEM), relative to this file")},
        {"ca_fingerprint", {{"type", "string"}, {"pattern", "^SHA256:"}}},
        {"trust_on_first_use", type("boolean")},
        {"datacenter", type("string")},
        {"cluster", type("string")},
        {"poll_interval", def_ref("duration")},
        {"vm", described(host_schema({"address"}), "the engine VM over SSH")}}}};
  Value storage = host_schema({"address", "path"});
  return {{"type", "object"},
          {"additionalProperties", false},
          {"anyOf", engine_or_ovm_manager()},
          {"properties",
           {{"environment", described(type("string"), "the environment's name")},
            {"description", type("string")},
            {"mode", one_of_texts({"real", "rehearsal"})},
            {"engine", std::move(engine)},
            {"ssh", described(def_ref("ssh"), "defaults for every host")},
            {"hosts", {{"type", "array"}, {"items", host_schema({"name", "address"})}}},
            {"backup_storage", std::move(storage)}}}};
}

Value plan_keys_schema() {
  const std::vector<std::string> param_types = {"string", "int",      "bool",     "list", "map",      "duration", "secret",
                                                "address", "hostname", "user",     "path", "filename", "url"};
  Value declaration = {{"type", "object"},
                       {"additionalProperties", false},
                       {"properties",
                        {{"type", one_of_texts(param_types)},
                         {"required", type("boolean")},
                         {"default", Value::object()},
                         {"description", type("string")}}}};
  // `name: value` declares a parameter with that default; a mapping is a
  // declaration.
  Value param = {{"if", type("object")}, {"then", declaration}};
  return {{"type", "object"},
          {"additionalProperties", false},
          {"anyOf", {{{"required", {"steps"}}}, {{"required", {"uses"}}}}},
          {"allOf",
           {{{"if", {{"required", {"uses"}}}},
             {"then", {{"properties", {{"steps", false}, {"params", false}, {"vars", false}}}}}},
            {{"not", {{"required", {"lab", "environment"}}}}}}},
          {"properties",
           {{"plan", described(def_ref("scalar"), "the plan's name")},
            {"procedure", described(def_ref("scalar"), "the procedure's name")},
            {"description", type("string")},
            {"uses", described(type("string"), "a shipped procedure's name, or a path to one")},
            {"environment", described({{"anyOf", {type("string"), def_ref("environment")}}},
                                      "an environment file (relative to this one), or one inline")},
            {"lab", described(type("string"), "a lab scenario she-restore starts for the run")},
            {"with", described(type("object"), "values of the procedure's parameters")},
            {"params", described({{"type", "object"}, {"additionalProperties", param}}, "the parameters it takes")},
            {"vars", described(type("object"), "named values, ${vars.NAME}")},
            {"steps", {{"type", "array"}, {"items", def_ref("step_or_block")}}}}}};
}

/// A block or a group: an id and name, and a list of steps under `list`
/// (plain steps: the loop is the block's, a group's steps run once).
Value steps_container(const char* kind, const char* list, const char* description, Value required, Value extra) {
  Value inner = {{"allOf", {def_ref("step"), {{"properties", {{"foreach", false}, {"concurrency", false}}}}}}};
  Value properties = {{"id", {{"type", "string"}, {"pattern", "^[a-z0-9][a-z0-9_-]*$"},
                              {"description", fmt::format("stable id: --from {} runs it again from its first step",
                                                          kind)}}},
                      {"name", described(def_ref("scalar"), "what the operator reads; defaults to the id")},
                      {list, {{"type", "array"}, {"minItems", 1}, {"items", inner}}}};
  properties.update(extra);
  return {{"type", "object"},
          {"required", required},
          {"additionalProperties", false},
          {"description", description},
          {"properties", properties}};
}

/// A block: steps each loop item goes through on its own (a pipeline).
Value block_schema() {
  return steps_container("BLOCK", "steps", "a block: each item of its loop goes through its steps in order, on its own",
                         {"id", "foreach", "steps"},
                         {{"foreach", def_ref("foreach")},
                          {"concurrency", described(or_template({{"type", "integer"}, {"minimum", 1}, {"maximum", 64}}),
                                                    "items in flight at once")}});
}

/// A group: steps run side by side, each once.
Value group_schema() {
  return steps_container("GROUP", "parallel",
                         "a group: its steps run side by side, each once; the run goes on when all have ended",
                         {"id", "parallel"}, Value::object());
}

}  // namespace

Value plan_schema(const StepCatalog& catalog) {
  Value defs = Value::object();
  defs["template"] = {{"type", "string"}, {"pattern", "\\$\\{"}, {"description", "a ${...} template"}};
  defs["scalar"] = {{"type", {"string", "number", "boolean"}}};
  defs["duration"] = {{"anyOf", {{{"type", "integer"}, {"minimum", 0}},
                                 {{"type", "string"}, {"pattern", "^([0-9]+(ms|s|m|h|d))+$|^[0-9]+$"}}}},
                      {"description", "250ms, 30s, 5m, 1h30m, 2d; a bare number is seconds"}};
  defs["secret"] = {{"type", "string"},
                    {"pattern", "^(env:[A-Za-z0-9_]+|file:.+)$"},
                    {"description", "a reference, never the value: env:NAME or file:PATH"}};
  defs["ssh"] = ssh_schema(false);
  defs["host_ssh"] = ssh_schema(true);
  defs["foreach"] = foreach_schema();
  defs["environment"] = environment_schema();
  defs["plan"] = plan_keys_schema();
  defs["step"] = step_schema(catalog, defs);
  defs["block"] = block_schema();
  defs["group"] = group_schema();
  Value group_or_step = {{"if", {{"type", "object"}, {"required", {"parallel"}}}},
                         {"then", def_ref("group")},
                         {"else", def_ref("step")}};
  defs["step_or_block"] = {{"if", {{"type", "object"}, {"required", {"steps"}}}},
                           {"then", def_ref("block")},
                           {"else", group_or_step}};
  return {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
          {"title", "she-restore plan, procedure or environment"},
          {"description", "Generated by `she-restore schema` from its step catalog. `she-restore validate` checks "
                          "what a schema cannot: hosts, references, secrets, files."},
          {"type", "object"},
          // An environment has an engine, or (Oracle VM) hosts without one; a plan has neither key.
          {"if", environment_keys()},
          {"then", def_ref("environment")},
          {"else", def_ref("plan")},
          {"$defs", std::move(defs)}};
}

}  // namespace she
