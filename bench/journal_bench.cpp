// Journal figures: append throughput with an fsync per record (the price of
// durability), against plain buffered appends measured in the same run, and
// the time to resume from a 100,000-record journal: from its checkpoint
// with the most records after it a crash can leave (kCheckpointEvery - 1),
// against reading and replaying every record (the baseline: the journal
// without a checkpoint), both in the same run.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <string>
#include <unistd.h>

#include "orchestrator/journal.h"
#include "orchestrator/run_state.h"

using namespace she;
using Clock = std::chrono::steady_clock;

namespace {

Value sample_record(long i) {
  return {{"t", i % 2 ? "step_succeeded" : "step_started"},
          {"step", fmt::format("step-{}", i / 2 % 500)},
          {"iter", std::to_string(i % 7)},
          {"attempt", 1},
          {"outputs", {{"id", fmt::format("4c4c4544-{:04}-3510-8033-b3c04f4e3132", i % 10000)}, {"status", "up"}}},
          {"time", "2026-11-21T05:49:20Z"}};
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

int main(int argc, char** argv) {
  long appends = argc > 1 ? std::atol(argv[1]) : 2000;
  long resume_records = argc > 2 ? std::atol(argv[2]) : 100000;
  auto dir = std::filesystem::temp_directory_path() / fmt::format("she-bench-{}", ::getpid());
  std::filesystem::create_directories(dir);

  // 1. Durable appends: one write() and one fdatasync per record.
  {
    Journal j;
    RunState state;
    std::string warning, err;
    j.open((dir / "durable").string(), &state, &warning, &err);
    auto t = Clock::now();
    for (long i = 0; i < appends; ++i) j.append(sample_record(i), &err);
    double s = seconds_since(t);
    // Baseline: the same lines through a buffered stream, no sync.
    std::ofstream plain(dir / "plain");
    auto b = Clock::now();
    for (long i = 0; i < appends; ++i) plain << journal_line(sample_record(i));
    plain.flush();
    double sb = seconds_since(b);
    fmt::print("journal append, fsync per record: {} records in {:.3f}s = {:.0f} records/s ({:.3f} ms each)\n", appends, s,
               appends / s, 1000 * s / appends);
    fmt::print("baseline, buffered without sync: {:.0f} records/s; durability costs {:.1f}x\n", appends / sb, s / sb);
  }

  // 2. Resume: a 100,000-record journal, written without syncs for speed.
  {
    std::string path = (dir / "big").string();
    {
      std::ofstream out(path);
      out << Journal::header();
      out << journal_line({{"t", "run_started"}, {"run", "bench"}, {"plan", "bench"}});
      for (long i = 0; i < resume_records; ++i) out << journal_line(sample_record(i));
    }
    // Baseline: no checkpoint yet, so every record is checked, parsed and
    // replayed (the open then writes one).
    auto t = Clock::now();
    RunState whole;
    std::string warning, err;
    {
      Journal j;
      if (!j.open(path, &whole, &warning, &err)) return fmt::print(stderr, "{}\n", err), 1;
    }
    double every = seconds_since(t);
    // A run goes on and is killed one record short of its next checkpoint.
    {
      Journal j;
      RunState st;
      j.open(path, &st, &warning, &err);
      for (long i = 0; i < Journal::kCheckpointEvery - 1; ++i) {
        Value r = sample_record(resume_records + i);
        j.append(r, &err);
        st.apply(r);
        j.checkpoint_if_due(st, &err);
      }
    }
    auto size = std::filesystem::file_size(path);
    t = Clock::now();
    RunState resumed;
    {
      Journal j;
      if (!j.open(path, &resumed, &warning, &err)) return fmt::print(stderr, "{}\n", err), 1;
    }
    double fast = seconds_since(t);
    fmt::print("resume from {} records ({:.1f} MiB; {} after the checkpoint): {:.3f}s, {} steps in state (target < 0.2s)\n",
               resumed.records, size / 1048576.0, Journal::kCheckpointEvery - 1, fast, resumed.steps.size());
    fmt::print("baseline, every record checked, parsed and replayed (no checkpoint): {:.3f}s for {} records; "
               "the checkpoint makes a resume {:.1f}x faster\n",
               every, whole.records, every / fast);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
