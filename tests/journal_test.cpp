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
  RunState state;
  std::string warning, err;
  REQUIRE(j.open(path.string(), &state, &warning, &err));
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

    // Open for writing: the torn tail goes, recorded as repaired, and the
    // next record lands cleanly.
    Journal j;
    RunState state;
    REQUIRE(j.open(path.string(), &state, &warning, &err));
    CHECK(state.warnings.size() == (at_boundary ? 0u : 1u));
    REQUIRE(j.append(extra, &err));
    j.close();
    REQUIRE(Journal::read(path.string(), &loaded, &warning, &err));
    CHECK(warning.empty());
    REQUIRE(loaded.size() == complete + (at_boundary ? 1 : 2));
    if (!at_boundary) CHECK(loaded[complete]["t"] == rec::kJournalRepaired);
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
  RunState state;
  REQUIRE(j.open(path.string(), &state, &warning, &err));
  CHECK(!warning.empty());
  // The state is every intact record's, and the repair is a record of its own.
  RunState repaired = RunState::replay(expected);
  repaired.apply({{"t", rec::kJournalRepaired}, {"warning", warning}});
  CHECK(state.to_value() == repaired.to_value());
  Value next = {{"t", "step_started"}, {"step", "again"}, {"iter", ""}};
  REQUIRE(j.append(next, &err));
  j.close();
  REQUIRE(Journal::read(path.string(), &loaded, &warning, &err));
  CHECK(warning.empty());  // rewritten without the damaged record
  REQUIRE(loaded.size() == expected.size() + 2);
  CHECK(std::equal(expected.begin(), expected.end(), loaded.begin()));
  CHECK(loaded[expected.size()]["t"] == rec::kJournalRepaired);
  CHECK(loaded.back() == next);
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
  RunState state;
  std::string warning, err;
  Journal j;
  CHECK_FALSE(j.open(path.string(), &state, &warning, &err));
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

namespace {

/// A journal of `n` step records written the way a run writes it: append,
/// apply, checkpoint when due.
RunState write_run(const fs::path& path, int n) {
  Journal j;
  RunState st;
  std::string warning, err;
  REQUIRE(j.open(path.string(), &st, &warning, &err));
  for (int i = 0; i < n; ++i) {
    Value r = i == 0 ? Value{{"t", "run_started"}, {"run", "r1"}, {"plan", "p"}}
                     : Value{{"t", i % 2 ? "step_started" : "step_succeeded"}, {"step", "s" + std::to_string(i / 2)},
                             {"iter", std::to_string(i % 3)}, {"outputs", {{"n", i}}}};
    REQUIRE(j.append(r, &err));
    st.apply(r);
    REQUIRE(j.checkpoint_if_due(st, &err));
  }
  return st;
}

/// The checkpoint with its state's plan name changed (and its checksum
/// made right again): a resume that shows the name read the checkpoint.
void mark_checkpoint(const fs::path& journal, const std::string& plan_name) {
  std::string line = test::read_file(Journal::checkpoint_path(journal.string()));
  Value v = Value::parse(line.substr(17));
  v["state"]["plan_name"] = plan_name;
  test::write_file(Journal::checkpoint_path(journal.string()), journal_line(v));
}

RunState open_state(const fs::path& path, std::string* warning, std::string* err) {
  Journal j;
  RunState st;
  REQUIRE_MESSAGE(j.open(path.string(), &st, warning, err), *err);
  return st;
}

}  // namespace

TEST_CASE("journal checkpoint: a resume reads the checkpoint and the records after it - the state every record gives") {
  test::TempDir dir;
  auto path = dir.path() / "journal";
  // test_main sets a checkpoint every 3 records: 20 records leave 2 after the last.
  RunState written = write_run(path, 20);
  REQUIRE(fs::exists(Journal::checkpoint_path(path.string())));
  std::vector<Value> records;
  std::string warning, err;
  REQUIRE(Journal::read(path.string(), &records, &warning, &err));
  CHECK(RunState::replay(records).to_value() == written.to_value());

  RunState resumed = open_state(path, &warning, &err);
  CHECK(warning.empty());
  CHECK(resumed.to_value() == written.to_value());
  CHECK(resumed.records == 20);

  // Read the checkpoint it did: a state marked in it shows (the check
  // against the whole journal is off for this).
  ::unsetenv("SHE_RESTORE_TEST_CHECK_CHECKPOINT");
  mark_checkpoint(path, "marked");
  CHECK(open_state(path, &warning, &err).plan_name == "marked");
  RunState st;
  REQUIRE(Journal::read_state(path.string(), &st, &warning, &err));
  CHECK(st.plan_name == "marked");
  ::setenv("SHE_RESTORE_TEST_CHECK_CHECKPOINT", "1", 1);
  // With the check on, a checkpoint that disagrees with the journal stops the open.
  Journal j;
  CHECK_FALSE(j.open(path.string(), &st, &warning, &err));
  CHECK(err.find("disagrees with the journal") != std::string::npos);
}

TEST_CASE("journal checkpoint: one that does not name a prefix of the journal is not used") {
  test::TempDir dir;
  auto path = dir.path() / "journal";
  std::string warning, err;
  ::unsetenv("SHE_RESTORE_TEST_CHECK_CHECKPOINT");
  SUBCASE("a byte of the covered records damaged") {
    RunState written = write_run(path, 20);
    mark_checkpoint(path, "marked");
    std::string data = test::read_file(path);
    size_t second = data.find('\n', data.find('\n') + 1) + 1;  // the second record
    data[second + 30] ^= 0x20;
    test::write_file(path, data);
    RunState st = open_state(path, &warning, &err);
    CHECK(st.plan_name == "p");  // every intact record, read whole
    CHECK(warning.find("skipped 1 damaged record") != std::string::npos);
    CHECK(st.records == 20);  // 19 intact and the repair
  }
  SUBCASE("the journal shorter than the checkpoint says") {
    write_run(path, 20);
    mark_checkpoint(path, "marked");
    std::string data = test::read_file(path);
    size_t cut = data.size();
    for (int i = 0; i < 5; ++i) cut = data.rfind('\n', cut - 2) + 1;
    test::write_file(path, data.substr(0, cut));
    RunState st = open_state(path, &warning, &err);
    CHECK(st.plan_name == "p");
    CHECK(st.records == 15);
  }
  SUBCASE("the checkpoint itself damaged") {
    RunState written = write_run(path, 20);
    std::string cp = test::read_file(Journal::checkpoint_path(path.string()));
    cp[cp.size() / 2] ^= 0x20;
    test::write_file(Journal::checkpoint_path(path.string()), cp);
    CHECK(open_state(path, &warning, &err).to_value() == written.to_value());
  }
  ::setenv("SHE_RESTORE_TEST_CHECK_CHECKPOINT", "1", 1);
}
