#include "orchestrator/operator_console.h"

#include <algorithm>
#include <fmt/format.h>
#include <iostream>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include "base/yaml_reader.h"

#include "orchestrator/plan_lock.h"

namespace she {

bool ConsoleOperator::configure(const Options& opts, std::string* err) {
  opts_ = opts;
  answers_.clear();
  if (opts.answers_file.empty()) return true;
  Diagnostics diags;
  std::optional<YAML::Node> n = read_yaml_file(opts.answers_file, {}, diags);
  if (n && !n->IsMap())
    diags.error(ErrorKind::WrongType,
                {opts.answers_file, std::max(1, n->Mark().line + 1), std::max(1, n->Mark().column + 1)},
                "answers must be a mapping of 'key: answer' lines", "e.g. fence/hosted_engine_2: yes");
  if (!diags.ok()) {
    *err = diags.str();
    return false;
  }
  for (auto it = n->begin(); it != n->end(); ++it)
    answers_[it->first.as<std::string>("")] = it->second.IsScalar() ? it->second.Scalar() : "";
  return true;
}

std::optional<std::string> ConsoleOperator::ask(const std::string& key, const std::string& question,
                                                const std::vector<std::string>& choices) {
  auto valid = [&](const std::string& a) {
    return choices.empty() || std::find(choices.begin(), choices.end(), a) != choices.end();
  };
  // Most specific first: "fence/hosted_engine_2", then "fence". A question
  // about one attempt ("resolve:...@N") takes its exact key only.
  for (std::string k = key;;) {
    if (auto it = answers_.find(k); it != answers_.end() && valid(it->second)) {
      last_source_ = "answers file";
      return it->second;
    }
    size_t slash = k.rfind('/');
    if (slash == std::string::npos || key.rfind("resolve:", 0) == 0) break;
    k = k.substr(0, slash);
  }
  if (opts_.yes && std::find(choices.begin(), choices.end(), "yes") != choices.end()) {
    // Said out loud: an unattended answer is still an answer to something.
    std::cerr << question << "\n  answered yes by --yes\n";
    last_source_ = "--yes";
    return std::string("yes");
  }
  if (!opts_.interactive || !::isatty(STDIN_FILENO)) return std::nullopt;
  std::string options = fmt::format("{}", fmt::join(choices, "/"));
  for (int tries = 0; tries < 3; ++tries) {
    std::cerr << "\n" << question << "\n[" << options << "] > " << std::flush;
    std::string line;
    if (!std::getline(std::cin, line)) return std::nullopt;
    line.erase(0, line.find_first_not_of(" \t"));
    line.erase(line.find_last_not_of(" \t\r") + 1);
    if (valid(line)) {
      last_source_ = "terminal";
      return line;
    }
    std::cerr << "please answer one of: " << options << "\n";
  }
  return std::nullopt;
}

std::string ConsoleOperator::who() const { return this_user() + "@" + this_host(); }

}  // namespace she
