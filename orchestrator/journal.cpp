#include "orchestrator/journal.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <mutex>
#include <string_view>
#include <thread>
#include <sys/stat.h>
#include <unistd.h>

#include "base/digest.h"
#include "base/durable_file.h"

namespace she {

namespace {

constexpr size_t kChecksumLength = 16;
std::mutex g_append_mutex;
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

void parse_lines(std::string_view data, size_t begin, size_t end, Stretch* out) {
  for (size_t pos = begin; pos < end;) {
    size_t eol = data.find('\n', pos);
    std::string_view line = data.substr(pos, eol - pos);
    Value record;
    bool ok = line.size() >= kChecksumLength + 2 && line[kChecksumLength] == ' ' &&
              checksum(line.substr(kChecksumLength + 1)) == line.substr(0, kChecksumLength);
    if (ok) {
      std::string_view json = line.substr(kChecksumLength + 1);
      record = Value::parse(json.begin(), json.end(), nullptr, false);
      ok = record.is_object();
    }
    if (ok) {
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

bool parse(const std::string& data, const std::string& path, Parsed* out, std::string* err) {
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
  size_t lines_end = last_nl == std::string::npos || last_nl < head.size() ? head.size() : last_nl + 1;
  std::vector<Stretch> stretches;
  if (lines_end > head.size()) parse_all_lines(data, head.size(), lines_end, &stretches);
  out->valid_end = head.size();
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

std::string describe_loss(const std::string& path, const Parsed& p, size_t size) {
  std::string out;
  if (!p.skipped.empty()) {
    std::string where;
    for (size_t off : p.skipped) where += (where.empty() ? "" : ", ") + std::to_string(off);
    out = fmt::format("journal {}: skipped {} damaged record{} at byte{} {}; the records around them are kept", path,
                      p.skipped.size(), p.skipped.size() == 1 ? "" : "s", p.skipped.size() == 1 ? "" : "s", where);
  }
  if (!p.problem.empty())
    out += fmt::format("{}journal {}: found {}; kept {} record{} and dropped the last {} byte{}", out.empty() ? "" : "; ",
                       path, p.problem, p.records.size(), p.records.size() == 1 ? "" : "s", size - p.valid_end,
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

}  // namespace

const char* Journal::header() { return "# she-restore journal v1\n"; }

std::string journal_line(const Value& record) {
  std::string json = dump_json(record);
  return checksum(json) + " " + json + "\n";
}

Journal::~Journal() { close(); }

void Journal::close() {
  if (fd_ >= 0) ::close(fd_);
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
  if (!parse(data, path, &p, err)) return false;
  if (!p.problem.empty() || !p.skipped.empty()) *warning = describe_loss(path, p, data.size());
  *records = std::move(p.records);
  return true;
}

bool Journal::open(const std::string& path, std::vector<Value>* records, std::string* warning, std::string* err) {
  ++g_reads;
  close();
  warning->clear();
  records->clear();
  path_ = path;
  bool existed = ::access(path.c_str(), F_OK) == 0;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    *err = fmt::format("cannot open journal {}: {}", path, std::strerror(errno));
    return false;
  }
  std::string data;
  if (!read_whole_file(path, &data, err)) return false;
  Parsed p;
  if (!parse(data, path, &p, err)) {
    close();
    return false;
  }
  if (!p.skipped.empty()) {
    // Rewrite without the damaged records: temp file, fsync, rename.
    *warning = describe_loss(path, p, data.size());
    std::string clean = header();
    for (auto& r : p.records) clean += journal_line(r);
    close();
    if (!write_file_durably(path, clean, err)) return false;
    fd_ = ::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      *err = fmt::format("cannot reopen journal {}: {}", path, std::strerror(errno));
      return false;
    }
  } else if (p.valid_end < data.size()) {
    *warning = describe_loss(path, p, data.size());
    if (::ftruncate(fd_, static_cast<off_t>(p.valid_end)) != 0 || ::fsync(fd_) != 0) {
      *err = fmt::format("cannot truncate journal {}: {}", path, std::strerror(errno));
      return false;
    }
  }
  if (p.valid_end == 0) {
    if (!write_all(fd_, header()) || ::fsync(fd_) != 0) {
      *err = fmt::format("cannot write journal {}: {}", path, std::strerror(errno));
      return false;
    }
    if (!existed) fsync_directory_of(path);
  }
  *records = std::move(p.records);
  if (const char* k = std::getenv("SHE_RESTORE_TEST_KILL_AFTER_RECORDS")) kill_after_ = std::atol(k);
  return true;
}

bool Journal::append(const Value& record, std::string* err) {
  std::lock_guard<std::mutex> lock(g_append_mutex);
  if (fd_ < 0) {
    *err = "journal is not open";
    return false;
  }
  if (!write_all(fd_, journal_line(record)) || ::fdatasync(fd_) != 0) {
    *err = fmt::format("cannot append to journal {}: {}", path_, std::strerror(errno));
    return false;
  }
  // Fault injection: die right after a record is durable, as a power cut
  // would, so tests can stop a run at every journal boundary.
  if (kill_after_ >= 0 && ++records_appended_ >= kill_after_) ::raise(SIGKILL);
  return true;
}

}  // namespace she
