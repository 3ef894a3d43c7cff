// metrics.textfile: the outcome of a scheduled run for node_exporter's
// textfile collector, so monitoring can alert when the last good backup is
// too old. The file is replaced atomically (temp, fsync, rename): the
// collector never reads half of one.
#include <fmt/format.h>

#include <chrono>
#include <regex>
#include <sstream>
#include <sys/stat.h>

#include "base/durable_file.h"
#include "hosts/shell_quote.h"
#include "workflows/steps/schema.h"

namespace she {

using namespace schema;

namespace {

std::string label_value(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

/// A sample's value from an earlier file, or -1 when it has none.
long long previous_sample(const std::string& text, const std::string& metric) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(metric + "{", 0) != 0 && line.rfind(metric + " ", 0) != 0) continue;
    size_t sp = line.rfind(' ');
    try {
      return std::stoll(line.substr(sp + 1));
    } catch (const std::exception&) {
      return -1;
    }
  }
  return -1;
}

class Textfile : public StepType {
 public:
  Textfile()
      : StepType("metrics.textfile", StepKind::Idempotent,
                 "record a run's outcome for node_exporter's textfile collector (a local .prom file, replaced atomically)",
                 {required("path", ParamType::RemotePath,
                           "the .prom file on this machine, e.g. /var/lib/node_exporter/textfile_collector/she_backup_PLAN.prom"),
                  optional("plan", ParamType::String, "${run.plan}", "the `plan` label"),
                  choice("result", {"started", "succeeded"}, "succeeded",
                         "started: the run is under way and counts as not succeeded until it records succeeded, so a "
                         "run that fails or dies leaves success 0; succeeded: the run made its backup"),
                  optional("archive_bytes", ParamType::Int, nullptr, "size of the archive the run stored")},
                 {{"path", false, "the file written"}}) {}

  bool runnable() const override { return true; }

  StepResult apply(const StepContext& ctx) const override {
    const std::string path = ctx.text("path");
    StepResult r;
    r.outputs["path"] = "";
    // A machine without node_exporter's collector directory gets no file
    // and a warning, not a failed backup; a directory that is there but
    // cannot be written fails the step.
    const std::string dir = path.substr(0, path.rfind('/'));
    bool dir_exists = true;
    const Operation look(Operation::Kind::Local, false, "local", "test -d " + shell_quote(dir.empty() ? "/" : dir));
    if (!perform_operation(ctx.services().runner, look, [&] {
          struct stat st {};
          dir_exists = dir.empty() || (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode));
        }))
      throw RehearsalUnknown("local: " + look.line);
    if (!dir_exists) {
      if (ctx.services().progress)
        ctx.services().progress(fmt::format("WARNING: {} does not exist (is node_exporter's textfile collector set up?): "
                                            "no freshness file written",
                                            dir));
      return r;
    }
    const bool succeeded = ctx.text("result") == "succeeded";
    const long long now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    // What the last success recorded stays until another success replaces it.
    std::string before;
    const Operation read(Operation::Kind::Local, false, "local", "read " + shell_quote(path) + " (the last success it records)");
    if (!perform_operation(ctx.services().runner, read, [&] {
          std::string err;
          if (!read_whole_file(path, &before, &err)) before.clear();  // first run: nothing recorded yet
        }))
      throw RehearsalUnknown("local: " + read.line);
    long long last_success = succeeded ? now : previous_sample(before, "she_backup_last_success_timestamp_seconds");
    long long bytes = succeeded && ctx.has("archive_bytes") ? ctx.number("archive_bytes")
                                                            : previous_sample(before, "she_backup_last_archive_size_bytes");
    std::string content = render(ctx.text("plan"), now, succeeded, std::max(0LL, last_success), std::max(0LL, bytes));

    Operation write(Operation::Kind::Local, true, "local",
                    "write " + shell_quote(path) + " (temp file, fsync, rename)");
    std::istringstream lines(content);
    for (std::string line; std::getline(lines, line);) write.detail.push_back(line);
    perform_operation(ctx.services().runner, write, [&] {
      std::string err;
      if (!write_file_durably(path, content, &err))
        throw StepError("fatal", fmt::format("{}; create its directory, or give the step another path", err));
      // The collector runs as its own user: the file holds no secret.
      ::chmod(path.c_str(), 0644);
    });
    r.outputs["path"] = path;
    return r;
  }

 private:
  static std::string render(const std::string& plan, long long now, bool succeeded, long long last_success,
                            long long bytes) {
    const std::string l = fmt::format("{{plan=\"{}\"}}", label_value(plan));
    std::string s;
    auto gauge = [&](const char* name, const char* help, long long v) {
      s += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{}{} {}\n", name, help, name, name, l, v);
    };
    gauge("she_backup_last_run_timestamp_seconds", "When the last run of the plan started or succeeded (Unix time).", now);
    gauge("she_backup_last_run_success",
          "1 when the last run succeeded; 0 while a run is under way and after one that failed or was stopped.",
          succeeded ? 1 : 0);
    gauge("she_backup_last_success_timestamp_seconds", "When a run of the plan last succeeded (Unix time; 0: never).",
          last_success);
    gauge("she_backup_last_archive_size_bytes", "Size of the archive the last successful run stored.", bytes);
    return s;
  }
};

}  // namespace

void register_metrics_steps(StepCatalog& c) { c.add(std::make_unique<Textfile>()); }

}  // namespace she
