// Durations in plans: "90s", "5m", "1h30m", "250ms", or a bare number of
// seconds, as operators write them in Ansible and systemd.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace she {

using Duration = std::chrono::milliseconds;

std::optional<Duration> parse_duration(std::string_view text);
/// Shortest form that parses back: "1h30m", "45s", "250ms".
std::string format_duration(Duration d);
const char* duration_hint();

/// Waits `d` in short slices: false as soon as `stop` says so (a run's
/// stop request is seen at once), true once the time has passed.
bool wait_unless(Duration d, const std::function<bool()>& stop);

}  // namespace she
