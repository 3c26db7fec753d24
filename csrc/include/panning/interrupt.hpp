// Stopping long native loops: every kernel family that runs for long (scoring, indexes, graph
// building) takes an InterruptCheck and throws Interrupted when it says stop. The bindings pass
// a check that asks Python for pending signals (Ctrl-C) and turn Interrupted into
// KeyboardInterrupt.
#pragma once

#include <functional>
#include <stdexcept>

namespace panning {

// Thrown when the interrupt callback asks a long loop to stop (Ctrl-C in Python).
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

// Returns true when work should stop; called on the calling thread between chunks of rows.
using InterruptCheck = std::function<bool()>;

}  // namespace panning
