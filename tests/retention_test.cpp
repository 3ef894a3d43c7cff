// Scheduled backups with retention: the retention policy on a table of
// dated archives, backup.prune and the freshness file on the lab's backup
// storage through she-backup, and the shipped systemd units checked by
// systemd's own tools.
#include <doctest/doctest.h>

#include <ctime>
#include <filesystem>
#include <regex>
#include <set>
#include <sys/time.h>

#include "tests/procedure_lab.h"
#include "tests/test_support.h"
#include "workflows/retention_policy.h"

using namespace she;
namespace fs = std::filesystem;

namespace {

std::int64_t utc(int y, int mo, int d, int h) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  return static_cast<std::int64_t>(::timegm(&tm));
}

std::set<std::string> as_set(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

}  // namespace

TEST_CASE("retention: the policy keeps the newest of each period and leaves unverified archives out") {
  // 2024-03-04 is the Monday of ISO week 10; 2024-03-03 is in week 9.
  std::vector<DatedArchive> table = {
      {"u-newest", utc(2024, 3, 11, 9), false},  // newer than all, unverified: not the "last" one kept
      {"a1", utc(2024, 3, 10, 12), true},
      {"a2", utc(2024, 3, 10, 8), true},  // same day, week and month as a1
      {"a3", utc(2024, 3, 9, 23), true},
      {"u-mid", utc(2024, 3, 9, 12), false},
      {"a4", utc(2024, 3, 8, 10), true},
      {"a5", utc(2024, 3, 3, 10), true},  // week 9
      {"a6", utc(2024, 2, 20, 10), true},
      {"a9", utc(2024, 2, 10, 10), true},  // February already has a6
      {"a7", utc(2024, 1, 15, 10), true},
      {"a8", utc(2023, 12, 1, 10), true},  // beyond three months
  };
  RetentionPolicy p;
  p.keep_last = 1;
  p.keep_daily = 3;
  p.keep_weekly = 2;
  p.keep_monthly = 3;
  RetentionDecision d = apply_retention(p, table);
  CHECK(d.keep == std::vector<std::string>{"a1", "a3", "a4", "a5", "a6", "a7"});
  CHECK(as_set(d.remove) == std::set<std::string>{"a2", "a9", "a8"});
  CHECK(d.unverified == std::vector<std::string>{"u-newest", "u-mid"});
  CHECK(d.reasons["a1"] == std::vector<std::string>{"newest", "last 1", "daily 2024-03-10", "weekly 2024-W10", "monthly 2024-03"});
  CHECK(d.reasons["a5"] == std::vector<std::string>{"weekly 2024-W09"});
  CHECK(d.reasons["a7"] == std::vector<std::string>{"monthly 2024-01"});
  // Every archive lands in exactly one list.
  CHECK(d.keep.size() + d.remove.size() + d.unverified.size() == table.size());
}

TEST_CASE("retention: unverified archives never count toward keep_last") {
  std::vector<DatedArchive> table = {{"u1", 500, false}, {"v1", 400, true}, {"u2", 300, false},
                                     {"v2", 200, true},  {"v3", 100, true}};
  RetentionPolicy p;
  p.keep_last = 2;
  RetentionDecision d = apply_retention(p, table);
  CHECK(d.keep == std::vector<std::string>{"v1", "v2"});
  CHECK(d.remove == std::vector<std::string>{"v3"});
  CHECK(d.unverified == std::vector<std::string>{"u1", "u2"});
}

TEST_CASE("retention: the newest verified archive survives a policy that keeps nothing") {
  std::vector<DatedArchive> table = {{"old", 100, true}, {"new", 200, true}, {"newer-unverified", 300, false}};
  RetentionDecision d = apply_retention(RetentionPolicy{}, table);
  CHECK(d.keep == std::vector<std::string>{"new"});
  CHECK(d.reasons["new"] == std::vector<std::string>{"newest"});
  CHECK(d.remove == std::vector<std::string>{"old"});
  CHECK(d.unverified == std::vector<std::string>{"newer-unverified"});
  // Nothing verified: nothing removed.
  RetentionDecision none = apply_retention(RetentionPolicy{0, 7, 0, 0}, {{"x", 1, false}});
  CHECK(none.keep.empty());
  CHECK(none.remove.empty());
  CHECK(none.unverified == std::vector<std::string>{"x"});
}

TEST_CASE("retention: backup.prune refuses a policy that keeps nothing") {
  test::TempDir dir;
  fs::path plan = dir.path() / "plan.yaml";
  test::write_file(plan, "plan: p\nuses: she-backup\nenvironment: " + test::source_path("examples/three-hosts/environment.yaml") +
                             "\nwith:\n  keep_last: 0\n  keep_daily: 0\n  keep_weekly: 0\n  keep_monthly: 0\n");
  auto r = test::she_restore("validate '" + plan.string() + "'");
  CHECK(r.exit_code == 3);
  CHECK_MESSAGE(r.output.find("keeps nothing but the newest archive") != std::string::npos, r.output);
}

namespace {

/// A dated archive on the lab's backup storage with its manifest: "good"
/// (verified), "none" (no manifest), "other" (names another archive),
/// "size" (records another size).
void seed(const fs::path& dir, const std::string& name, std::int64_t when, const std::string& manifest) {
  const std::string body = "archive " + name + "\n";
  test::write_file(dir / name, body);
  if (manifest != "none") {
    nlohmann::json m = {{"archive", manifest == "other" ? "engine-someone-else.backup" : name},
                        {"sha256", std::string(64, 'a')},
                        {"bytes", manifest == "size" ? body.size() + 1 : body.size()}};
    test::write_file(dir / (name + ".manifest.json"), m.dump());
  }
  struct timeval tv[2] = {{static_cast<time_t>(when), 0}, {static_cast<time_t>(when), 0}};
  REQUIRE(::utimes((dir / name).c_str(), tv) == 0);
}

std::set<std::string> files_in(const fs::path& dir) {
  std::set<std::string> names;
  for (auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

/// The archives a dry run's output says it would delete.
std::set<std::string> shown_deletions(const std::string& output) {
  std::set<std::string> out;
  static const std::regex rm(R"(write  ssh backup_storage: rm -f -- /srv/backups/engine/(\S+) )");
  for (std::sregex_iterator it(output.begin(), output.end(), rm), end; it != end; ++it) out.insert((*it)[1]);
  return out;
}

long long sample(const std::string& prom, const std::string& metric) {
  std::smatch m;
  if (!std::regex_search(prom, m, std::regex("\n" + metric + R"(\{plan="she-backup"\} (\d+))"))) return -1;
  return std::stoll(m[1]);
}

}  // namespace

TEST_CASE("retention: she-backup prunes the lab's backup storage by the policy and the dry run lists exactly those deletions") {
  test::ProcedureLab lab;
  const std::string policy = "  keep_last: 2\n  keep_daily: 3\n  keep_weekly: 0\n  keep_monthly: 0\n";
  auto first = lab.run("she-backup", policy);
  REQUIRE_MESSAGE(first.exit_code == 0, first.output);
  const fs::path storage = lab.fleet.host("backup_storage").sandbox / "srv/backups/engine";
  const std::string run1 = lab.stored_backup();
  REQUIRE(!run1.empty());

  // Noon (UTC) k days ago: the day of each archive is certain.
  const std::int64_t today = std::time(nullptr) / 86400 * 86400;
  auto day = [&](int k, int hour) { return today - k * 86400 + hour * 3600; };
  seed(storage, "engine-d1.backup", day(1, 12), "good");    // daily: yesterday
  seed(storage, "engine-d1b.backup", day(1, 11), "good");   // yesterday again: deleted
  seed(storage, "engine-d2.backup", day(2, 12), "good");    // daily: two days ago
  seed(storage, "engine-d3.backup", day(3, 12), "good");    // beyond three days: deleted
  seed(storage, "engine-u1.backup", day(5, 12), "none");    // unverified: left alone
  seed(storage, "engine-u2.backup", day(6, 12), "other");
  seed(storage, "engine-u3.backup", day(7, 12), "size");
  test::write_file(storage / "notes.txt", "not an archive\n");
  const std::set<std::string> before = files_in(storage);

  // The dry run reads the listing live and deletes nothing.
  auto dry = lab.dry_run("she-backup", policy + "  metrics_dir: " + lab.metrics_dir().string() + "\n");
  REQUIRE_MESSAGE(dry.exit_code == 0, dry.output);
  CHECK(shown_deletions(dry.output) == std::set<std::string>{"engine-d1b.backup", "engine-d3.backup"});
  CHECK(files_in(storage) == before);

  auto second = lab.run("she-backup", policy, "--new-run");
  REQUIRE_MESSAGE(second.exit_code == 0, second.output);
  std::set<std::string> expected = before;
  for (const std::string gone : {"engine-d1b.backup", "engine-d3.backup"}) {
    expected.erase(gone);
    expected.erase(gone + ".manifest.json");
  }
  std::set<std::string> after = files_in(storage);
  std::string run2;
  for (const auto& n : after)
    if (!before.count(n) && n.size() > 7 && n.substr(n.size() - 7) == ".backup") run2 = n;
  REQUIRE(!run2.empty());
  expected.insert({run2, run2 + ".manifest.json"});
  CHECK(after == expected);
  CHECK(after.count(run1) == 1);
  // Each unverified archive is named, with why, and left for the operator.
  for (const std::string u : {"engine-u1.backup: no manifest beside it", "engine-u2.backup: its manifest names another archive",
                              "engine-u3.backup: its size (25 bytes) is not the one its manifest records"})
    CHECK_MESSAGE(second.output.find("left alone, not counted: " + u) != std::string::npos, second.output);

  // The freshness file records the success and the archive's size.
  const std::string prom = test::read_file(lab.metrics_dir() / "she_backup_she-backup.prom");
  CHECK(sample(prom, "she_backup_last_run_success") == 1);
  CHECK(sample(prom, "she_backup_last_archive_size_bytes") == static_cast<long long>(fs::file_size(storage / run2)));
  CHECK(sample(prom, "she_backup_last_success_timestamp_seconds") >= day(0, 0));
  CHECK(prom.find("# TYPE she_backup_last_success_timestamp_seconds gauge") != std::string::npos);
  // Written through a temp file and renamed: none is left beside it.
  CHECK(files_in(lab.metrics_dir()) == std::set<std::string>{"she_backup_she-backup.prom"});
}

TEST_CASE("retention: a failed she-backup is recorded in the freshness file and keeps the last success") {
  test::ProcedureLab lab;
  auto ok = lab.run("she-backup");
  REQUIRE_MESSAGE(ok.exit_code == 0, ok.output);
  const fs::path prom = lab.metrics_dir() / "she_backup_she-backup.prom";
  const long long success_at = sample(test::read_file(prom), "she_backup_last_success_timestamp_seconds");
  const long long bytes = sample(test::read_file(prom), "she_backup_last_archive_size_bytes");
  REQUIRE(success_at > 0);
  REQUIRE(bytes > 0);

  lab.fleet.set_faults("engine", R"({"fail": [{"match": "engine-backup", "message": "FATAL: disk full", "exit": 1}]})");
  auto failed = lab.run("she-backup", "", "--new-run");
  REQUIRE(failed.exit_code == 1);
  const std::string text = test::read_file(prom);
  CHECK(sample(text, "she_backup_last_run_success") == 0);
  CHECK(sample(text, "she_backup_last_success_timestamp_seconds") == success_at);
  CHECK(sample(text, "she_backup_last_archive_size_bytes") == bytes);
  CHECK(sample(text, "she_backup_last_run_timestamp_seconds") >= success_at);
}

namespace {

/// The shipped units with the built binary in ExecStart, as instance PLAN.
fs::path units_for_test(const fs::path& dir) {
  for (const std::string kind : {"service", "timer"}) {
    std::string text = test::read_file(test::source_path("packaging/systemd/she-backup@." + kind));
    text = std::regex_replace(text, std::regex("@SHE_RESTORE_BIN@"), SHE_RESTORE_BINARY);
    test::write_file(dir / ("she-backup@lab." + kind), text);
  }
  return dir;
}

}  // namespace

TEST_CASE("retention: systemd-analyze verifies the shipped units") {
  test::TempDir dir;
  fs::path units = units_for_test(dir.path());
  auto r = test::run("cd '" + units.string() + "' && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "
                     "./she-backup@lab.service ./she-backup@lab.timer 2>&1");
  CHECK_MESSAGE(r.exit_code == 0, r.output);
  CHECK_MESSAGE(r.output.find("she-backup") == std::string::npos, r.output);  // no warning about our units
  const std::string service = test::read_file(units / "she-backup@lab.service");
  CHECK(service.find("Type=oneshot") != std::string::npos);
  CHECK(service.find(std::string("ExecStart=") + SHE_RESTORE_BINARY + " --yes --new-run") != std::string::npos);
  CHECK(service.find("/etc/she-restore/%i.yaml") != std::string::npos);
  const std::string timer = test::read_file(units / "she-backup@lab.timer");
  CHECK(timer.find("Persistent=true") != std::string::npos);
  CHECK(timer.find("RandomizedDelaySec=") != std::string::npos);
}

TEST_CASE("retention: systemd-analyze calendar accepts the timer's default schedule") {
  const std::string timer = test::read_file(test::source_path("packaging/systemd/she-backup@.timer"));
  std::smatch m;
  REQUIRE(std::regex_search(timer, m, std::regex(R"(\nOnCalendar=([^\n]+))")));
  auto r = test::run("systemd-analyze calendar '" + m[1].str() + "' 2>&1");
  CHECK_MESSAGE(r.exit_code == 0, r.output);
  CHECK_MESSAGE(r.output.find("Normalized form: *-*-* 02:30:00") != std::string::npos, r.output);
  CHECK(r.output.find("Next elapse:") != std::string::npos);
}
