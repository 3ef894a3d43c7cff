#include "hosts/file_transfer.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <atomic>
#include <deque>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
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
    // Ranged streams add from threads of their own.
    std::lock_guard<std::mutex> lock(m_);
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
  std::mutex m_;
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

/// Lowers the calling thread's scheduling priority (nice 10; Linux applies
/// setpriority to one thread when given its id). Hashing beside a stream
/// then runs in the gaps the stream's own processes leave (ssh, sshd and
/// the far side's dd, on the same cores when the host is this machine or
/// the machine is small) instead of taking their turn: on 2 cores a 1 GiB
/// upload went from 0.55x of scp's rate to 1.05x with nothing else changed.
/// The ring's blocks give the hasher the slack to catch up.
void yield_to_the_stream() {
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10);
}

// A host hashes with OpenSSL when it has it: coreutils' sha256sum has no
// SHA extensions and takes ~6 s of CPU a GiB where `openssl dgst` takes
// ~0.8 s, and on a busy host that CPU is taken from sshd's decryption of
// the very bytes being checked.
const char* const kSha256Shell =
    "if command -v openssl >/dev/null 2>&1; then exec openssl dgst -sha256 -r \"$@\"; "
    "else exec sha256sum \"$@\"; fi";

/// Every command a copy runs, built once: the copy runs these, and its
/// operation shows the writes among them.
struct TransferCommands {
  std::string part, dir;
  std::vector<std::string> read, mkdir, create_part, write, size, checksum, chmod, rename;
  /// At a host destination, as one command each (a round trip costs more
  /// than either half): a ranged copy's directory and empty 0600 .part
  /// before its writes (empty otherwise: one stream's write begins with
  /// them); the mode and the rename once it checks out.
  std::vector<std::string> prepare, finish;
  /// A ranged copy's: each range's offset and length, and the dd that
  /// reads it from a host source and writes it into a host destination's
  /// .part. Empty: one stream.
  std::vector<std::pair<long long, long long>> ranges;
  std::vector<std::vector<std::string>> read_range, write_range;
  std::vector<std::string> source_checksum, part_checksum;
};

/// The byte ranges a file of `total` bytes goes as: whole blocks each but
/// the last, so every dd reads and writes aligned 1 MiB blocks.
std::vector<std::pair<long long, long long>> plan_ranges(long long total, int streams, const TransferOptions& opts) {
  if (streams <= 1 || total < 0 || total < opts.parallel_from) return {};
  const long long blocks = (total + static_cast<long long>(kBlock) - 1) / static_cast<long long>(kBlock);
  const long long n = std::min<long long>(streams, blocks);
  if (n <= 1) return {};
  const long long each = (blocks + n - 1) / n * static_cast<long long>(kBlock);
  std::vector<std::pair<long long, long long>> r;
  for (long long off = 0; off < total; off += each) r.emplace_back(off, std::min(each, total - off));
  return r;
}

}  // namespace

int transfer_streams(const TransferEnd& to, const TransferOptions& opts) {
  if (opts.streams > 0) return opts.streams;
  return to.session ? kToHostStreams : 1;
}

namespace {

TransferCommands transfer_commands(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts,
                                   long long total) {
  TransferCommands c;
  c.part = to.path + ".part";
  c.dir = to.path.find('/') == std::string::npos ? "" : to.path.substr(0, to.path.find_last_of('/'));
  c.read = {"dd", "if=" + from.path, kBs, "status=none"};
  c.mkdir = {"mkdir", "-p", "--", c.dir};
  // The .part exists with mode 0600 before a byte lands in it (a backup
  // holds keys and the database); dd then writes into it, keeping the mode.
  c.create_part = {"install", "-m", "0600", "/dev/null", c.part};
  c.size = {"stat", "-c", "%s", "--", c.part};
  // A download's: its source, hashed where it lies (a host destination's
  // hash comes with its write).
  c.checksum = host_sha256_command(from.path);
  c.chmod = {"chmod", opts.mode, "--", c.part};
  c.rename = {"mv", "-f", "--", c.part, to.path};
  c.finish = shell_and({c.chmod, c.rename});
  c.ranges = plan_ranges(total, transfer_streams(to, opts), opts);
  // The directory and the empty .part: a command of their own before a
  // ranged copy's writers start at once; one stream's write begins with
  // them (a command less). Then the far side hashes what the .part holds
  // once dd has written it, from its page cache, in the same command (no
  // round trip more). Hashing the stream as it lands (tee | openssl)
  // overlaps the two but copies every byte through two more pipes in small
  // blocks: on a 2-core host that took 2.3x as long as dd then openssl,
  // which together beat scp. A dd that fails ends the list before the hash.
  // The writers take what the pipe holds as it comes (no iflag=fullblock,
  // which gathered a whole block from sixteen reads before one write while
  // sshd waited on the full pipe: 2 GiB up took ~25% longer so); dd then
  // writes each piece where the last ended, so no byte is lost or moved.
  std::vector<std::vector<std::string>> prepare;
  if (!c.dir.empty()) prepare.push_back(c.mkdir);
  prepare.push_back(c.create_part);
  std::vector<std::vector<std::string>> write = {{"dd", "of=" + c.part, kBs, "status=none"},
                                                 host_sha256_command(c.part)};
  if (to.session && !c.ranges.empty()) c.prepare = shell_and(prepare);
  else if (to.session) write.insert(write.begin(), prepare.begin(), prepare.end());
  c.write = shell_and(write);
  for (const auto& [off, len] : c.ranges) {
    // GNU dd: skip_bytes/count_bytes and seek_bytes take the numbers as
    // bytes; conv=notrunc keeps the other ranges.
    c.read_range.push_back({"dd", "if=" + from.path, kBs, "skip=" + std::to_string(off), "count=" + std::to_string(len),
                            "iflag=skip_bytes,count_bytes", "status=none"});
    c.write_range.push_back({"dd", "of=" + c.part, kBs, "seek=" + std::to_string(off), "conv=notrunc",
                             "oflag=seek_bytes", "status=none"});
  }
  c.source_checksum = host_sha256_command(from.path);
  c.part_checksum = host_sha256_command(c.part);
  return c;
}

std::string first_word(const std::string& s) { return s.substr(0, s.find(' ')); }

/// Runs a bulk-stream command at a host end: through OpenSSH's client
/// `ssh_client` when given, else on the end's libssh2 session.
ExecResult stream_exec(const TransferEnd& end, const std::string& ssh_client, const std::string& command,
                       const ExecOptions& o) {
  return ssh_client.empty() ? end.session->exec(command, o) : openssh_exec(end.session->target(), ssh_client, command, o);
}

/// The OpenSSH client that carries `end`'s bulk stream of `total` bytes;
/// empty: the end's own way (our disk, or its libssh2 session), and `why`
/// says why when OpenSSH was wanted but cannot be used.
std::string stream_client(const TransferEnd& end, const TransferOptions& opts, long long total, std::string* why) {
  if (!end.session || total < opts.openssh_from || opts.openssh_client.empty()) return {};
  *why = openssh_unusable(end.session->target(), opts.openssh_client);
  return why->empty() ? opts.openssh_client : std::string();
}

/// Says once per copy what carries its bulk stream, and records it in `r`.
void choose_streams(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts, long long total,
                    std::string* from_client, std::string* to_client, TransferResult* r) {
  std::string from_why, to_why;
  *from_client = stream_client(from, opts, total, &from_why);
  *to_client = stream_client(to, opts, total, &to_why);
  auto via = [](const TransferEnd& e, const std::string& client) {
    return !e.session ? "local" : client.empty() ? "libssh2" : "openssh";
  };
  r->source_stream = via(from, *from_client);
  r->destination_stream = via(to, *to_client);
  if (!opts.progress || total < opts.openssh_from) return;
  std::string line;
  auto say = [&](const TransferEnd& e, const std::string& client, const std::string& why) {
    if (!e.session) return;
    line += fmt::format("{}{}: {}", line.empty() ? "" : "; ", e.session->target().name,
                        client.empty() ? "libssh2 (" + why + ")" : "OpenSSH's " + client);
  };
  say(from, *from_client, from_why);
  say(to, *to_client, to_why);
  opts.progress(fmt::format("copy {} -> {}: bulk stream through {}", from.str(), to.str(), line));
}

/// Fills the ring from the source: `len` bytes from `off` of the local file
/// (len < 0: to its end), or what `read` prints on the host.
void produce(const TransferEnd& from, const std::string& ssh_client, const std::vector<std::string>& read, long long off,
             long long len, BlockRing& ring, const std::function<bool()>& stopped, const TransferOptions& opts) {
  if (!from.session) {
    int fd = ::open(from.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error(fmt::format("cannot read {}: {}", from.path, std::strerror(errno)));
    std::unique_ptr<int, void (*)(int*)> guard(&fd, [](int* f) { ::close(*f); });
    ::posix_fadvise(fd, off, len < 0 ? 0 : len, POSIX_FADV_SEQUENTIAL);
    long long at = off;
    const long long end = len < 0 ? -1 : off + len;
    while (end < 0 || at < end) {
      // Checked once a block: a stop is seen within one block's time.
      if (opts.should_stop && opts.should_stop()) throw Interrupted("stopped while copying " + from.path);
      char* b = ring.claim();
      if (!b) return;
      const size_t want = end < 0 ? ring.block_size() : static_cast<size_t>(std::min<long long>(end - at, static_cast<long long>(ring.block_size())));
      size_t n = 0;
      while (n < want) {
        ssize_t got = ::pread(fd, b + n, want - n, at + static_cast<long long>(n));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw std::runtime_error(fmt::format("cannot read {}: {}", from.path, std::strerror(errno)));
        if (got == 0) break;
        n += static_cast<size_t>(got);
      }
      if (n > 0) ring.publish(n);
      at += static_cast<long long>(n);
      if (n < want) return;
    }
    return;
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
  ExecResult r = stream_exec(from, ssh_client, shell_join(read), ro);
  if (cur && fill > 0) ring.publish(fill);
  if (r.exit_status != 0)
    throw std::runtime_error(fmt::format("{}: reading {} failed: {}", from.session->target().name, from.path, r.stderr_tail));
}

/// Drains reader `reader`'s blocks of the ring into the destination: the
/// local .part (`fd`) from `off` on, or `write` on the host, whose output
/// lands in `far` when asked for. Returns the bytes it delivered.
long long consume(const TransferEnd& to, const std::string& ssh_client, const std::vector<std::string>& write,
                  const std::string& part, int fd, long long off, BlockRing& ring, int reader,
                  const std::function<bool()>& stopped, Meter& meter, std::string* far) {
  long long delivered = 0;
  if (!to.session) {
    for (BlockRing::Block b; (b = ring.next(reader)).size > 0; ring.release(reader)) {
      for (size_t at = 0; at < b.size;) {
        ssize_t n = ::pwrite(fd, b.data + at, b.size - at, off + delivered + static_cast<long long>(at));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw std::runtime_error(fmt::format("cannot write {}: {}", part, std::strerror(n < 0 ? errno : EIO)));
        at += static_cast<size_t>(n);
      }
      delivered += static_cast<long long>(b.size);
      meter.add(b.size);
    }
    return delivered;
  }
  BlockRing::Block cur;
  size_t at = 0;
  ExecOptions wo;
  wo.should_stop = stopped;
  wo.stdin_source = [&](char* buf, size_t cap) -> size_t {
    if (at == cur.size) {
      if (cur.size > 0) ring.release(reader);
      cur = ring.next(reader);
      at = 0;
      if (cur.size == 0) return 0;
    }
    size_t n = std::min(cap, cur.size - at);
    std::memcpy(buf, cur.data + at, n);
    at += n;
    delivered += static_cast<long long>(n);
    meter.add(n);
    return n;
  };
  ExecResult r = stream_exec(to, ssh_client, shell_join(write), wo);
  if (r.exit_status != 0 || !r.stderr_tail.empty())
    throw std::runtime_error(fmt::format("{}: writing {} failed (exit {}): {}", to.session->target().name, part,
                                         r.exit_status, r.stderr_tail.substr(0, 300)));
  if (far) *far = r.stdout_tail;
  return delivered;
}

/// The local .part, created 0600 before a byte lands in it.
int open_local_part(const std::string& part) {
  int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error(fmt::format("cannot write {}: {}", part, std::strerror(errno)));
  return fd;
}

void sync_local_part(int fd, const std::string& part) {
  // What is renamed into place is on disk, not only in the page cache.
  if (::fsync(fd) != 0) throw std::runtime_error(fmt::format("cannot write {}: {}", part, std::strerror(errno)));
}

/// SHA-256 of a local file read in order, a block at a time.
std::string local_sha256(const std::string& path, const std::function<bool()>& stopped) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  std::unique_ptr<int, void (*)(int*)> guard(&fd, [](int* f) { ::close(*f); });
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::vector<char> buf(kBlock);
  Digest d;
  while (!stopped()) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
    if (n == 0) return d.hex();
    d.update(buf.data(), static_cast<size_t>(n));
  }
  return {};
}

/// Moves a checked .part into place at the destination.
void put_in_place(const TransferEnd& to, const TransferCommands& cmd, const TransferOptions& opts) {
  if (to.session) {
    run_checked(*to.session, cmd.finish, true);
  } else {
    ::chmod(cmd.part.c_str(), static_cast<mode_t>(std::stoi(opts.mode, nullptr, 8)));
    if (std::rename(cmd.part.c_str(), to.path.c_str()) != 0) throw std::runtime_error("cannot rename " + cmd.part);
  }
}

/// The destination's directory may not exist yet on a freshly installed
/// host; a host's .part exists with mode 0600 before a byte lands in it.
void prepare_destination(const TransferEnd& to, const TransferCommands& cmd) {
  if (to.session) {
    if (!cmd.prepare.empty()) run_checked(*to.session, cmd.prepare, true);
  } else if (!cmd.dir.empty()) {
    std::filesystem::create_directories(cmd.dir);
  }
}

TransferResult copy_ranges(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts, long long total,
                           const TransferCommands& cmd);

TransferResult copy_once(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts, long long total) {
  const TransferCommands cmd = transfer_commands(from, to, opts, total);
  if (!from.session && !to.session) throw std::runtime_error("a local copy is not a transfer: use cp");
  if (!cmd.ranges.empty()) return copy_ranges(from, to, opts, total, cmd);
  Meter meter(opts, total, fmt::format("copy {} -> {}", from.str(), to.str()));
  prepare_destination(to, cmd);
  // Chosen after the copy's first commands ran on the libssh2 sessions: a
  // host they accepted as new is in known_hosts, ssh's only trust anchor.
  TransferResult result;
  std::string from_client, to_client;
  choose_streams(from, to, opts, total, &from_client, &to_client, &result);

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
      produce(from, from_client, cmd.read, 0, -1, ring, stopped, opts);
      ring.finish();
    } catch (...) {
      fail(std::current_exception());
    }
  });
  std::thread hasher([&] {
    yield_to_the_stream();
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
    int fd = to.session ? -1 : open_local_part(cmd.part);
    std::unique_ptr<int, void (*)(int*)> guard(&fd, [](int* f) {
      if (*f >= 0) ::close(*f);
    });
    delivered = consume(to, to_client, cmd.write, cmd.part, fd, 0, ring, kWriter, stopped, meter, &far);
    if (fd >= 0) sync_local_part(fd, cmd.part);
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
  // A host destination's checksum is of what its .part holds: equal to the
  // stream's, it holds every byte, and no size needs asking.
  put_in_place(to, cmd, opts);
  return result;
}

/// A ranged copy: per range, one thread reads it from the source into a
/// ring of its own and another writes it from there into the .part at its
/// offset, a host end on connections of the range's own (the first range
/// uses the copy's sessions). Meanwhile the source file is hashed where it
/// lies; once every range is in, the .part is hashed where it lies, and the
/// two must agree: the file's SHA-256 end to end, with memory constant.
TransferResult copy_ranges(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts, long long total,
                           const TransferCommands& cmd) {
  Meter meter(opts, total, fmt::format("copy {} -> {} ({} streams)", from.str(), to.str(), cmd.ranges.size()));
  prepare_destination(to, cmd);
  TransferResult result;
  std::string from_client, to_client;
  choose_streams(from, to, opts, total, &from_client, &to_client, &result);
  const size_t n = cmd.ranges.size();
  std::vector<std::unique_ptr<BlockRing>> rings;
  for (size_t i = 0; i < n; ++i) rings.push_back(std::make_unique<BlockRing>(kBlocks, kBlock, 1));
  std::mutex error_mutex;
  std::exception_ptr first_error;
  std::atomic<bool> failed{false};
  auto fail = [&](std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!first_error) first_error = e;
    }
    failed = true;
    for (auto& r : rings) r->close();
  };
  auto stopped = [&] { return failed.load() || (opts.should_stop && opts.should_stop()); };

  int fd = to.session ? -1 : open_local_part(cmd.part);
  std::unique_ptr<int, void (*)(int*)> guard(&fd, [](int* f) {
    if (*f >= 0) ::close(*f);
  });
  // The source's own checksum, taken while the ranges go: a local source is
  // read a second time (the page cache's, mostly), a host's on a connection
  // of its own.
  std::string source_sha;
  std::thread source_hasher([&] {
    yield_to_the_stream();
    try {
      if (!from.session) {
        source_sha = local_sha256(from.path, stopped);
      } else {
        SshSession other(from.session->target());
        source_sha = first_word(run_checked(other, cmd.source_checksum, false, stopped));
      }
    } catch (const std::exception&) {
      source_sha.clear();  // taken after the ranges instead
    }
  });
  std::vector<long long> delivered(n, 0);
  std::vector<std::thread> streams;
  for (size_t i = 0; i < n; ++i) {
    streams.emplace_back([&, i] {
      const long long off = cmd.ranges[i].first, len = cmd.ranges[i].second;
      BlockRing& ring = *rings[i];
      auto range_stopped = [&] { return ring.closed() || stopped(); };
      try {
        std::unique_ptr<SshSession> own_source, own_destination;
        TransferEnd source = from, destination = to;
        // A range through OpenSSH gets a connection of its own from ssh.
        if (i > 0 && from.session && from_client.empty()) {
          own_source = std::make_unique<SshSession>(from.session->target());
          source.session = own_source.get();
        }
        if (i > 0 && to.session && to_client.empty()) {
          own_destination = std::make_unique<SshSession>(to.session->target());
          destination.session = own_destination.get();
        }
        std::thread producer([&] {
          try {
            produce(source, from_client, cmd.read_range[i], off, len, ring, range_stopped, opts);
            ring.finish();
          } catch (...) {
            fail(std::current_exception());
          }
        });
        try {
          delivered[i] = consume(destination, to_client, cmd.write_range[i], cmd.part, fd, off, ring, 0, range_stopped,
                                 meter, nullptr);
        } catch (...) {
          fail(std::current_exception());
        }
        // The destination took all it will: a source still sending is told so.
        if (delivered[i] != len) ring.close();
        producer.join();
      } catch (...) {
        fail(std::current_exception());
      }
    });
  }
  for (auto& t : streams) t.join();
  source_hasher.join();
  if (first_error) std::rethrow_exception(first_error);
  if (opts.should_stop && opts.should_stop()) throw Interrupted("stopped while copying " + from.str());

  for (size_t i = 0; i < n; ++i)
    if (delivered[i] != cmd.ranges[i].second)
      throw std::runtime_error(fmt::format("copying {} -> {}: {} bytes arrived of {} in the range from byte {}: the far "
                                           "side stopped taking them (is its disk full?)",
                                           from.str(), to.str(), delivered[i], cmd.ranges[i].second,
                                           cmd.ranges[i].first));
  long long held = 0;
  if (to.session) {
    held = std::atoll(run_checked(*to.session, cmd.size, false, opts.should_stop).c_str());
  } else {
    sync_local_part(fd, cmd.part);
    struct stat st {};
    held = ::fstat(fd, &st) == 0 ? st.st_size : -1;
  }
  if (held != total)
    throw std::runtime_error(fmt::format("copying {} -> {}: the destination holds {} bytes of {} (is its disk full?); "
                                         "nothing was put under {}",
                                         from.str(), to.str(), held, total, to.path));
  if (opts.on_written) opts.on_written();
  auto never = [] { return false; };
  if (source_sha.empty())
    source_sha = from.session ? first_word(run_checked(*from.session, cmd.source_checksum, false, opts.should_stop))
                              : local_sha256(from.path, never);
  const std::string part_sha = to.session
                                   ? first_word(run_checked(*to.session, cmd.part_checksum, false, opts.should_stop))
                                   : local_sha256(cmd.part, never);
  if (part_sha != source_sha)
    throw std::runtime_error(fmt::format("checksum mismatch copying {} -> {} in {} ranges: the source has {}, the "
                                         "written {} has {}: the file changed while it was copied, or the far side's "
                                         "disk corrupts it; nothing was put under {}",
                                         from.str(), to.str(), n, source_sha, cmd.part,
                                         part_sha.empty() ? "no checksum" : part_sha, to.path));
  put_in_place(to, cmd, opts);
  result.bytes = total;
  result.sha256 = source_sha;
  return result;
}

}  // namespace

std::string TransferEnd::str() const {
  return session ? session->target().name + ":" + path : "local:" + path;
}

std::vector<std::string> host_sha256_command(const std::string& path) {
  std::vector<std::string> argv = {"sh", "-c", kSha256Shell, "sha256"};
  // openssl takes no `--`: a name that looks like an option goes as ./name.
  if (!path.empty()) argv.push_back(path[0] == '-' ? "./" + path : path);
  return argv;
}

std::string remote_sha256(SshSession& s, const std::string& path) {
  return first_word(run_checked(s, host_sha256_command(path), false));
}

long long remote_size(SshSession& s, const std::string& path) {
  return std::atoll(run_checked(s, {"stat", "-c", "%s", "--", path}, false).c_str());
}

static TransferResult copy_with_retries(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts,
                                        long long size);

static long long source_size(const TransferEnd& from) {
  if (from.session) return remote_size(*from.session, from.path);
  struct stat st {};
  if (::stat(from.path.c_str(), &st) != 0) throw std::runtime_error("cannot read " + from.path);
  return st.st_size;
}

Operation transfer_operation(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts,
                             long long size) {
  const TransferCommands cmd = transfer_commands(from, to, opts, size);
  Operation op(Operation::Kind::Transfer, true, to.session ? to.session->target().name : "local",
               fmt::format("copy {} -> {} (streamed through the orchestrator, SHA-256 end to end)", from.str(),
                           to.str()));
  auto part = [&](const std::vector<std::string>& argv) {
    op.parts.emplace_back(to.session ? Operation::Kind::Command : Operation::Kind::Local, true, op.where,
                          shell_join(argv));
  };
  if (!cmd.prepare.empty()) part(cmd.prepare);
  else if (!to.session && !cmd.dir.empty()) part(cmd.mkdir);
  if (!cmd.ranges.empty()) {
    for (size_t i = 0; i < cmd.ranges.size(); ++i) {
      if (to.session) part(cmd.write_range[i]);
      else
        op.parts.emplace_back(Operation::Kind::Local, true, op.where,
                              fmt::format("write {} bytes {}-{}", shell_join({cmd.part}), cmd.ranges[i].first,
                                          cmd.ranges[i].first + cmd.ranges[i].second - 1));
    }
  } else if (to.session) {
    part(cmd.write);
  } else {
    part({"write", cmd.part});
  }
  if (to.session) {
    part(cmd.finish);
  } else {
    part(cmd.chmod);
    part(cmd.rename);
  }
  return op;
}

TransferResult copy_file(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts) {
  if (opts.mode.size() < 3 || opts.mode.find_first_not_of("01234567") != std::string::npos)
    throw std::runtime_error("mode '" + opts.mode + "' is not an octal file mode");
  if (!from.session && !to.session) throw std::runtime_error("a local copy is not a transfer: use cp");
  // The size decides the writes (one stream or ranges), so it is read
  // first; a dry run may come before the step that makes the file, and a
  // dropped connection is the retry loop's to handle (it reads the size
  // again; the copy then goes as one stream or as ranges, as the size says).
  long long size = -1;
  try {
    size = source_size(from);
  } catch (const SshError& e) {
    if (e.kind() != SshError::Kind::Dropped && (!opts.runner || !opts.runner->rehearsal())) throw;
  } catch (const std::exception&) {
    if (!opts.runner || !opts.runner->rehearsal()) throw;
  }
  TransferResult result;
  perform_operation(opts.runner, transfer_operation(from, to, opts, size),
                    [&] { result = copy_with_retries(from, to, opts, size); });
  return result;
}

static TransferResult copy_with_retries(const TransferEnd& from, const TransferEnd& to, const TransferOptions& opts,
                                        long long size) {
  for (int attempt = 1;; ++attempt) {
    try {
      const long long total = attempt == 1 && size >= 0 ? size : source_size(from);
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
