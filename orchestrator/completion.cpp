#include "orchestrator/completion.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <iostream>
#include <map>

#include "base/diagnostics.h"
#include "base/yaml_reader.h"
#include "orchestrator/exit_codes.h"
#include "workflows/plan.h"
#include "workflows/step_type.h"

namespace she {

namespace {

/// How the script completes an option's value (or a positional), by its
/// name. What is not here is free text (--param, --run, ...): nothing is
/// offered, rather than file names that would be wrong.
const std::map<std::string, std::string>& value_completions() {
  static const std::map<std::string, std::string> m = {
      {"--env", "_she_restore_files '*.yaml'"},
      {"--answers", "_she_restore_files '*.yaml'"},
      {"--state-dir", "_she_restore_dirs"},
      {"--from", "_she_restore_step_ids"},
      {"plan", "_she_restore_files '*.yaml'"},
      {"file", "_she_restore_files '*'"},
  };
  return m;
}

/// Hidden options and subcommands (group "") are the script's own helpers.
bool shown(const CLI::Option* o) { return !o->get_group().empty(); }

std::vector<std::string> flag_names(const CLI::Option* o) {
  std::vector<std::string> names;
  for (auto& s : o->get_snames()) names.push_back("-" + s);
  for (auto& l : o->get_lnames()) names.push_back("--" + l);
  return names;
}

/// The choices of an option checked with CLI::IsMember, whose validator
/// describes them as "{a,b}".
std::vector<std::string> choices_of(CLI::Option* o) {
  std::vector<std::string> out;
  for (int i = 0;; ++i) {
    CLI::Validator* v;
    try {
      v = o->get_validator(i);
    } catch (const CLI::OptionNotFound&) {
      break;
    }
    std::string d = v->get_description();
    if (d.size() < 2 || d.front() != '{' || d.back() != '}') continue;
    std::string list = d.substr(1, d.size() - 2);
    size_t start = 0;
    while (start <= list.size()) {
      size_t end = std::min(list.find(',', start), list.size());
      out.push_back(list.substr(start, end - start));
      start = end + 1;
    }
  }
  return out;
}

std::string words(const std::vector<std::string>& w) { return fmt::format("{}", fmt::join(w, " ")); }

/// One command level (the top, or a subcommand `name`): the case arms that
/// complete its option values, its flags, and its positionals.
struct Level {
  std::string name;
  std::vector<std::string> flags;
  std::vector<std::string> value_arms;  // "name:--opt) ACTION ;;"
  std::vector<std::string> takes_value;
  std::string positional;  // the action for a word that is not a flag
};

Level level_of(CLI::App& app, const std::string& name, const std::string& type_words) {
  Level l;
  l.name = name;
  for (CLI::Option* o : app.get_options([](CLI::Option* o) { return shown(o); })) {
    if (!o->nonpositional()) {
      const std::string& p = o->get_name();
      if (p == "type") l.positional = "_she_restore_words '" + type_words + "'";
      else if (auto c = choices_of(o); !c.empty()) l.positional = "_she_restore_words '" + words(c) + "'";
      else if (auto it = value_completions().find(p); it != value_completions().end()) l.positional = it->second;
      continue;
    }
    std::vector<std::string> names = flag_names(o);
    l.flags.insert(l.flags.end(), names.begin(), names.end());
    if (o->get_expected_max() == 0) continue;  // a flag: no value follows
    l.takes_value.insert(l.takes_value.end(), names.begin(), names.end());
    std::string action = ":";
    if (auto c = choices_of(o); !c.empty())
      action = "_she_restore_words '" + words(c) + "'";
    else if (auto it = value_completions().find(names.back()); it != value_completions().end())
      action = it->second;
    for (auto& n : names) l.value_arms.push_back(fmt::format("      '{}:{}') {}; return 0 ;;", name, n, action));
  }
  return l;
}

const std::string kPrologue = R"(# bash completion for she-restore, written by `she-restore completion bash`.
# Load it for this shell:  source <(she-restore completion bash)
# or install it:           she-restore completion bash > /usr/share/bash-completion/completions/she-restore

_she_restore_words() {
  local IFS=$' \t\n'
  COMPREPLY+=($(compgen -W "$1" -- "$cur"))
}

_she_restore_dirs() {
  compopt -o filenames 2>/dev/null
  local IFS=$'\n'
  COMPREPLY+=($(compgen -d -- "$cur"))
}

# Directories, to walk into, and the files matching $1.
_she_restore_files() {
  _she_restore_dirs
  local IFS=$'\n'
  COMPREPLY+=($(compgen -f -X "!$1" -- "$cur"))
}

# The step ids of the plan named on the line, asked of she-restore itself:
# it reads the plan (and its procedure) without running or checking anything.
_she_restore_step_ids() {
  [[ -n $plan ]] || return 0
  local ids
  ids=$("${COMP_WORDS[0]}" )" +
                       std::string(kStepIdsCommand) + R"( "$plan" 2>/dev/null) || return 0
  _she_restore_words "$ids"
}

_she_restore() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD-1]}
  COMPREPLY=()
  # The subcommand is the first word before the cursor that names one; the
  # plan is the first *.yaml word anywhere on the line (--from may come
  # before it) that is not an option's value.
  local sub= plan= word i
  for ((i = 1; i < ${#COMP_WORDS[@]}; i++)); do
    ((i == COMP_CWORD)) && continue
    word=${COMP_WORDS[i]}
    case $word in
)";

}  // namespace

std::string bash_completion(CLI::App& app, const StepCatalog& catalog) {
  std::string type_words = words(catalog.names());
  std::vector<Level> levels = {level_of(app, "", type_words)};
  std::vector<std::string> subcommands;
  for (CLI::App* sub : app.get_subcommands([](CLI::App* s) { return !s->get_group().empty(); })) {
    subcommands.push_back(sub->get_name());
    levels.push_back(level_of(*sub, sub->get_name(), type_words));
  }
  std::vector<std::string> takes_value;
  for (auto& l : levels) takes_value.insert(takes_value.end(), l.takes_value.begin(), l.takes_value.end());
  std::sort(takes_value.begin(), takes_value.end());
  takes_value.erase(std::unique(takes_value.begin(), takes_value.end()), takes_value.end());

  std::string s = kPrologue;
  s += fmt::format("      {}) ((i++)); continue ;;\n", fmt::join(takes_value, "|"));
  s += "      -*) continue ;;\n    esac\n";
  s += fmt::format("    if [[ -z $sub && -z $plan ]] && ((i < COMP_CWORD)); then\n"
                   "      case $word in {}) sub=$word; continue ;; esac\n    fi\n",
                   fmt::join(subcommands, "|"));
  s += "    [[ -z $plan && $word == *.yaml ]] && plan=$word\n  done\n\n";
  s += "  # The value of an option, by the subcommand it belongs to.\n  case \"$sub:$prev\" in\n";
  for (auto& l : levels)
    for (auto& arm : l.value_arms) s += arm + "\n";
  s += "  esac\n\n  if [[ $cur == -* ]]; then\n    case $sub in\n";
  for (auto& l : levels) s += fmt::format("      '{}') _she_restore_words '{}' ;;\n", l.name, words(l.flags));
  s += "    esac\n    return 0\n  fi\n\n  case $sub in\n";
  for (auto& l : levels) {
    std::string action = l.positional.empty() ? ":" : l.positional;
    // At the top, a word is a subcommand or the plan to run.
    if (l.name.empty()) action = "_she_restore_words '" + words(subcommands) + "'; " + action;
    s += fmt::format("      '{}') {} ;;\n", l.name, action);
  }
  s += "  esac\n  return 0\n}\n\ncomplete -F _she_restore she-restore\n";
  return s;
}

int print_step_ids(const std::string& plan_file) {
  Diagnostics diags;
  std::optional<YAML::Node> plan = read_yaml_file(plan_file, {"command line", 0, 0}, diags);
  if (!plan || !plan->IsMap()) return exit_code::kInvalidPlan;
  YAML::Node steps = (*plan)["steps"];
  if (YAML::Node uses = (*plan)["uses"]; uses && uses.IsScalar()) {
    std::string file = find_procedure_file(plan_file, uses.Scalar());
    if (file.empty()) return exit_code::kInvalidPlan;
    std::optional<YAML::Node> procedure = read_yaml_file(file, {plan_file, 0, 0}, diags);
    if (!procedure || !procedure->IsMap()) return exit_code::kInvalidPlan;
    steps = (*procedure)["steps"];
  }
  if (!steps || !steps.IsSequence()) return exit_code::kInvalidPlan;
  // A block's or group's id, then its steps' (--from takes either).
  auto print = [](const YAML::Node& step) {
    if (step.IsMap() && step["id"] && step["id"].IsScalar()) std::cout << step["id"].Scalar() << "\n";
  };
  for (const YAML::Node& step : steps) {
    print(step);
    for (const char* inner_key : {"steps", "parallel"})
      if (step.IsMap() && step[inner_key] && step[inner_key].IsSequence())
        for (const YAML::Node& inner : step[inner_key]) print(inner);
  }
  return exit_code::kOk;
}

}  // namespace she
