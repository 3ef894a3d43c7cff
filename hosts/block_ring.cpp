#include "hosts/block_ring.h"

#include <algorithm>

namespace she {

BlockRing::BlockRing(size_t blocks, size_t block_size, int readers)
    : block_size_(block_size), sizes_(blocks, 0), taken_(static_cast<size_t>(readers), 0) {
  for (size_t i = 0; i < blocks; ++i) blocks_.emplace_back(new char[block_size]);
}

size_t BlockRing::slowest() const { return *std::min_element(taken_.begin(), taken_.end()); }

char* BlockRing::claim() {
  std::unique_lock<std::mutex> lock(m_);
  cv_.wait(lock, [&] { return closed_ || produced_ - slowest() < blocks_.size(); });
  return closed_ ? nullptr : blocks_[produced_ % blocks_.size()].get();
}

void BlockRing::publish(size_t n) {
  std::lock_guard<std::mutex> lock(m_);
  sizes_[produced_ % blocks_.size()] = n;
  ++produced_;
  cv_.notify_all();
}

void BlockRing::finish() {
  std::lock_guard<std::mutex> lock(m_);
  finished_ = true;
  cv_.notify_all();
}

BlockRing::Block BlockRing::next(int r) {
  std::unique_lock<std::mutex> lock(m_);
  size_t& at = taken_[static_cast<size_t>(r)];
  cv_.wait(lock, [&] { return closed_ || at < produced_ || finished_; });
  if (closed_ || at == produced_) return {};
  size_t slot = at % blocks_.size();
  return {blocks_[slot].get(), sizes_[slot]};
}

void BlockRing::release(int r) {
  std::lock_guard<std::mutex> lock(m_);
  ++taken_[static_cast<size_t>(r)];
  cv_.notify_all();
}

void BlockRing::close() {
  std::lock_guard<std::mutex> lock(m_);
  closed_ = true;
  cv_.notify_all();
}

bool BlockRing::closed() {
  std::lock_guard<std::mutex> lock(m_);
  return closed_;
}

}  // namespace she
