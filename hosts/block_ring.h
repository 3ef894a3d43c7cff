// The buffers between the stages of a transfer: one producer fills large
// blocks in order, each reader (the hasher, the writer) sees every block in
// order at its own pace, and a block is refilled only once every reader is
// done with it. So hashing runs beside the I/O instead of in its way, and
// memory stays at blocks x block_size whatever the size of the file.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace she {

class BlockRing {
 public:
  struct Block {
    const char* data = nullptr;
    size_t size = 0;  // 0: the end (or the ring was closed)
  };

  BlockRing(size_t blocks, size_t block_size, int readers);

  size_t block_size() const { return block_size_; }
  /// The next block to fill, block_size() bytes; waits until every reader
  /// is done with it. nullptr once the ring is closed.
  char* claim();
  /// The claimed block holds `n` bytes (n > 0) and goes to the readers.
  void publish(size_t n);
  /// Nothing more comes: readers get the end after the last block.
  void finish();
  /// Reader `r`'s next block, waiting for it; size 0 at the end or once closed.
  Block next(int r);
  /// Reader `r` is done with the block next(r) gave it.
  void release(int r);
  /// Gives up (a stage failed): every wait returns at once.
  void close();
  bool closed();

 private:
  size_t slowest() const;
  const size_t block_size_;
  // Left uninitialised: the kernel maps a page when it is first written,
  // so a small file costs the pages it fills, not the ring's megabytes
  // (zeroing 8 MiB up front took 25 ms on a 2-core VM, per copy).
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::vector<size_t> sizes_;
  size_t produced_ = 0;
  std::vector<size_t> taken_;  // per reader: blocks released
  bool finished_ = false, closed_ = false;
  std::mutex m_;
  std::condition_variable cv_;
};

}  // namespace she
