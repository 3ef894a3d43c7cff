#include "orchestrator/journal.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <mutex>
#include <string_view>
#include <thread>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/digest.h"
#include "base/durable_file.h"

namespace she {

namespace {

constexpr size_t kChecksumLength = 16;
std::mutex g_append_mutex;
// Appenders waiting for the disk: one syncs for all (group commit).
std::condition_variable g_synced;
std::atomic<long> g_reads{0};

std::string checksum(std::string_view text) { return sha256_hex(text).substr(0, kChecksumLength); }

struct Parsed {
  std::vector<Value> records;
  size_t valid_end = 0;            // offset after the last record kept, before a damaged tail
  std::string problem;             // a damaged tail
  std::vector<size_t> skipped;     // offsets of damaged records with valid ones after them
};

/// The records of the whole lines in data[begin, end), in order, and where
/// the damaged ones start; `last_ok_end` is the end of the last good line.
struct Stretch {
  std::vector<Value> records;
  std::vector<size_t> damaged;
  size_t last_ok_end = 0;
};

/// The JSON object of one journal_line() without its newline; false when
/// its checksum or JSON is damaged.
bool parse_line(std::string_view line, Value* record) {
  if (line.size() < kChecksumLength + 2 || line[kChecksumLength] != ' ' ||
      checksum(line.substr(kChecksumLength + 1)) != line.substr(0, kChecksumLength))
    return false;
  std::string_view json = line.substr(kChecksumLength + 1);
  *record = Value::parse(json.begin(), json.end(), nullptr, false);
  return record->is_object();
}

void parse_lines(std::string_view data, size_t begin, size_t end, Stretch* out) {
  for (size_t pos = begin; pos < end;) {
    size_t eol = data.find('\n', pos);
    Value record;
    if (parse_line(data.substr(pos, eol - pos), &record)) {
      out->records.push_back(std::move(record));
      out->last_ok_end = eol + 1;
    } else {
      out->damaged.push_back(pos);
    }
    pos = eol + 1;
  }
}

/// A resume reads every record before it can act: a long journal is parsed
/// in stretches of whole lines on all cores, then put back in order.
void parse_all_lines(std::string_view data, size_t begin, size_t end, std::vector<Stretch>* stretches) {
  constexpr size_t kStretchMin = 1 << 20;
  size_t n = std::min<size_t>({std::max(1u, std::thread::hardware_concurrency()), 8, (end - begin) / kStretchMin + 1});
  std::vector<size_t> cuts = {begin};
  for (size_t i = 1; i < n; ++i) {
    size_t at = data.find('\n', std::max(cuts.back(), begin + (end - begin) * i / n));
    if (at == std::string_view::npos || at + 1 >= end) break;
    cuts.push_back(at + 1);
  }
  cuts.push_back(end);
  stretches->resize(cuts.size() - 1);
  std::vector<std::thread> workers;
  for (size_t i = 1; i < stretches->size(); ++i)
    workers.emplace_back(parse_lines, data, cuts[i], cuts[i + 1], &(*stretches)[i]);
  parse_lines(data, cuts[0], cuts[1], &(*stretches)[0]);
  for (auto& w : workers) w.join();
}

/// The records of `data` from byte `from` (after the header; a record
/// boundary), checked; false with `err` when it is no journal of ours.
bool parse(const std::string& data, const std::string& path, size_t from, Parsed* out, std::string* err) {
  const std::string head = Journal::header();
  if (data.size() < head.size()) {
    // A file cut inside its own header holds no record yet.
    if (head.compare(0, data.size(), data) != 0) {
      *err = fmt::format("{}: not a she-restore journal", path);
      return false;
    }
    out->valid_end = 0;
    if (!data.empty()) out->problem = "a torn header";
    return true;
  }
  if (data.compare(0, head.size(), head) != 0) {
    size_t eol = data.find('\n');
    std::string first = data.substr(0, std::min<size_t>(eol, 60));
    if (first.rfind("# she-restore journal v", 0) == 0)
      *err = fmt::format("{}: journal version '{}' is not supported by this she-restore (v{}); "
                         "use the she-restore that wrote it, or start over with --new-run",
                         path, first.substr(23), Journal::kVersion);
    else
      *err = fmt::format("{}: not a she-restore journal", path);
    return false;
  }
  // Whole lines end at the last newline; anything after it is a record a
  // crash cut short.
  size_t last_nl = data.rfind('\n');
  from = std::max(from, head.size());
  size_t lines_end = last_nl == std::string::npos || last_nl < from ? from : last_nl + 1;
  std::vector<Stretch> stretches;
  if (lines_end > from) parse_all_lines(data, from, lines_end, &stretches);
  out->valid_end = from;
  size_t total = 0;
  for (auto& st : stretches) total += st.records.size();
  out->records.reserve(total);
  for (auto& st : stretches) {
    for (auto& r : st.records) out->records.push_back(std::move(r));
    out->skipped.insert(out->skipped.end(), st.damaged.begin(), st.damaged.end());
    if (st.last_ok_end) out->valid_end = st.last_ok_end;
  }
  if (lines_end < data.size()) {
    out->problem = "a torn last record";
  } else if (!out->skipped.empty() && out->skipped.back() >= out->valid_end) {
    // A damaged last record is a write the crash cut short: drop it. One
    // with intact records after it is damage on disk: keep the others
    // rather than forget everything they record.
    out->problem = fmt::format("a corrupt last record at byte {}", out->skipped.back());
    out->skipped.pop_back();
  }
  return true;
}

/// What was lost; `kept` counts the records the state holds.
std::string describe_loss(const std::string& path, const Parsed& p, size_t size, long kept) {
  std::string out;
  if (!p.skipped.empty()) {
    std::string where;
    for (size_t off : p.skipped) where += (where.empty() ? "" : ", ") + std::to_string(off);
    out = fmt::format("journal {}: skipped {} damaged record{} at byte{} {}; the records around them are kept", path,
                      p.skipped.size(), p.skipped.size() == 1 ? "" : "s", p.skipped.size() == 1 ? "" : "s", where);
  }
  if (!p.problem.empty())
    out += fmt::format("{}journal {}: found {}; kept {} record{} and dropped the last {} byte{}", out.empty() ? "" : "; ",
                       path, p.problem, kept, kept == 1 ? "" : "s", size - p.valid_end,
                       size - p.valid_end == 1 ? "" : "s");
  return out;
}

bool write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

/// The run state of a journal's text: the checkpoint's plus the records
/// after it when the checkpoint names a prefix of `data`, else every
/// record replayed. `p` holds the records parsed and what was found damaged.
struct Loaded {
  RunState state;
  Parsed p;
  std::unique_ptr<Digest> prefix;  // set when read from a checkpoint: the digest of the bytes it names
  size_t prefix_bytes = 0;
};

constexpr int kCheckpointVersion = 1;

/// The state a checkpoint holds, if it is one of this journal's prefix,
/// and the digest of that prefix.
bool checkpoint_of(const std::string& data, const std::string& cp_path, Loaded* out) {
  std::string text, ignored;
  if (::access(cp_path.c_str(), F_OK) != 0 || !read_whole_file(cp_path, &text, &ignored)) return false;
  Value v;
  if (text.empty() || text.back() != '\n' || !parse_line(std::string_view(text).substr(0, text.size() - 1), &v) ||
      v.value("v", 0) != kCheckpointVersion)
    return false;
  size_t n = v.value("journal_bytes", size_t{0});
  if (n < std::string_view(Journal::header()).size() || n > data.size() || data[n - 1] != '\n') return false;
  auto prefix = std::make_unique<Digest>();
  prefix->update(data.data(), n);
  if (prefix->hex_so_far() != v.value("journal_sha256", "")) return false;
  try {
    out->state = RunState::from_value(v.at("state"));
  } catch (const std::exception&) {
    return false;
  }
  out->prefix = std::move(prefix);
  out->prefix_bytes = n;
  return true;
}

bool load(const std::string& data, const std::string& path, Loaded* out, std::string* err) {
  if (checkpoint_of(data, Journal::checkpoint_path(path), out)) {
    if (!parse(data, path, out->prefix_bytes, &out->p, err)) return false;
    // Damage with records after it is repaired from every record: read whole.
    if (out->p.skipped.empty()) {
      for (const Value& r : out->p.records) out->state.apply(r);
      if (!std::getenv("SHE_RESTORE_TEST_CHECK_CHECKPOINT")) return true;
      // Tests: the checkpoint's state and the journal's must be one.
      Loaded whole;
      if (!parse(data, path, 0, &whole.p, err)) return false;
      if (RunState::replay(whole.p.records).to_value() != out->state.to_value()) {
        *err = fmt::format("{}: the checkpoint {} disagrees with the journal", path, Journal::checkpoint_path(path));
        return false;
      }
      return true;
    }
    *out = Loaded{};
  }
  if (!parse(data, path, 0, &out->p, err)) return false;
  out->state = RunState::replay(out->p.records);
  return true;
}

}  // namespace

const char* Journal::header() { return "# she-restore journal v1\n"; }

std::string Journal::checkpoint_path(const std::string& path) { return path + ".state"; }

std::string journal_line(const Value& record) {
  std::string json = dump_json(record);
  return checksum(json) + " " + json + "\n";
}

Journal::Journal() = default;
Journal::~Journal() { close(); }

void Journal::close() {
  if (fd_ >= 0) {
    if (synced_bytes_ < bytes_) ::fdatasync(fd_);  // the last outcomes: a status read after a power cut shows them
    ::close(fd_);
  }
  fd_ = -1;
}

long Journal::reads() { return g_reads.load(); }

bool Journal::read(const std::string& path, std::vector<Value>* records, std::string* warning, std::string* err) {
  ++g_reads;
  warning->clear();
  records->clear();
  std::string data;
  if (!read_whole_file(path, &data, err)) return false;
  Parsed p;
  if (!parse(data, path, 0, &p, err)) return false;
  if (!p.problem.empty() || !p.skipped.empty())
    *warning = describe_loss(path, p, data.size(), static_cast<long>(p.records.size()));
  *records = std::move(p.records);
  return true;
}

bool Journal::read_state(const std::string& path, RunState* state, std::string* warning, std::string* err) {
  ++g_reads;
  warning->clear();
  std::string data;
  if (!read_whole_file(path, &data, err)) return false;
  Loaded l;
  if (!load(data, path, &l, err)) return false;
  if (!l.p.problem.empty() || !l.p.skipped.empty()) {
    *warning = describe_loss(path, l.p, data.size(), l.state.records);
    l.state.warnings.push_back(*warning);
  }
  *state = std::move(l.state);
  return true;
}

bool Journal::open(const std::string& path, RunState* state, std::string* warning, std::string* err) {
  ++g_reads;
  close();
  warning->clear();
  *state = RunState{};
  path_ = path;
  bool existed = ::access(path.c_str(), F_OK) == 0;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    *err = fmt::format("cannot open journal {}: {}", path, std::strerror(errno));
    return false;
  }
  std::string data;
  if (!read_whole_file(path, &data, err)) return false;
  Loaded l;
  if (!load(data, path, &l, err)) {
    close();
    return false;
  }
  const Parsed& p = l.p;
  std::string kept;  // the file's text once repaired
  if (!p.skipped.empty()) {
    // Rewrite without the damaged records: temp file, fsync, rename.
    *warning = describe_loss(path, p, data.size(), l.state.records);
    kept = header();
    for (auto& r : p.records) kept += journal_line(r);
    close();
    if (!write_file_durably(path, kept, err)) return false;
    fd_ = ::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      *err = fmt::format("cannot reopen journal {}: {}", path, std::strerror(errno));
      return false;
    }
  } else if (p.valid_end < data.size()) {
    *warning = describe_loss(path, p, data.size(), l.state.records);
    if (::ftruncate(fd_, static_cast<off_t>(p.valid_end)) != 0 || ::fsync(fd_) != 0) {
      *err = fmt::format("cannot truncate journal {}: {}", path, std::strerror(errno));
      return false;
    }
    kept = data.substr(0, p.valid_end);
  } else {
    kept = std::move(data);
  }
  if (p.valid_end == 0) {
    if (!write_all(fd_, header()) || ::fsync(fd_) != 0) {
      *err = fmt::format("cannot write journal {}: {}", path, std::strerror(errno));
      return false;
    }
    if (!existed) fsync_directory_of(path);
    kept = header();
  }
  // A checkpoint a kill cut short before its rename is litter: the plan's
  // lock makes this process the journal's only writer.
  remove_stale_temporaries(checkpoint_path(path));
  // Read from a checkpoint, the file kept its prefix (damage before it
  // means no checkpoint): the prefix's digest goes on.
  const bool from_checkpoint = l.prefix != nullptr;
  const size_t from = from_checkpoint ? l.prefix_bytes : 0;
  written_ = from_checkpoint ? std::move(l.prefix) : std::make_unique<Digest>();
  written_->update(kept.data() + from, kept.size() - from);
  bytes_ = synced_bytes_ = kept.size();
  *state = std::move(l.state);
  if (const char* k = std::getenv("SHE_RESTORE_TEST_KILL_AFTER_RECORDS")) kill_after_ = std::atol(k);
  if (const char* k = std::getenv("SHE_RESTORE_TEST_CHECKPOINT_EVERY")) checkpoint_every_ = std::max(1L, std::atol(k));
  // What a resume would parse again: the records the checkpoint lacks.
  since_checkpoint_ = from_checkpoint ? static_cast<long>(p.records.size()) : state->records;
  // The damage stays known to every later reader of this run.
  if (!warning->empty()) {
    Value repaired = {{"t", rec::kJournalRepaired}, {"warning", *warning}, {"time", utc_now_ms()}};
    if (!append(repaired, err)) return false;
    state->apply(repaired);
  }
  std::string cp_err;
  if (!checkpoint_if_due(*state, &cp_err)) *warning += (warning->empty() ? "" : "; ") + cp_err;
  return true;
}

bool Journal::write(const Value& record, std::string* err, Written* written) {
  std::lock_guard<std::mutex> lock(g_append_mutex);
  if (fd_ < 0) {
    *err = "journal is not open";
    return false;
  }
  std::string line = journal_line(record);
  if (!write_all(fd_, line)) {
    *err = fmt::format("cannot append to journal {}: {}", path_, std::strerror(errno));
    return false;
  }
  written_->update(line.data(), line.size());
  bytes_ += line.size();
  ++since_checkpoint_;
  *written = {bytes_, ++records_appended_};
  return true;
}

bool Journal::sync_through(size_t end, std::string* err) {
  std::unique_lock<std::mutex> lock(g_append_mutex);
  while (synced_bytes_ < end) {
    // Another appender's sync under way covers what was written before it
    // began; what came later waits for the next one, made by one of those
    // waiting for all of them.
    if (syncing_) {
      g_synced.wait(lock);
      continue;
    }
    syncing_ = true;
    const size_t target = bytes_;
    lock.unlock();
    const bool ok = ::fdatasync(fd_) == 0;
    const int error = errno;
    lock.lock();
    syncing_ = false;
    if (ok) synced_bytes_ = std::max(synced_bytes_, target);
    g_synced.notify_all();
    if (!ok) {
      *err = fmt::format("cannot append to journal {}: {}", path_, std::strerror(error));
      return false;
    }
  }
  return true;
}

bool Journal::settle(const Written& w, Sync sync, std::string* err) {
  if (sync == Sync::Now && !sync_through(w.end, err)) return false;
  // Fault injection: die right after record N is written (and synced, if it
  // must be), as a power cut would: what was not synced yet is lost with
  // it, and so is what other appenders wrote after it, who wait here for
  // the end rather than act. Tests stop a run at every journal boundary.
  if (kill_after_ >= 0 && w.ordinal > kill_after_)
    while (true) std::this_thread::sleep_for(std::chrono::seconds(1));
  if (kill_after_ >= 0 && w.ordinal == kill_after_) {
    std::lock_guard<std::mutex> lock(g_append_mutex);
    if (::ftruncate(fd_, static_cast<off_t>(std::min(synced_bytes_, w.end))) != 0) std::abort();
    ::raise(SIGKILL);
  }
  return true;
}

bool Journal::append(const Value& record, std::string* err, Sync sync) {
  Written w;
  return write(record, err, &w) && settle(w, sync, err);
}

bool Journal::checkpoint_if_due(const RunState& state, std::string* err) {
  if (fd_ < 0 || since_checkpoint_ < checkpoint_every_) return true;
  return write_checkpoint(state, err);
}

bool Journal::write_checkpoint(const RunState& state, std::string* err) {
  std::string sha;
  size_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(g_append_mutex);
    // The checkpoint names the journal's first `bytes`: they are on disk
    // before it is.
    if (synced_bytes_ < bytes_ && ::fdatasync(fd_) == 0) synced_bytes_ = bytes_;
    bytes = bytes_;
    sha = written_->hex_so_far();
    since_checkpoint_ = 0;
  }
  // The same line as a record's: its checksum, the JSON.
  std::string line = journal_line(Value{{"v", kCheckpointVersion}, {"journal_bytes", bytes}, {"journal_sha256", sha},
                                        {"state", state.to_value()}});
  std::string why;
  if (!write_file_durably(checkpoint_path(path_), line, &why)) {
    *err = fmt::format("journal {}: no checkpoint written ({}); the next resume reads every record", path_, why);
    return false;
  }
  return true;
}

}  // namespace she
