// The run journal: the source of truth for resume (design brief section 4).
//
// Text, append-only, one record per line:
//
//   # she-restore journal v1
//   <16 hex digits> <JSON record>
//
// The hex digits are the start of the record's SHA-256, so a torn or
// corrupted record is recognised. Each record is written with one write().
// One that announces an action is fsync'd before the action; one that
// tells an outcome (a step done) reaches the disk with the next sync (the
// file is synced whole), at the latest before the next action or when the
// journal closes. A power cut that loses it leaves what a crash between the
// action and its record leaves: the step "running", which resume probes.
// Outcomes were half of a run's fsyncs, each ~1 ms on the critical path.
//
// A damaged tail (a write a crash cut short) is truncated when the journal
// is opened for writing, as ninja's deps log recovers; a damaged record
// with intact ones after it is skipped and the file rewritten without it,
// so no later record is lost (a lost "succeeded" leaves its step
// "running", which resume probes). Both come with a warning, and the
// repair is itself a record. Secret values never enter it: records carry
// secret references only.
//
// Beside it, `journal.state`, rewritten (temp file, fsync, rename) every
// kCheckpointEvery records: the run state as of the journal's first N bytes
// and their SHA-256. Opening hashes the journal (fast) instead of parsing
// and replaying every record (slow): when the first N bytes still hash the
// same, the state is the checkpoint's plus the records after it; when not
// (a damaged record, a checkpoint of another journal), the journal is read
// whole as if there were none. The journal stays the only truth.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "orchestrator/run_state.h"
#include "workflows/expression.h"

namespace she {

class Digest;

class Journal {
 public:
  static constexpr int kVersion = 1;
  static const char* header();  // "# she-restore journal v1\n"

  /// Records between two checkpoints: what a resume parses at most.
  static constexpr long kCheckpointEvery = 1000;

  Journal();
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  /// Opens (creating it with its header when absent) for appending and
  /// gives the state its records make. Damage is repaired (a torn tail cut
  /// off, damaged records dropped), described in `warning` and recorded.
  /// False with `err` on I/O errors or an unknown version.
  bool open(const std::string& path, RunState* state, std::string* warning, std::string* err);

  /// The state, without changing anything (status, reports, runs).
  static bool read_state(const std::string& path, RunState* state, std::string* warning, std::string* err);

  /// Every record, without changing anything or reading the checkpoint.
  static bool read(const std::string& path, std::vector<Value>* records, std::string* warning, std::string* err);

  /// The checkpoint's file for the journal at `path`.
  static std::string checkpoint_path(const std::string& path);

  /// How many times this process has read a journal (open or read): what
  /// proves that a run reads its journal once, when it opens, and then
  /// works from the run state its records update.
  static long reads();

  /// When an appended record must be on disk: before anything else is
  /// done (it announces an action), or with the next record that must.
  enum class Sync { Now, WithNext };

  /// Appends one record; with Sync::Now it and every record before it are
  /// on disk when this returns. Thread-safe: write() then settle().
  bool append(const Value& record, std::string* err, Sync sync = Sync::Now);

  /// Where a record written ends in the file, and its number in this process.
  struct Written {
    size_t end = 0;
    long ordinal = 0;
  };
  /// Writes one record, not yet synced. Thread-safe.
  bool write(const Value& record, std::string* err, Written* written);
  /// With Sync::Now, returns once the record `w` (and all before it) is on
  /// disk. Appenders settling at once share one fdatasync (group commit):
  /// a loop's iterations at concurrency 50 used to wait for 50 in a row.
  bool settle(const Written& w, Sync sync, std::string* err);

  /// Writes the checkpoint when kCheckpointEvery records went in since the
  /// last; `state` must be the state of every record appended so far (the
  /// caller holds the appends back meanwhile). A checkpoint that cannot be
  /// written is no loss: false with `err`, and the journal stays whole.
  bool checkpoint_if_due(const RunState& state, std::string* err);

  bool is_open() const { return fd_ >= 0; }
  void close();

 private:
  bool write_checkpoint(const RunState& state, std::string* err);

  int fd_ = -1;
  std::string path_;
  std::unique_ptr<Digest> written_;  // of every byte in the file: the prefix a checkpoint names
  size_t bytes_ = 0;
  long since_checkpoint_ = 0;
  long checkpoint_every_ = kCheckpointEvery;
  /// Returns once the file's first `end` bytes are on disk.
  bool sync_through(size_t end, std::string* err);

  size_t synced_bytes_ = 0;  // the file's length as of its last sync
  bool syncing_ = false;     // an appender is in fdatasync (without the lock)
  long records_appended_ = 0;
  long kill_after_ = -1;  // fault injection for the crash tests
};

/// One journal line for `record` (checksum, space, JSON, newline).
std::string journal_line(const Value& record);

}  // namespace she
