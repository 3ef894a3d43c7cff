#include "engine_api/engine_watcher.h"

#include <algorithm>

#include "engine_api/client.h"

namespace she::engine_api {

EngineWatcher::Outcome EngineWatcher::wait(const CallOptions& o, const std::string& id, std::chrono::milliseconds timeout,
                                       const std::function<bool(const Host*)>& reached) {
  const auto deadline = Clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mutex_);
  watched_.insert(id);
  listing_wanted_ = true;
  if (!polling_) next_round_ = std::min(next_round_, round_ended_ + policy_.prompt);
  struct Unwatch {
    std::multiset<std::string>& watched;
    const std::string& id;
    ~Unwatch() { watched.erase(watched.find(id)); }  // under the lock: declared after it
  } unwatch{watched_, id};
  // Only a listing from a round begun after this wait began can show what
  // the action before it did.
  const unsigned long began = rounds_;
  unsigned long seen = 0;
  while (true) {
    if (listed_round_ > began && listed_round_ != seen) {
      seen = listed_round_;
      auto it = hosts_.find(id);
      const bool present = it != hosts_.end();
      const Host host = present ? it->second : Host{};
      lock.unlock();  // `reached` may ask the engine why a status failed
      const bool done = reached(present ? &host : nullptr);
      lock.lock();
      if (done) return Outcome::Reached;
    }
    if (o.should_stop && o.should_stop()) return Outcome::Stopped;
    const auto now = Clock::now();
    if (now >= deadline) return Outcome::TimedOut;
    if (make_round_if_due(lock, o, now)) continue;
    const auto nap = now + std::chrono::milliseconds(100);  // a stop is seen within 0.1 s
    changed_.wait_until(lock, std::min({deadline, nap, polling_ ? nap : std::max(now, next_round_)}));
  }
}

EngineWatcher::Outcome EngineWatcher::wait_for(const CallOptions& o, std::chrono::milliseconds timeout,
                                           const std::function<bool()>& look) {
  const auto deadline = Clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mutex_);
  unsigned long seen = news_ + 1;  // look at once
  Clock::time_point looked_at;
  while (true) {
    const auto now = Clock::now();
    if (news_ != seen || now - looked_at >= policy_.safety) {
      seen = news_;
      lock.unlock();  // `look` reads the engine; rounds go on meanwhile
      const bool done = look();
      looked_at = Clock::now();
      lock.lock();
      if (done) return Outcome::Reached;
      continue;
    }
    if (o.should_stop && o.should_stop()) return Outcome::Stopped;
    if (now >= deadline) return Outcome::TimedOut;
    if (make_round_if_due(lock, o, now)) continue;
    const auto nap = now + std::chrono::milliseconds(100);  // a stop is seen within 0.1 s
    changed_.wait_until(lock, std::min({deadline, nap, polling_ ? nap : std::max(now, next_round_)}));
  }
}

bool EngineWatcher::make_round_if_due(std::unique_lock<std::mutex>& lock, const CallOptions& o,
                                    Clock::time_point now) {
  if (polling_ || now < next_round_) return false;
  polling_ = true;
  const unsigned long round_no = ++rounds_;
  // Hosts are listed only for host waits; a wait for news alone reads the
  // event log.
  const bool list_now = !watched_.empty() && (listing_wanted_ || listed_round_ == 0 || now - listed_at_ >= policy_.safety);
  listing_wanted_ = false;
  struct EndRound {
    EngineWatcher& w;
    std::unique_lock<std::mutex>& lock;
    bool completed = false;
    ~EndRound() {
      lock.lock();
      w.polling_ = false;
      if (!completed) w.listing_wanted_ = true;  // the round failed: the next one lists
      w.round_ended_ = Clock::now();
      // A wait that began during the round (or an event on a watched host)
      // wants a listing taken after: soon. A failed round waits its turn.
      w.next_round_ = w.round_ended_ + (completed && w.listing_wanted_ ? w.policy_.prompt : w.policy_.events);
      w.changed_.notify_all();
    }
  } end{*this, lock};
  lock.unlock();
  round(o, round_no, list_now);
  end.completed = true;
  return true;
}

void EngineWatcher::round(const CallOptions& o, unsigned long round_no, bool list_now) {
  long long after;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    after = last_event_;
  }
  if (after < 0) {
    // The first round: the hosts, then the log's end (what happened before
    // is not news). A change between the two is caught by listing again
    // at the next round.
    if (!watched_empty()) list(o, round_no);
    auto latest = client_.latest_events(o, 1);
    std::lock_guard<std::mutex> lock(mutex_);
    ++counts_.events;
    last_event_ = latest.empty() ? 0 : latest.front().id;
    listing_wanted_ = true;
    ++news_;  // what changed before the log's end was known: look again
    return;
  }
  auto events = client_.events_since(o, after);
  bool concerns = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++counts_.events;
    for (const auto& e : events) {
      last_event_ = std::max(last_event_, e.id);
      if (!e.host_id.empty() && watched_.count(e.host_id)) concerns = true;
    }
    if (!events.empty()) ++news_;
    // An event may be logged a moment before the listing shows its
    // change: the round after it lists again.
    if (concerns) listing_wanted_ = true;
  }
  if (list_now || concerns) list(o, round_no);
}

void EngineWatcher::list(const CallOptions& o, unsigned long round_no) {
  auto hosts = client_.list_hosts(o, "", true);
  std::lock_guard<std::mutex> lock(mutex_);
  ++counts_.listings;
  hosts_.clear();
  for (auto& h : hosts) hosts_.emplace(h.id, std::move(h));
  listed_round_ = round_no;
  listed_at_ = Clock::now();
}

bool EngineWatcher::watched_empty() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return watched_.empty();
}

EngineWatcher::Counts EngineWatcher::counts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counts_;
}

}  // namespace she::engine_api
