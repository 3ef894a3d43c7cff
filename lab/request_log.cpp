#include "lab/request_log.h"

namespace she::lab {

void RequestLog::add(LoggedRequest r) {
  std::lock_guard<std::mutex> l(mutex_);
  r.seq = next_seq_++;
  entries_.push_back(std::move(r));
}

std::vector<LoggedRequest> RequestLog::all() const {
  std::lock_guard<std::mutex> l(mutex_);
  return entries_;
}

void RequestLog::clear() {
  std::lock_guard<std::mutex> l(mutex_);
  entries_.clear();
}

nlohmann::json RequestLog::to_json() const {
  std::lock_guard<std::mutex> l(mutex_);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : entries_)
    out.push_back({{"seq", r.seq},
                   {"time", r.time},
                   {"method", r.method},
                   {"path", r.path},
                   {"status", r.status},
                   {"correlation_id", r.correlation_id}});
  return out;
}

std::string RequestLog::redact(const std::string& target) {
  const auto q = target.find('?');
  if (q == std::string::npos) return target;
  std::string out = target.substr(0, q + 1);
  std::size_t start = q + 1;
  bool first = true;
  while (start <= target.size()) {
    std::size_t end = target.find('&', start);
    if (end == std::string::npos) end = target.size();
    std::string pair = target.substr(start, end - start);
    const auto eq = pair.find('=');
    const std::string name = pair.substr(0, eq);
    if (eq != std::string::npos && (name == "password" || name == "token")) pair = name + "=[redacted]";
    if (!first) out += '&';
    out += pair;
    first = false;
    start = end + 1;
  }
  return out;
}

}  // namespace she::lab
