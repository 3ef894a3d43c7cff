// A call abandoned because its caller's stop predicate said so: the run
// must stop (SIGINT, SIGTERM) or the step's time ran out. Every layer that
// waits (an engine request, an SSH command or handshake, a poll) throws this
// one type, never its own error kind, so no step, probe or verify mistakes
// it for a failure of the thing it talked to: they let it pass, and the step
// runner, which knows which of the two it was, records an interruption or a
// timeout.
#pragma once

#include <stdexcept>
#include <string>

namespace she {

class Interrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace she
