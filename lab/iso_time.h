// Times as the engine writes them in XML (<time>, <start_time>): ISO 8601
// with milliseconds and a numeric offset, e.g. 2026-11-21T05:47:00.123+00:00.
// The lab always writes UTC.
#pragma once

#include <chrono>
#include <string>

namespace she::lab {

std::string iso_time(std::chrono::system_clock::time_point t);

/// Milliseconds since the epoch (the SSO token's "exp").
long long epoch_ms(std::chrono::system_clock::time_point t);

}  // namespace she::lab
