// The run journal: the source of truth for resume (design brief section 4).
//
// Text, append-only, one record per line:
//
//   # she-restore journal v1
//   <16 hex digits> <JSON record>
//
// The hex digits are the start of the record's SHA-256, so a torn or
// corrupted record is recognised. Each record is written with one write()
// and fsync'd before the action it announces. A damaged tail (a write a
// crash cut short) is truncated when the journal is opened for writing, as
// ninja's deps log recovers; a damaged record with intact ones after it is
// skipped and the file rewritten without it, so no later record is lost (a
// lost "succeeded" leaves its step "running", which resume probes). Both
// come with a warning. Secret values never enter it: records carry secret
// references only.
#pragma once

#include <string>
#include <vector>

#include "workflows/expression.h"

namespace she {

class Journal {
 public:
  static constexpr int kVersion = 1;
  static const char* header();  // "# she-restore journal v1\n"

  Journal() = default;
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  /// Opens (creating it with its header when absent) for appending; the
  /// valid records are returned and an invalid tail is cut off, described in
  /// `warning`. False with `err` on I/O errors or an unknown version.
  bool open(const std::string& path, std::vector<Value>* records, std::string* warning, std::string* err);

  /// Reads without changing anything (status, reports).
  static bool read(const std::string& path, std::vector<Value>* records, std::string* warning, std::string* err);

  /// How many times this process has read a journal (open or read): what
  /// proves that a run reads its journal once, when it opens, and then
  /// works from the run state its records update.
  static long reads();

  /// Appends one record and fsyncs it. Thread-safe.
  bool append(const Value& record, std::string* err);

  bool is_open() const { return fd_ >= 0; }
  void close();

 private:
  int fd_ = -1;
  std::string path_;
  long records_appended_ = 0;
  long kill_after_ = -1;  // fault injection for the crash tests
};

/// One journal line for `record` (checksum, space, JSON, newline).
std::string journal_line(const Value& record);

}  // namespace she
