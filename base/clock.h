// Wall-clock time as she-restore writes it: in the journal, the plan lock,
// reports and run ids. Always UTC, so runs compare across hosts.
#pragma once

#include <string>

namespace she {

/// UTC time as 2026-11-21T05:49:20Z.
std::string utc_now();
/// The current UTC time in strftime's `format`, e.g. "%Y%m%dT%H%M%SZ".
std::string format_utc_now(const char* format);

}  // namespace she
