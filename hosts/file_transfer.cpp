#include "hosts/file_transfer.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <atomic>
#include <deque>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <mutex>
#include <sys/stat.h>
#include <cstring>
#include <thread>
#include <unistd.h>
#include <vector>

#include "base/digest.h"
#include "hosts/shell_quote.h"

namespace she {

namespace {

using Clock = std::chrono::steady_clock;

/// Progress lines at most once a second: bytes, rate, time left.
class Meter {
 public:
  Meter(const TransferOptions& o, long long total, std::string what) : o_(o), total_(total), what_(std::move(what)) {}
  void add(size_t n) {
    done_ += static_cast<long long>(n);
    auto now = Clock::now();
    if (!o_.progress || now - last_ < std::chrono::seconds(1)) return;
    last_ = now;
    double secs = std::chrono::duration<double>(now - start_).count();
    double rate = secs > 0 ? done_ / secs : 0;
    std::string eta = total_ > 0 && rate > 0 ? fmt::format(", {:.0f}s left", (total_ - done_) / rate) : "";
    o_.progress(fmt::format("{}: {:.1f} of {:.1f} MiB, {:.1f} MiB/s{}", what_, done_ / 1048576.0, total_ / 1048576.0,
                            rate / 1048576.0, eta));
  }

 private:
  const TransferOptions& o_;
  long long total_, done_ = 0;
  std::string what_;
  Clock::time_point start_ = Clock::now(), last_ = Clock::now();
};

std::string run_checked(SshSession& s, const std::vector<std::string>& argv, bool writes) {
  ExecOptions o;
  o.writes = writes;
  ExecResult r = s.exec(shell_join(argv), o);
  if (r.exit_status != 0)
    throw std::runtime_error(fmt::format("{}: `{}` failed (exit {}): {}", s.target().name, shell_join(argv), r.exit_status,
                                         r.stderr_tail.substr(0, 300)));
  return r.stdout_tail;
}

/// A bounded queue between the thread reading one host and the one writing
/// the other: at most `capacity` blocks in memory.
class BlockQueue {
 public:
  explicit BlockQueue(size_t capacity) : capacity_(capacity) {}
  void push(std::string block) {
    std::unique_lock<std::mutex> lock(m_);
    cv_.wait(lock, [&] { return q_.size() < capacity_ || closed_; });
    if (closed_) return;
    q_.push_back(std::move(block));
    cv_.notify_all();
  }
  /// An empty string at the end.
  std::string pop() {
    std::unique_lock<std::mutex> lock(m_);
    cv_.wait(lock, [&] { return !q_.empty() || ended_ || closed_; });
    if (q_.empty()) return {};
    std::string b = std::move(q_.front());
    q_.pop_front();
    cv_.notify_all();
    return b;
  }
  void end() {
    std::lock_guard<std::mutex> lock(m_);
    ended_ = true;
    cv_.notify_all();
  }
  void close() {
    std::lock_guard<std::mutex> lock(m_);
    closed_ = true;
    cv_.notify_all();
  }

 private:
  size_t capacity_;
  std::deque<std::string> q_;
  bool ended_ = false, closed_ = false;
  std::mutex m_;
  std::condition_variable cv_;
};

/// Every command a copy runs, built once: the copy runs these, and its
/// operation shows the writes among them.
struct TransferCommands {
  std::string part, dir;
  std::vector<std::string> read, mkdir, create_part, write, checksum, chmod, rename;
};

TransferCommands transfer_commands(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts) {
  TransferCommands c;
  c.part = to.path + ".part";
  c.dir = to.path.find('/') == std::string::npos ? "" : to.path.substr(0, to.path.find_last_of('/'));
  c.read = {"dd", "if=" + from.path, "bs=65536", "status=none"};
  c.mkdir = {"mkdir", "-p", "--", c.dir};
  // The .part exists with mode 0600 before a byte lands in it (a backup
  // holds keys and the database); dd then writes into it, keeping the mode.
  c.create_part = {"install", "-m", "0600", "/dev/null", c.part};
  c.write = {"dd", "of=" + c.part, "bs=65536", "conv=notrunc", "status=none"};
  c.checksum = {"sha256sum", "--", to.session ? c.part : from.path};
  c.chmod = {"chmod", opts.mode, "--", c.part};
  c.rename = {"mv", "-f", "--", c.part, to.path};
  return c;
}

TransferResult copy_once(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts, long long total) {
  const TransferCommands cmd = transfer_commands(from, to, opts);
  const std::string& part = cmd.part;
  Digest sha;
  Meter meter(opts, total, fmt::format("copy {} -> {}", from.str(), to.str()));
  TransferResult result;
  auto count = [&](const char* d, size_t n) {
    sha.update(d, n);
    result.bytes += static_cast<long long>(n);
    meter.add(n);
  };
  const std::vector<std::string>& read_cmd = cmd.read;
  const std::vector<std::string>& write_cmd = cmd.write;
  ExecOptions eo;
  eo.should_stop = opts.should_stop;

  if (!from.session && !to.session) throw std::runtime_error("a local copy is not a transfer: use cp");
  // The destination's directory may not exist yet on a freshly installed host.
  if (!cmd.dir.empty()) {
    if (to.session) run_checked(*to.session, cmd.mkdir, true);
    else std::filesystem::create_directories(cmd.dir);
  }
  if (to.session) run_checked(*to.session, cmd.create_part, true);
  if (!from.session) {
    FILE* in = std::fopen(from.path.c_str(), "rb");
    if (!in) throw std::runtime_error("cannot read " + from.path);
    bool read_error = false;
    eo.stdin_source = [&](char* buf, size_t cap) {
      size_t n = std::fread(buf, 1, cap, in);
      if (n == 0 && std::ferror(in)) read_error = true;
      count(buf, n);
      return n;
    };
    ExecResult r;
    try {
      r = to.session->exec(shell_join(write_cmd), eo);
    } catch (...) {
      std::fclose(in);
      throw;
    }
    std::fclose(in);
    if (read_error) throw std::runtime_error("cannot read " + from.path + ": I/O error");
    if (r.exit_status != 0) throw std::runtime_error(fmt::format("{}: writing {} failed: {}", to.session->target().name, part, r.stderr_tail));
  } else if (!to.session) {
    int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE* out = fd >= 0 ? ::fdopen(fd, "wb") : nullptr;
    if (!out) throw std::runtime_error("cannot write " + part);
    bool write_ok = true;
    eo.on_stdout = [&](const char* d, size_t n) {
      count(d, n);
      write_ok &= std::fwrite(d, 1, n, out) == n;
    };
    ExecResult r;
    eo.writes = false;
    try {
      r = from.session->exec(shell_join(read_cmd), eo);
    } catch (...) {
      std::fclose(out);
      throw;
    }
    write_ok &= std::fflush(out) == 0 && ::fsync(fileno(out)) == 0;
    std::fclose(out);
    if (!write_ok) throw std::runtime_error("cannot write " + part);
    if (r.exit_status != 0) throw std::runtime_error(fmt::format("{}: reading {} failed: {}", from.session->target().name, from.path, r.stderr_tail));
  } else {
    // Host to host: one thread reads the source, this one writes the
    // destination, a few blocks in between.
    BlockQueue q(16);
    std::exception_ptr reader_error;
    ExecResult src_result;
    std::atomic<bool> writer_gone{false};
    std::thread reader([&] {
      ExecOptions ro;
      ro.should_stop = [&] { return writer_gone.load() || (opts.should_stop && opts.should_stop()); };
      ro.on_stdout = [&](const char* d, size_t n) { q.push(std::string(d, n)); };
    ro.writes = false;
      try {
        src_result = from.session->exec(shell_join(read_cmd), ro);
      } catch (...) {
        reader_error = std::current_exception();
      }
      q.end();
    });
    std::string pending;
    size_t pending_off = 0;
    eo.stdin_source = [&](char* buf, size_t cap) -> size_t {
      if (pending_off == pending.size()) {
        pending = q.pop();
        pending_off = 0;
        if (pending.empty()) return 0;
      }
      size_t n = std::min(cap, pending.size() - pending_off);
      std::memcpy(buf, pending.data() + pending_off, n);
      count(buf, n);
      pending_off += n;
      return n;
    };
    ExecResult r;
    try {
      r = to.session->exec(shell_join(write_cmd), eo);
    } catch (...) {
      writer_gone = true;
      q.close();
      reader.join();
      throw;
    }
    q.close();
    reader.join();
    if (reader_error) std::rethrow_exception(reader_error);
    if (src_result.exit_status != 0)
      throw std::runtime_error(fmt::format("{}: reading {} failed: {}", from.session->target().name, from.path, src_result.stderr_tail));
    if (r.exit_status != 0) throw std::runtime_error(fmt::format("{}: writing {} failed: {}", to.session->target().name, part, r.stderr_tail));
  }

  if (total >= 0 && result.bytes != total)
    throw std::runtime_error(fmt::format("copying {} -> {}: {} bytes arrived of {}", from.str(), to.str(), result.bytes, total));
  result.sha256 = sha.hex();
  // The far side's own checksum of what it holds must equal the stream's.
  std::string far = run_checked(to.session ? *to.session : *from.session, cmd.checksum, false);
  far = far.substr(0, far.find(' '));
  if (far != result.sha256) {
    // copy_file removes the .part on any failure.
    throw std::runtime_error(fmt::format("checksum mismatch copying {} -> {}: sent {}, {} has {}", from.str(), to.str(),
                                         result.sha256, to.session ? "the destination" : "the source", far));
  }
  if (to.session) {
    run_checked(*to.session, cmd.chmod, true);
    run_checked(*to.session, cmd.rename, true);
  } else {
    ::chmod(part.c_str(), static_cast<mode_t>(std::stoi(opts.mode, nullptr, 8)));
    if (std::rename(part.c_str(), to.path.c_str()) != 0) throw std::runtime_error("cannot rename " + part);
  }
  return result;
}

}  // namespace

std::string TransferEnd::str() const {
  return session ? session->target().name + ":" + path : "local:" + path;
}

std::string remote_sha256(SshSession& s, const std::string& path) {
  std::string out = run_checked(s, {"sha256sum", "--", path}, false);
  return out.substr(0, out.find(' '));
}

long long remote_size(SshSession& s, const std::string& path) {
  return std::atoll(run_checked(s, {"stat", "-c", "%s", "--", path}, false).c_str());
}

static TransferResult copy_with_retries(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts);

Operation transfer_operation(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts) {
  const TransferCommands cmd = transfer_commands(from, to, opts);
  Operation op(Operation::Kind::Transfer, true, to.session ? to.session->target().name : "local",
               fmt::format("copy {} -> {} (streamed through the orchestrator, SHA-256 end to end)", from.str(),
                           to.str()));
  auto part = [&](const std::vector<std::string>& argv) {
    op.parts.emplace_back(to.session ? Operation::Kind::Command : Operation::Kind::Local, true, op.where,
                          shell_join(argv));
  };
  if (!cmd.dir.empty()) part(cmd.mkdir);
  if (to.session) part(cmd.create_part);
  if (to.session) part(cmd.write);
  else part({"write", cmd.part});
  part(cmd.chmod);
  part(cmd.rename);
  return op;
}

TransferResult copy_file(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts) {
  if (opts.mode.size() < 3 || opts.mode.find_first_not_of("01234567") != std::string::npos)
    throw std::runtime_error("mode '" + opts.mode + "' is not an octal file mode");
  if (!from.session && !to.session) throw std::runtime_error("a local copy is not a transfer: use cp");
  TransferResult result;
  perform_operation(opts.runner, transfer_operation(from, to, opts), [&] { result = copy_with_retries(from, to, opts); });
  return result;
}

static TransferResult copy_with_retries(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts) {
  for (int attempt = 1;; ++attempt) {
    try {
      long long total = 0;
      if (from.session) total = remote_size(*from.session, from.path);
      else {
        struct stat st {};
        if (::stat(from.path.c_str(), &st) != 0) throw std::runtime_error("cannot read " + from.path);
        total = st.st_size;
      }
      try {
        return copy_once(from, to, opts, total);
      } catch (...) {
        // No half-written .part is left behind (it may hold secrets).
        std::string part = to.path + ".part";
        if (!to.session) std::remove(part.c_str());
        else {
          ExecOptions quick;
          quick.writes = true;
          quick.timeout = std::chrono::seconds(15);
          try {
            to.session->exec(shell_join({"rm", "-f", "--", part}), quick);
          } catch (const std::exception&) {
          }
        }
        throw;
      }
    } catch (const SshError& e) {
      // A dropped connection starts the copy over (the .part is rewritten).
      if (e.kind() != SshError::Kind::Dropped || attempt >= opts.attempts) throw;
      if (opts.progress) opts.progress(fmt::format("{}; starting the copy over (attempt {} of {})", e.what(), attempt + 1, opts.attempts));
    }
  }
}

}  // namespace she
