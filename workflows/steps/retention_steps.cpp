// backup.prune: a retention policy (workflows/retention_policy.h) applied to
// the archives on backup storage. Only an archive whose manifest shows it
// was verified when stored takes part; any other one is reported and left
// alone, since deleting what nobody checked, or keeping it in place of a
// good one, would both hide a problem from the operator.
#include <fmt/format.h>

#include <cctype>
#include <cstdlib>
#include <map>

#include "workflows/retention_policy.h"
#include "workflows/steps/host_step.h"
#include "workflows/steps/schema.h"

namespace she {

using namespace schema;

namespace {

/// A listing bigger than this is refused rather than read in part: a
/// policy applied to a partial listing could delete the wrong archives.
constexpr size_t kMaxListing = 16 * 1024 * 1024;

constexpr const char* kManifestSuffix = ".manifest.json";

struct Listed {
  std::int64_t time = 0;
  long long bytes = 0;
};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool is_sha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

/// `find -printf '%T@ %s %f\0'` output: modification time (fractional
/// seconds), size, file name; NUL-separated, so a name cannot forge a line.
std::map<std::string, Listed> parse_listing(const std::string& text) {
  std::map<std::string, Listed> out;
  size_t start = 0;
  for (size_t end; (end = text.find('\0', start)) != std::string::npos; start = end + 1) {
    std::string rec = text.substr(start, end - start);
    size_t s1 = rec.find(' '), s2 = s1 == std::string::npos ? s1 : rec.find(' ', s1 + 1);
    if (s2 == std::string::npos) continue;
    char* stop = nullptr;
    double t = std::strtod(rec.c_str(), &stop);
    if (stop != rec.c_str() + s1) continue;
    long long bytes = std::strtoll(rec.c_str() + s1 + 1, &stop, 10);
    if (stop != rec.c_str() + s2) continue;
    out[rec.substr(s2 + 1)] = {static_cast<std::int64_t>(t), bytes};
  }
  return out;
}

class Prune : public HostStep {
 public:
  Prune()
      : HostStep("backup.prune", StepKind::Idempotent,
                 "delete old archives on backup storage by a retention policy (restic-like), verified ones only",
                 {optional("host", ParamType::SshTarget, "backup_storage", "where the archives are"),
                  required("dir", ParamType::RemotePath, "the directory holding the archives"),
                  optional("prefix", ParamType::String, "engine-", "archive names start with this"),
                  optional("suffix", ParamType::String, ".backup", "archive names end with this"),
                  optional("keep_last", ParamType::Int, 0, "keep the newest N archives"),
                  optional("keep_daily", ParamType::Int, 0, "keep the newest archive of each of the last N days (UTC)"),
                  optional("keep_weekly", ParamType::Int, 0, "keep the newest archive of each of the last N ISO weeks"),
                  optional("keep_monthly", ParamType::Int, 0, "keep the newest archive of each of the last N months")},
                 {{"kept", true, "verified archives kept, newest first"},
                  {"deleted", true, "verified archives deleted (with their manifests)"},
                  {"unverified", true, "archives without a verified manifest: left alone, not counted"},
                  {"newest", false, "the newest verified archive (always kept), empty when there is none"}}) {}

  void check_rules(const StepContext& ctx) const override {
    RetentionPolicy p = policy(ctx);
    for (int n : {p.keep_last, p.keep_daily, p.keep_weekly, p.keep_monthly})
      if (n < 0) throw StepRuleError("backup.prune: a keep_* count cannot be negative");
    if (!p.keeps_anything())
      throw StepRuleError("backup.prune: the policy keeps nothing but the newest archive; set keep_last, keep_daily, "
                          "keep_weekly or keep_monthly");
    if (ctx.text("suffix").empty() || ends_with(ctx.text("suffix"), kManifestSuffix))
      throw StepRuleError("backup.prune: suffix must name the archives (such as .backup), not their manifests");
  }

 protected:
  StepResult run(const StepContext& ctx) const override {
    SshSession& ssh = session(ctx);
    const std::string dir = ctx.text("dir");
    std::map<std::string, Listed> files = parse_listing(list(ctx, ssh, dir));

    std::vector<DatedArchive> archives;
    std::map<std::string, std::string> why_unverified;
    for (const auto& [name, at] : files) {
      if (name.rfind(ctx.text("prefix"), 0) != 0 || !ends_with(name, ctx.text("suffix"))) continue;
      std::string why = files.count(name + kManifestSuffix) ? manifest_problem(ctx, ssh, dir, name, at.bytes)
                                                              : "no manifest beside it";
      if (!why.empty()) why_unverified[name] = why;
      archives.push_back({name, at.time, why.empty()});
    }
    RetentionDecision d = apply_retention(policy(ctx), archives);

    auto say = [&](const std::string& line) {
      if (ctx.services().progress) ctx.services().progress(line);
    };
    for (const auto& name : d.keep) say(fmt::format("keep   {} ({})", name, fmt::join(d.reasons[name], ", ")));
    for (const auto& name : d.unverified)
      say(fmt::format("WARNING: left alone, not counted: {}: {}; check it (she-restore verify-backup) and write its "
                      "manifest, or remove it by hand",
                      name, why_unverified[name]));
    for (const auto& name : d.remove) {
      // The archive first: a crash between the two leaves a manifest whose
      // archive is gone, which no restore would pick, rather than an
      // unverified archive.
      exec_ok(ctx, ssh, {"rm", "-f", "--", dir + "/" + name, dir + "/" + name + kManifestSuffix}, Effect::Writes);
    }
    StepResult res;
    res.outputs["kept"] = Value::array();
    res.outputs["deleted"] = Value::array();
    res.outputs["unverified"] = Value::array();
    for (const auto& n : d.keep) res.outputs["kept"].push_back(n);
    for (const auto& n : d.remove) res.outputs["deleted"].push_back(n);
    for (const auto& n : d.unverified) res.outputs["unverified"].push_back(n);
    res.outputs["newest"] = d.keep.empty() ? std::string() : d.keep.front();
    return res;
  }

 private:
  static RetentionPolicy policy(const StepContext& ctx) {
    RetentionPolicy p;
    p.keep_last = static_cast<int>(ctx.number("keep_last"));
    p.keep_daily = static_cast<int>(ctx.number("keep_daily"));
    p.keep_weekly = static_cast<int>(ctx.number("keep_weekly"));
    p.keep_monthly = static_cast<int>(ctx.number("keep_monthly"));
    return p;
  }

  /// The directory's regular files, read whole (a read: a dry run makes it).
  /// No directory is no archive to prune: a dry run on fresh backup storage,
  /// before the copy that creates it, sees that too.
  static std::string list(const StepContext& ctx, SshSession& ssh, const std::string& dir) {
    ExecOptions o;
    o.runner = ctx.services().runner;
    o.writes = false;
    o.should_stop = ctx.services().should_stop;
    if (ssh.exec(shell_join({"test", "-d", dir}), o).exit_status != 0) return {};
    std::vector<std::string> argv = {"find", dir, "-maxdepth", "1", "-type", "f", "-printf", "%T@ %s %f\\0"};
    std::string text;
    bool too_big = false;
    o.on_stdout = [&](const char* d, size_t n) {
      if (text.size() + n > kMaxListing) too_big = true;
      else text.append(d, n);
    };
    ExecResult r = ssh.exec(shell_join(argv), o);
    if (r.exit_status != 0)
      throw StepError("command", fmt::format("{}: cannot list {} (exit {}): {}", ssh.target().name, dir, r.exit_status,
                                             r.stderr_tail.substr(0, 300)));
    if (too_big)
      throw StepError("fatal", fmt::format("{}: the listing of {} is over {} MiB; nothing was deleted", ssh.target().name,
                                           dir, kMaxListing >> 20));
    return text;
  }

  /// Empty when the archive's manifest shows it verified: a JSON object
  /// naming this archive with a SHA-256, and its size when it records one
  /// (she-backup writes the manifest only after backup.verify passed).
  static std::string manifest_problem(const StepContext& ctx, SshSession& ssh, const std::string& dir,
                                      const std::string& name, long long bytes) {
    ExecOptions o;
    o.runner = ctx.services().runner;
    o.writes = false;
    o.should_stop = ctx.services().should_stop;
    o.tail_bytes = kMaxListing;  // a manifest lists every host: larger than a tail on a big cluster
    ExecResult r = ssh.exec(shell_join({"cat", "--", dir + "/" + name + kManifestSuffix}), o);
    if (r.exit_status != 0) return "its manifest cannot be read";
    if (r.stdout_tail.size() >= kMaxListing) return "its manifest is too large to read";
    Value m = Value::parse(r.stdout_tail, nullptr, false);
    if (!m.is_object()) return "its manifest is not a JSON object";
    if (!m.contains("archive") || !m["archive"].is_string() || m["archive"].get<std::string>() != name)
      return "its manifest names another archive";
    if (!m.contains("sha256") || !m["sha256"].is_string() || !is_sha256(m["sha256"].get<std::string>()))
      return "its manifest has no SHA-256";
    if (m.contains("bytes") && !(m["bytes"].is_number() && m["bytes"].get<long long>() == bytes))
      return fmt::format("its size ({} bytes) is not the one its manifest records", bytes);
    return "";
  }
};

}  // namespace

void register_retention_steps(StepCatalog& c) { c.add(std::make_unique<Prune>()); }

}  // namespace she
