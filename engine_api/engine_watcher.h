// One watcher of the engine per connection, shared by every wait on it: a
// view of the engine's hosts for waits on a host, and the same rounds of
// its event log tell waits on anything else the engine logs (VMs, data
// centers) when to look again.
// Waits on hosts (a status, a removal) used to poll on their own: each its
// own GET per host, at 1 s growing by half, so a 3 s install was seen after
// ~4.75 s and fifty waits made fifty requests a round. The watcher reads the
// engine's event log (`GET /events?from=LAST`, empty and cheap when nothing
// happened) at a short interval while anything waits, re-reads every host
// in one listing when an event concerns a host being waited on, and also
// at a slow safety interval (not every transition logs an event). Requests
// per second do not grow with the number of hosts waited on.
//
// No thread of its own: the first waiter due makes the round for all while
// the others sleep on the snapshot; each waiter keeps its own deadline and
// stop flag. A rehearsal never comes here (its waits look once: Poller).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "base/poller.h"
#include "engine_api/model.h"

namespace she::engine_api {

class EngineClient;
struct CallOptions;

struct WatchPolicy {
  // How often the event log is read while anything waits: the longest a
  // transition waits to be seen (the v4 API has no long poll on events).
  // One indexed read that returns nothing when nothing happened, ten a
  // second; at 0.25 s a 3 s install was seen 0.125 s late on average,
  // the largest overhead left on a restore's critical path.
  std::chrono::milliseconds events{100};
  std::chrono::milliseconds safety{5000};  // how often every host is re-read regardless
  // How soon after the last round a host wait that has just begun gets
  // one: the action before it (a removal, an install started) is often
  // already visible, and waiting out the interval put up to 0.1 s on each
  // step. However many waits begin, rounds stay one at a time, `prompt`
  // apart: at 50 ms a pipeline's second item, whose removal landed during
  // the first item's round, waited that long for the next one.
  std::chrono::milliseconds prompt{20};
};

class EngineWatcher {
 public:
  using Outcome = Poller::Outcome;  // Reached, Stopped or TimedOut: never Assumed

  EngineWatcher(EngineClient& client, WatchPolicy policy) : client_(client), policy_(policy) {}

  /// Returns once `reached` holds for host `id` (null: the engine has no
  /// such host) in a listing taken after this call began. `reached` may
  /// throw to end the wait (a status that fails it).
  Outcome wait(const CallOptions& o, const std::string& id, std::chrono::milliseconds timeout,
               const std::function<bool(const Host*)>& reached);

  /// Returns once `look` holds. It is asked at once, again after each
  /// round whose events read something new, and at the safety interval: a
  /// wait on what the engine logs events for (VMs, data centers, the SPM)
  /// without polling its own reads. `look` may throw to end the wait.
  Outcome wait_for(const CallOptions& o, std::chrono::milliseconds timeout, const std::function<bool()>& look);

  /// Requests made so far, for tests and the bench.
  struct Counts {
    long events = 0, listings = 0;
  };
  Counts counts() const;

 private:
  using Clock = std::chrono::steady_clock;
  /// One round, made by one waiter for all: the event log, and the hosts
  /// when due or when an event concerns a watched host. Called without the
  /// lock held.
  void round(const CallOptions& o, unsigned long round_no, bool list_now);
  void list(const CallOptions& o, unsigned long round_no);
  /// Makes a round for every waiter when one is due and none is under way
  /// (true: it made one); `lock` is held on entry and on return.
  bool make_round_if_due(std::unique_lock<std::mutex>& lock, const CallOptions& o, Clock::time_point now);
  bool watched_empty() const;

  EngineClient& client_;
  WatchPolicy policy_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool polling_ = false;                 // a waiter is making a round
  bool listing_wanted_ = false;          // a new waiter needs a listing taken after it began
  long long last_event_ = -1;            // -1: the log's end is not known yet
  std::map<std::string, Host> hosts_;    // by id, from the latest listing
  unsigned long rounds_ = 0;             // rounds begun so far
  unsigned long news_ = 0;               // rounds whose events read something new
  unsigned long listed_round_ = 0;       // the round of the latest listing (0: none yet)
  Clock::time_point listed_at_{}, next_round_{}, round_ended_{};
  std::multiset<std::string> watched_;   // the ids being waited on
  Counts counts_;
};

}  // namespace she::engine_api
