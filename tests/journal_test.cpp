// The journal's durability rules, tested the way ninja tests its logs:
// every truncation length, a corrupted byte, appending after recovery.
#include <doctest/doctest.h>

#include <filesystem>
#include <set>
#include <sys/stat.h>

#include "orchestrator/journal.h"
#include "orchestrator/run_state.h"
#include "tests/test_support.h"

using namespace she;
namespace fs = std::filesystem;

namespace {

std::vector<Value> sample_records() {
  std::vector<Value> out;
  out.push_back({{"t", "run_started"}, {"run", "r1"}, {"plan", "p"}});
  for (int i = 0; i < 6; ++i) {
    out.push_back({{"t", "step_started"}, {"step", "s" + std::to_string(i)}, {"iter", ""}});
    out.push_back({{"t", "step_succeeded"}, {"step", "s" + std::to_string(i)}, {"iter", ""},
                   {"outputs", {{"id", "host-" + std::to_string(i)}, {"note", "ünïcode ✓ \"quoted\"\nnewline"}}}});
  }
  return out;
}

std::string write_journal(const fs::path& path, const std::vector<Value>& records) {
  Journal j;
  std::vector<Value> loaded;
  std::string warning, err;
  REQUIRE(j.open(path.string(), &loaded, &warning, &err));
  for (auto& r : records) REQUIRE(j.append(r, &err));
  j.close();
  return test::read_file(path);
}

}  // namespace

TEST_CASE("journal: records round-trip / one line each / private mode") {
  test::TempDir dir;
  auto path = dir.path() / "journal";
  auto records = sample_records();
  std::string data = write_journal(path, records);
  CHECK(data.rfind(Journal::header(), 0) == 0);
  CHECK(std::count(data.begin(), data.end(), '\n') == static_cast<long>(records.size()) + 1);
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  std::vector<Value> loaded;
  std::string warning, err;
  REQUIRE(Journal::read(path.string(), &loaded, &warning, &err));
  CHECK(warning.empty());
  CHECK(loaded == records);
}

TEST_CASE("journal: every truncation length loads a valid prefix / and appending after recovery works") {
  test::TempDir dir;
  auto full_path = dir.path() / "full";
  auto records = sample_records();
  std::string data = write_journal(full_path, records);

  // Offsets where a record ends: a cut there loses nothing else.
  std::vector<size_t> ends;
  for (size_t i = 0; i < data.size(); ++i)
    if (data[i] == '\n') ends.push_back(i + 1);

  auto path = dir.path() / "cut";
  Value extra = {{"t", "step_started"}, {"step", "after-recovery"}, {"iter", ""}};
  for (size_t len = 0; len <= data.size(); ++len) {
    CAPTURE(len);
    test::write_file(path, data.substr(0, len));
    size_t complete = 0;  // records wholly inside the first len bytes
    for (size_t k = 1; k < ends.size(); ++k)
      if (ends[k] <= len) complete = k;

    std::vector<Value> loaded;
    std::string warning, err;
    REQUIRE(Journal::read(path.string(), &loaded, &warning, &err));
    REQUIRE(loaded.size() == complete);
    CHECK(std::equal(loaded.begin(), loaded.end(), records.begin()));
    bool at_boundary = len == 0 || std::find(ends.begin(), ends.end(), len) != ends.end();
    CHECK(warning.empty() == at_boundary);

    // Open for writing: the torn tail goes, the next record lands cleanly.
    Journal j;
    REQUIRE(j.open(path.string(), &loaded, &warning, &err));
    REQUIRE(j.append(extra, &err));
    j.close();
    REQUIRE(Journal::read(path.string(), &loaded, &warning, &err));
    CHECK(warning.empty());
    REQUIRE(loaded.size() == complete + 1);
    CHECK(loaded.back() == extra);
  }
}

TEST_CASE("journal: a corrupted byte in the middle loses that record only - appends continue after recovery") {
  test::TempDir dir;
  auto path = dir.path() / "journal";
  auto records = sample_records();
  std::string data = write_journal(path, records);
  size_t fourth_start = 0;
  for (int newline = 0, i = 0; i < static_cast<int>(data.size()); ++i)
    if (data[static_cast<size_t>(i)] == '\n' && ++newline == 4) {
      fourth_start = static_cast<size_t>(i) + 1;
      break;
    }
  // Flip a byte inside the JSON of the fourth record (header is line 1).
  std::string corrupt = data;
  corrupt[fourth_start + 30] ^= 0x20;
  test::write_file(path, corrupt);
  std::vector<Value> expected = records;
  expected.erase(expected.begin() + 3);

  std::vector<Value> loaded;
  std::string warning, err;
  REQUIRE(Journal::read(path.string(), &loaded, &warning, &err));
  CHECK(loaded == expected);  // every record but the damaged one
  CHECK(warning.find("skipped 1 damaged record at byte " + std::to_string(fourth_start)) != std::string::npos);
  CHECK(test::read_file(path) == corrupt);  // reading changes nothing

  Journal j;
  REQUIRE(j.open(path.string(), &loaded, &warning, &err));
  CHECK(loaded == expected);
  CHECK(!warning.empty());
  Value next = {{"t", "step_started"}, {"step", "again"}, {"iter", ""}};
  REQUIRE(j.append(next, &err));
  j.close();
  REQUIRE(Journal::read(path.string(), &loaded, &warning, &err));
  CHECK(warning.empty());  // rewritten without the damaged record
  expected.push_back(next);
  CHECK(loaded == expected);
}

TEST_CASE("journal: a corrupted last record is a torn write and is cut") {
  test::TempDir dir;
  auto path = dir.path() / "journal";
  auto records = sample_records();
  std::string data = write_journal(path, records);
  std::string corrupt = data;
  corrupt[corrupt.size() - 5] ^= 0x20;
  test::write_file(path, corrupt);
  std::vector<Value> loaded;
  std::string warning, err;
  REQUIRE(Journal::read(path.string(), &loaded, &warning, &err));
  CHECK(loaded.size() == records.size() - 1);
  CHECK(warning.find("a corrupt last record") != std::string::npos);
}

TEST_CASE("journal: an unknown version is refused / not overwritten") {
  test::TempDir dir;
  auto path = dir.path() / "journal";
  test::write_file(path, "# she-restore journal v9\nabc {}\n");
  std::vector<Value> loaded;
  std::string warning, err;
  Journal j;
  CHECK_FALSE(j.open(path.string(), &loaded, &warning, &err));
  CHECK(err.find("version '9' is not supported") != std::string::npos);
  CHECK(test::read_file(path) == "# she-restore journal v9\nabc {}\n");
  test::write_file(path, "something else\n");
  CHECK_FALSE(Journal::read(path.string(), &loaded, &warning, &err));
  CHECK(err.find("not a she-restore journal") != std::string::npos);
}

TEST_CASE("run state: a file holding a secret is open from placed to removed - per host") {
  RunState st = RunState::replay({
      {{"t", rec::kSecretFilePlaced}, {"host", "engine"}, {"path", "/root/a"}},
      {{"t", rec::kSecretFilePlaced}, {"host", "engine"}, {"path", "/root/b"}},
      {{"t", rec::kSecretFilePlaced}, {"host", "hosted_engine_1"}, {"path", "/root/a"}},
      {{"t", rec::kSecretFileRemoved}, {"host", "engine"}, {"path", "/root/a"}},
  });
  REQUIRE(st.secret_files.size() == 2);
  CHECK(st.secret_files["engine"] == std::set<std::string>{"/root/b"});
  CHECK(st.secret_files["hosted_engine_1"] == std::set<std::string>{"/root/a"});
  st.apply({{"t", rec::kSecretFileRemoved}, {"host", "engine"}, {"path", "/root/b"}});
  st.apply({{"t", rec::kSecretFileRemoved}, {"host", "hosted_engine_1"}, {"path", "/root/a"}});
  CHECK(st.secret_files.empty());
}

TEST_CASE("journal: a long journal read in parallel stretches keeps every record in order - damage found in any stretch") {
  test::TempDir dir;
  auto path = dir.path() / "journal";
  // About 6 MiB: several stretches on any machine with more than one core.
  std::string data = Journal::header();
  std::vector<Value> records;
  for (int i = 0; i < 30000; ++i) {
    records.push_back({{"t", "step_succeeded"}, {"step", "s" + std::to_string(i)}, {"iter", std::to_string(i % 7)},
                       {"outputs", {{"n", i}, {"pad", std::string(120, 'x')}}}});
    data += journal_line(records.back());
  }
  // Damage one record in the second half and cut the last line short.
  size_t victim = data.find("\"s20000\"");
  REQUIRE(victim != std::string::npos);
  size_t victim_start = data.rfind('\n', victim) + 1;
  data[victim + 3] ^= 0x20;
  std::string torn = journal_line({{"t", "step_started"}, {"step", "torn"}});
  data += torn.substr(0, torn.size() / 2);
  test::write_file(path, data);

  std::vector<Value> loaded;
  std::string warning, err;
  REQUIRE(Journal::read(path.string(), &loaded, &warning, &err));
  std::vector<Value> expected = records;
  expected.erase(expected.begin() + 20000);
  CHECK(loaded.size() == expected.size());
  CHECK(loaded == expected);
  CHECK(warning.find("skipped 1 damaged record at byte " + std::to_string(victim_start)) != std::string::npos);
  CHECK(warning.find("a torn last record") != std::string::npos);
}
