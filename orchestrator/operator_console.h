// The operator as she-restore meets them: answers given in advance (an
// answers file, --yes) first, then the terminal if there is one. With
// neither, ask() returns nothing and the run stops with "awaiting operator"
// instead of hanging (oVirt's own automation hangs on a lock file here).
#pragma once

#include <map>
#include <string>

#include "workflows/step_type.h"

namespace she {

class ConsoleOperator : public OperatorChannel {
 public:
  struct Options {
    bool yes = false;          // answer "yes" wherever "yes" is a choice
    std::string answers_file;  // YAML mapping: key (step id, step id/item, resolve:...) -> answer
    bool interactive = false;  // ask on the terminal (stdin is one)
  };

  /// False with `err` when the answers file cannot be read.
  bool configure(const Options& opts, std::string* err);

  std::optional<std::string> ask(const std::string& key, const std::string& question,
                                 const std::vector<std::string>& choices) override;
  std::string who() const override;
  std::string source() const override { return last_source_; }

 private:
  std::string last_source_;
  Options opts_;
  std::map<std::string, std::string> answers_;
};

}  // namespace she
