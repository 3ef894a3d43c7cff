// Wall-clock time as she-restore writes it: in the journal, the plan lock,
// reports and run ids. Always UTC, so runs compare across hosts.
#pragma once

#include <string>

namespace she {

/// UTC time as 2026-11-21T05:49:20Z.
std::string utc_now();
/// UTC time with milliseconds, 2026-11-21T05:49:20.123Z: journal records,
/// so reports can lay steps and loop items on one timeline.
std::string utc_now_ms();
/// Milliseconds since the epoch of a time written by either of the above;
/// -1 when `text` is not one.
long long utc_ms(const std::string& text);
/// The current UTC time in strftime's `format`, e.g. "%Y%m%dT%H%M%SZ".
std::string format_utc_now(const char* format);

}  // namespace she
