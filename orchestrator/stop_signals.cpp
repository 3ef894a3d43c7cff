#include "orchestrator/stop_signals.h"

#include <atomic>
#include <csignal>

namespace she {

namespace {

std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};

extern "C" void on_stop_signal(int sig) {
  g_stop = true;
  g_signal = sig;
}

}  // namespace

bool stop_requested() { return g_stop.load(); }
int stop_signal() { return g_signal.load(); }

struct StopSignals::Saved {
  struct sigaction int_action {};
  struct sigaction term_action {};
};

StopSignals::StopSignals() : saved_(std::make_unique<Saved>()) {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &saved_->int_action);
  sigaction(SIGTERM, &sa, &saved_->term_action);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &saved_->int_action, nullptr);
  sigaction(SIGTERM, &saved_->term_action, nullptr);
}

}  // namespace she
