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
#include <memory>
#include <vector>

#include "base/digest.h"
#include "base/interrupted.h"
#include "hosts/block_ring.h"
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

std::string run_checked(SshSession& s, const std::vector<std::string>& argv, bool writes,
                        const std::function<bool()>& should_stop = {}) {
  ExecOptions o;
  o.writes = writes;
  o.should_stop = should_stop;
  ExecResult r = s.exec(shell_join(argv), o);
  if (r.exit_status != 0)
    throw std::runtime_error(fmt::format("{}: `{}` failed (exit {}): {}", s.target().name, shell_join(argv), r.exit_status,
                                         r.stderr_tail.substr(0, 300)));
  return r.stdout_tail;
}

// Blocks of 1 MiB, 8 in flight: large enough that the hasher and the SSH
// channel each work in long runs, small enough that memory stays bounded.
constexpr size_t kBlock = 1 << 20;
constexpr size_t kBlocks = 8;
const std::string kBs = "bs=" + std::to_string(kBlock);
// From this size on, a download has its source hashed on a second
// connection while it streams rather than after.
constexpr long long kOverlapCheckFrom = 16LL << 20;
enum Reader { kHasher = 0, kWriter = 1 };

/// Every command a copy runs, built once: the copy runs these, and its
/// operation shows the writes among them.
struct TransferCommands {
  std::string part, dir;
  std::vector<std::string> read, mkdir, create_part, write, size, checksum, chmod, rename;
};

TransferCommands transfer_commands(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts) {
  TransferCommands c;
  c.part = to.path + ".part";
  c.dir = to.path.find('/') == std::string::npos ? "" : to.path.substr(0, to.path.find_last_of('/'));
  c.read = {"dd", "if=" + from.path, kBs, "status=none"};
  c.mkdir = {"mkdir", "-p", "--", c.dir};
  // The .part exists with mode 0600 before a byte lands in it (a backup
  // holds keys and the database); tee then writes into it, keeping the mode.
  c.create_part = {"install", "-m", "0600", "/dev/null", c.part};
  // The far side hashes the bytes as it writes them rather than reading the
  // file again after (sha256sum takes ~4 s of CPU a GiB: the whole gain).
  // Without pipefail a tee that fails to write still passes every byte on
  // to sha256sum, so the .part's size is checked after.
  c.write = {"sh", "-c", shell_join({"tee", "--", c.part}) + " | sha256sum"};
  c.size = {"stat", "-c", "%s", "--", c.part};
  c.checksum = {"sha256sum", "--", to.session ? c.part : from.path};
  c.chmod = {"chmod", opts.mode, "--", c.part};
  c.rename = {"mv", "-f", "--", c.part, to.path};
  return c;
}

std::string first_word(const std::string& s) { return s.substr(0, s.find(' ')); }

/// Fills the ring from the source: the local file, or `dd` on the host.
void produce(const TransferEnd& from, const TransferCommands& cmd, BlockRing& ring,
             const std::function<bool()>& stopped, const TransferOptions& opts) {
  if (!from.session) {
    int fd = ::open(from.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error(fmt::format("cannot read {}: {}", from.path, std::strerror(errno)));
    std::unique_ptr<int, void (*)(int*)> guard(&fd, [](int* f) { ::close(*f); });
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    while (true) {
      // Checked once a block: a stop is seen within one block's time.
      if (opts.should_stop && opts.should_stop()) throw Interrupted("stopped while copying " + from.path);
      char* b = ring.claim();
      if (!b) return;
      size_t n = 0;
      while (n < ring.block_size()) {
        ssize_t got = ::read(fd, b + n, ring.block_size() - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw std::runtime_error(fmt::format("cannot read {}: {}", from.path, std::strerror(errno)));
        if (got == 0) break;
        n += static_cast<size_t>(got);
      }
      if (n > 0) ring.publish(n);
      if (n < ring.block_size()) return;
    }
  }
  char* cur = nullptr;
  size_t fill = 0;
  ExecOptions ro;
  ro.writes = false;
  ro.should_stop = stopped;
  ro.on_stdout = [&](const char* d, size_t n) {
    while (n > 0) {
      if (!cur && !(cur = ring.claim())) return;  // closed: what comes is dropped
      size_t k = std::min(n, ring.block_size() - fill);
      std::memcpy(cur + fill, d, k);
      fill += k, d += k, n -= k;
      if (fill == ring.block_size()) {
        ring.publish(fill);
        cur = nullptr, fill = 0;
      }
    }
  };
  ExecResult r = from.session->exec(shell_join(cmd.read), ro);
  if (cur && fill > 0) ring.publish(fill);
  if (r.exit_status != 0)
    throw std::runtime_error(fmt::format("{}: reading {} failed: {}", from.session->target().name, from.path, r.stderr_tail));
}

/// Drains the ring into the destination: the local .part, or tee on the
/// host, whose checksum of what it took lands in `far`. Returns the bytes
/// it delivered.
long long consume(const TransferEnd& to, const TransferCommands& cmd, BlockRing& ring,
                  const std::function<bool()>& stopped, Meter& meter, std::string& far) {
  long long delivered = 0;
  if (!to.session) {
    int fd = ::open(cmd.part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error(fmt::format("cannot write {}: {}", cmd.part, std::strerror(errno)));
    std::unique_ptr<int, void (*)(int*)> guard(&fd, [](int* f) { ::close(*f); });
    for (BlockRing::Block b; (b = ring.next(kWriter)).size > 0; ring.release(kWriter)) {
      for (size_t off = 0; off < b.size;) {
        ssize_t n = ::write(fd, b.data + off, b.size - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw std::runtime_error(fmt::format("cannot write {}: {}", cmd.part, std::strerror(n < 0 ? errno : EIO)));
        off += static_cast<size_t>(n);
      }
      delivered += static_cast<long long>(b.size);
      meter.add(b.size);
    }
    // What is renamed into place is on disk, not only in the page cache.
    if (::fsync(fd) != 0) throw std::runtime_error(fmt::format("cannot write {}: {}", cmd.part, std::strerror(errno)));
    return delivered;
  }
  BlockRing::Block cur;
  size_t off = 0;
  ExecOptions wo;
  wo.should_stop = stopped;
  wo.stdin_source = [&](char* buf, size_t cap) -> size_t {
    if (off == cur.size) {
      if (cur.size > 0) ring.release(kWriter);
      cur = ring.next(kWriter);
      off = 0;
      if (cur.size == 0) return 0;
    }
    size_t n = std::min(cap, cur.size - off);
    std::memcpy(buf, cur.data + off, n);
    off += n;
    delivered += static_cast<long long>(n);
    meter.add(n);
    return n;
  };
  ExecResult r = to.session->exec(shell_join(cmd.write), wo);
  if (r.exit_status != 0 || !r.stderr_tail.empty())
    throw std::runtime_error(fmt::format("{}: writing {} failed (exit {}): {}", to.session->target().name, cmd.part,
                                         r.exit_status, r.stderr_tail.substr(0, 300)));
  far = r.stdout_tail;
  return delivered;
}

TransferResult copy_once(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts, long long total) {
  const TransferCommands cmd = transfer_commands(from, to, opts);
  Meter meter(opts, total, fmt::format("copy {} -> {}", from.str(), to.str()));
  if (!from.session && !to.session) throw std::runtime_error("a local copy is not a transfer: use cp");
  // The destination's directory may not exist yet on a freshly installed host.
  if (!cmd.dir.empty()) {
    if (to.session) run_checked(*to.session, cmd.mkdir, true);
    else std::filesystem::create_directories(cmd.dir);
  }
  if (to.session) run_checked(*to.session, cmd.create_part, true);

  // Three stages over one ring: the source fills it (a thread), the hasher
  // reads it (a thread), the destination drains it (this thread); the first
  // stage to fail closes the ring and its error is the one reported.
  BlockRing ring(kBlocks, kBlock, 2);
  std::mutex error_mutex;
  std::exception_ptr first_error;
  auto fail = [&](std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!first_error) first_error = e;
    }
    ring.close();
  };
  auto stopped = [&] { return ring.closed() || (opts.should_stop && opts.should_stop()); };
  Digest sha;
  long long hashed = 0;
  std::thread producer([&] {
    try {
      produce(from, cmd, ring, stopped, opts);
      ring.finish();
    } catch (...) {
      fail(std::current_exception());
    }
  });
  std::thread hasher([&] {
    for (BlockRing::Block b; (b = ring.next(kHasher)).size > 0; ring.release(kHasher)) {
      sha.update(b.data, b.size);
      hashed += static_cast<long long>(b.size);
    }
  });
  // A download's far side is its source, which holds still: it is hashed
  // there while the stream runs, on a connection of its own.
  std::string far;
  std::thread side;
  if (!to.session && total >= kOverlapCheckFrom) {
    side = std::thread([&] {
      try {
        SshSession other(from.session->target());
        far = run_checked(other, cmd.checksum, false, stopped);
      } catch (const std::exception&) {
        far.clear();  // checked after the stream instead, on the copy's own connection
      }
    });
  }
  long long delivered = 0;
  try {
    delivered = consume(to, cmd, ring, stopped, meter, far);
  } catch (...) {
    fail(std::current_exception());
  }
  // The destination took all it will: a source still sending is told so.
  if (delivered != total) ring.close();
  producer.join();
  hasher.join();
  if (side.joinable()) side.join();
  if (first_error) std::rethrow_exception(first_error);

  if (delivered != total || hashed != total)
    throw std::runtime_error(fmt::format("copying {} -> {}: {} bytes arrived of {}: the far side stopped taking them "
                                         "(is its disk full?)",
                                         from.str(), to.str(), std::min(delivered, hashed), total));
  TransferResult result;
  result.bytes = total;
  result.sha256 = sha.hex();
  // The far side's own checksum of what it took must equal the stream's.
  if (far.empty() && !to.session) far = run_checked(*from.session, cmd.checksum, false, opts.should_stop);
  far = first_word(far);
  if (far != result.sha256) {
    // copy_file removes the .part on any failure.
    throw std::runtime_error(fmt::format("checksum mismatch copying {} -> {}: sent {}, {} has {}: the file changed "
                                         "while it was copied, or the far side's disk corrupts it; nothing was put "
                                         "under {}",
                                         from.str(), to.str(), result.sha256, to.session ? "the destination" : "the source",
                                         far.empty() ? "no checksum" : far, to.path));
  }
  // And a destination holds all of it (tee may have failed to write it).
  if (to.session) {
    const long long held = std::atoll(run_checked(*to.session, cmd.size, false, opts.should_stop).c_str());
    if (held != total)
      throw std::runtime_error(fmt::format("copying {} -> {}: the destination holds {} bytes of {} (is its disk "
                                           "full?); nothing was put under {}",
                                           from.str(), to.str(), held, total, to.path));
  }
  if (to.session) {
    run_checked(*to.session, cmd.chmod, true);
    run_checked(*to.session, cmd.rename, true);
  } else {
    ::chmod(cmd.part.c_str(), static_cast<mode_t>(std::stoi(opts.mode, nullptr, 8)));
    if (std::rename(cmd.part.c_str(), to.path.c_str()) != 0) throw std::runtime_error("cannot rename " + cmd.part);
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
