#pragma once
// A child process for running objective commands: it runs in its own process group (so a
// whole pipeline can be stopped at once), its standard input is /dev/null, and its standard
// output and error come back through non-blocking pipes that the caller polls.
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace gpu_tune::search {

// How a child ended.
struct ExitStatus {
  bool signaled = false;  // killed by a signal rather than exiting
  int code = 0;           // the exit status, or the signal's number when signaled
};

enum class ChildStream { kStdout, kStderr };

// Sends SIGKILL to the process group of every live child (one not yet reaped). Only
// async-signal-safe calls on lock-free atomics, so a signal handler may call it: a second
// Ctrl-C that exits at once takes the commands' process groups with it instead of orphaning
// them (they run in their own groups, out of reach of the terminal's signal).
void kill_all_child_process_groups() noexcept;

// Owns one child. Destroying a child that has not been reaped kills its whole process group
// and reaps it, so neither a zombie nor a stray process outlives the object, even when the
// owner unwinds from an exception.
class ChildProcess {
 public:
  // argv[0] is a path (PATH is not searched); env is the child's whole environment, as
  // "NAME=VALUE" entries. Throws std::system_error ("could not start <argv[0]>: <reason>")
  // when the program cannot be started, std::invalid_argument when argv is empty.
  ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The parent's read end of a stream, for poll(); -1 once it is closed.
  int fd(ChildStream stream) const;

  // Appends what the stream has now (up to a bound, so one chatty child cannot starve the
  // others); returns false once the stream is at end of file, and then closes it.
  bool read_available(ChildStream stream, std::string& out);
  // Stops reading a stream, e.g. one still held open by a process that left the group.
  void close_stream(ChildStream stream);

  // Sends `signal` to the child's process group; does nothing once the child is reaped.
  void signal_group(int signal);
  // Whether the child has exited, without blocking. On first seeing the exit it kills what
  // is left of the group (background jobs the command started) and reaps the child.
  std::optional<ExitStatus> poll_exit();

 private:
  ExitStatus reap();

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::optional<ExitStatus> exit_;
};

}  // namespace gpu_tune::search
