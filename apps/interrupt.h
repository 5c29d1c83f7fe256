#pragma once
// SIGINT (Ctrl-C) and SIGTERM while `gpu_tune tune` runs. The first asks the study to stop
// cleanly: no trial starts, running ones stop at their next step and are recorded as
// interrupted, and the command prints the best so far and how to resume. A second exits at
// once (status 128 + signal), killing the objective commands' process groups on the way;
// the study stays intact, every write to it being one SQLite transaction.
//
// The handler only stores the signal's number in a lock-free atomic; the second-signal path
// makes nothing but async-signal-safe calls (kill, _exit).
namespace gpu_tune::app {

// Installs the handlers for its lifetime (with a cleared flag) and restores the previous
// ones after. One at a time.
class InterruptHandlers {
 public:
  InterruptHandlers();
  ~InterruptHandlers();
  InterruptHandlers(const InterruptHandlers&) = delete;
  InterruptHandlers& operator=(const InterruptHandlers&) = delete;
};

// The first signal received while handlers were installed, or 0. Lock-free; cheap enough
// to ask after every bundle step.
int interrupt_signal();
inline bool interrupt_requested() { return interrupt_signal() != 0; }

}  // namespace gpu_tune::app
