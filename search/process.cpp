#include "search/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace gpu_tune::search {
namespace {

constexpr size_t kReadChunkBytes = 64 * 1024;
constexpr size_t kMaxBytesPerRead = 1024 * 1024;

// The process groups of live children, for kill_all_child_process_groups. A fixed table of
// lock-free atomics, because a signal handler reads it; 0 marks a free entry. More children
// than entries still run, they are just not reachable from a handler.
constexpr size_t kTrackedGroups = 1024;
std::atomic<pid_t> live_groups[kTrackedGroups];
static_assert(std::atomic<pid_t>::is_always_lock_free);

void track_group(pid_t group) {
  for (std::atomic<pid_t>& entry : live_groups) {
    pid_t free_entry = 0;
    if (entry.compare_exchange_strong(free_entry, group)) return;
  }
}

void untrack_group(pid_t group) {
  for (std::atomic<pid_t>& entry : live_groups) {
    pid_t tracked = group;
    if (entry.compare_exchange_strong(tracked, 0)) return;
  }
}

void close_fd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

// Both ends close-on-exec, so no other child (ours or another thread's) inherits them; the
// child gets its end through dup2, which clears the flag on the copy.
struct Pipe {
  int read_end = -1;
  int write_end = -1;

  explicit Pipe(const std::string& program) {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) {
      throw std::system_error(errno, std::generic_category(), "could not start " + program + ": no pipe");
    }
    read_end = ends[0];
    write_end = ends[1];
    // Only our end is non-blocking: the child writes to an ordinary blocking pipe.
    const int flags = ::fcntl(read_end, F_GETFL);
    ::fcntl(read_end, F_SETFL, flags | O_NONBLOCK);
  }
  ~Pipe() {
    close_fd(read_end);
    close_fd(write_end);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
};

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (const std::string& s : strings) pointers.push_back(const_cast<char*>(s.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

// posix_spawn rather than fork: safe in a threaded program, and it reports a failed exec
// as its return value, so "cannot start" is known before we treat the child as running.
pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env, int stdout_fd, int stderr_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, stderr_fd, STDERR_FILENO);

  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  // Its own group, so one kill reaches everything the shell starts; default signal
  // dispositions and an empty mask, so a parent that ignores SIGPIPE or blocks SIGTERM does
  // not pass that on.
  sigset_t all_signals, no_signals;
  sigfillset(&all_signals);
  sigemptyset(&no_signals);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setsigdefault(&attributes, &all_signals);
  posix_spawnattr_setsigmask(&attributes, &no_signals);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::vector<char*> argv_pointers = c_strings(argv);
  std::vector<char*> env_pointers = c_strings(env);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0].c_str(), &actions, &attributes, argv_pointers.data(), env_pointers.data());
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "could not start " + argv[0]);
  return pid;
}

}  // namespace

void kill_all_child_process_groups() noexcept {
  for (std::atomic<pid_t>& entry : live_groups) {
    const pid_t group = entry.load();
    if (group > 0) ::kill(-group, SIGKILL);
  }
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  if (argv.empty() || argv[0].empty()) throw std::invalid_argument("a child process needs a program to run");
  Pipe out(argv[0]);
  Pipe err(argv[0]);
  pid_ = spawn(argv, env, out.write_end, err.write_end);
  track_group(pid_);  // the child leads its own group, so the group's id is its pid
  // The Pipes close the write ends, so end of file comes when the child's copies close.
  stdout_fd_ = out.read_end;
  stderr_fd_ = err.read_end;
  out.read_end = -1;
  err.read_end = -1;
}

ChildProcess::~ChildProcess() {
  if (!exit_) {
    ::kill(-pid_, SIGKILL);
    reap();
  }
  close_fd(stdout_fd_);
  close_fd(stderr_fd_);
}

int ChildProcess::fd(ChildStream stream) const { return stream == ChildStream::kStdout ? stdout_fd_ : stderr_fd_; }

bool ChildProcess::read_available(ChildStream stream, std::string& out) {
  int& fd = stream == ChildStream::kStdout ? stdout_fd_ : stderr_fd_;
  if (fd < 0) return false;
  char buffer[kReadChunkBytes];
  for (size_t total = 0; total < kMaxBytesPerRead;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      out.append(buffer, static_cast<size_t>(n));
      total += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true;
    } else {
      // End of file, or an error that more reading will not cure.
      close_fd(fd);
      return false;
    }
  }
  return true;
}

void ChildProcess::close_stream(ChildStream stream) {
  close_fd(stream == ChildStream::kStdout ? stdout_fd_ : stderr_fd_);
}

void ChildProcess::signal_group(int signal) {
  if (!exit_) ::kill(-pid_, signal);
}

std::optional<ExitStatus> ChildProcess::poll_exit() {
  if (exit_) return exit_;
  siginfo_t info{};
  int rc;
  do {
    // WNOWAIT leaves the child a zombie for now: while it is unreaped its pid cannot be
    // reused, so the group kill below cannot reach an unrelated group.
    rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0 && errno == ECHILD) {
    // Already reaped by someone else (SIGCHLD ignored): it has exited, its status is lost.
    untrack_group(pid_);
    exit_ = ExitStatus{false, -1};
    return exit_;
  }
  if (rc != 0)
    throw std::system_error(errno, std::generic_category(), "could not wait for child " + std::to_string(pid_));
  if (info.si_pid == 0) return std::nullopt;
  ::kill(-pid_, SIGKILL);
  exit_ = reap();
  return exit_;
}

ExitStatus ChildProcess::reap() {
  // Untracked before the pid can be reused by someone else's process.
  untrack_group(pid_);
  int status = 0;
  pid_t rc;
  do {
    rc = ::waitpid(pid_, &status, 0);
  } while (rc < 0 && errno == EINTR);
  ExitStatus result;
  if (rc < 0) {
    // Someone else reaped it (SIGCHLD ignored): the status is lost, so call it a failure.
    result.code = -1;
  } else if (WIFSIGNALED(status)) {
    result.signaled = true;
    result.code = WTERMSIG(status);
  } else {
    result.code = WEXITSTATUS(status);
  }
  return result;
}

}  // namespace gpu_tune::search
