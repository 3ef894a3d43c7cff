#include "orchestrator/invocation.h"

#include "hosts/shell_quote.h"

namespace she {

namespace {

enum Flags { Binding = 1, State = 2, Answers = 4 };

std::string command(const Invocation& inv, std::vector<std::string> argv, int flags, std::string_view extra) {
  argv.push_back(inv.plan_file);
  if ((flags & State) && !inv.state_dir.empty()) argv.insert(argv.end(), {"--state-dir", inv.state_dir});
  if ((flags & Binding) && !inv.env_file.empty()) argv.insert(argv.end(), {"--env", inv.env_file});
  if (flags & Binding)
    for (const auto& [name, value] : inv.params) argv.insert(argv.end(), {"--param", name + "=" + value});
  if ((flags & Answers) && !inv.answers_file.empty()) argv.insert(argv.end(), {"--answers", inv.answers_file});
  if ((flags & Answers) && inv.yes) argv.push_back("--yes");
  std::string out = shell_join(argv);
  if (!extra.empty()) out.append(" ").append(extra);
  return out;
}

}  // namespace

std::string Invocation::run(std::string_view extra) const {
  return command(*this, {"she-restore"}, Binding | State | Answers, extra);
}

std::string Invocation::subcommand(std::string_view name, std::string_view extra) const {
  return command(*this, {"she-restore", std::string(name)}, Binding | State, extra);
}

std::string Invocation::dry_run() const { return command(*this, {"she-restore", "--dry-run"}, Binding, {}); }

}  // namespace she
