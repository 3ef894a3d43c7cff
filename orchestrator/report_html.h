// The report of a run as one self-contained HTML page (no network, no
// external asset): the summary of report.md and a timeline with one lane
// per host and one for engine-wide steps, a bar per step and loop item,
// waits drawn apart from actions, failures and operator pauses marked.
// Written beside report.md at every stop; `she-restore report --format html`.
#pragma once

#include <string>

#include "base/value.h"

namespace she {

/// The page for a report as report_json() builds it.
std::string report_html(const Value& report);

}  // namespace she
