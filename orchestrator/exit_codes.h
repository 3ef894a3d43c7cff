// Exit codes of she-restore, documented in the README. Scripts and
// monitoring key on them, so they never change meaning.
#pragma once

namespace she::exit_code {

constexpr int kOk = 0;
constexpr int kStepFailed = 1;        // a step failed and the run stopped
constexpr int kUsage = 2;             // bad command line
constexpr int kInvalidPlan = 3;       // the plan or environment has errors; nothing ran
constexpr int kAwaitingOperator = 4;  // paused: an answer or a manual check is needed
constexpr int kInterrupted = 5;       // SIGINT/SIGTERM: stopped at a safe point
constexpr int kLocked = 6;            // another run of this plan holds the lock
constexpr int kNotImplemented = 69;   // a capability of a later release
constexpr int kInternal = 70;         // a bug: please report it

}  // namespace she::exit_code
