#include "apps/interrupt.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

#include "search/process.h"

namespace gpu_tune::app {
namespace {

std::atomic<int> received_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free flag");

struct sigaction previous_int, previous_term;

extern "C" void on_interrupt(int signal_number) {
  int none = 0;
  if (received_signal.compare_exchange_strong(none, signal_number)) return;
  // The second signal: the user wants out now.
  search::kill_all_child_process_groups();
  _exit(128 + signal_number);
}

}  // namespace

InterruptHandlers::InterruptHandlers() {
  received_signal.store(0);
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  // Restart interrupted system calls: the workers notice the flag at their next step, and
  // nothing else (SQLite, reads of the dataset) needs to see EINTR.
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, &previous_int);
  sigaction(SIGTERM, &action, &previous_term);
}

InterruptHandlers::~InterruptHandlers() {
  sigaction(SIGINT, &previous_int, nullptr);
  sigaction(SIGTERM, &previous_term, nullptr);
}

int interrupt_signal() { return received_signal.load(std::memory_order_relaxed); }

}  // namespace gpu_tune::app
