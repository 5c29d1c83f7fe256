#pragma once
// Runs the real gpu_tune binary in a child process, for tests that signal or kill it.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace gpu_tune::testing {

// Starts `gpu_tune ARGS...` with its standard output and error in `log_file`; returns its pid.
inline pid_t spawn_gpu_tune(const std::vector<std::string>& args, const std::filesystem::path& log_file) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<std::string> words = {GPU_TUNE_BINARY};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& word : words) argv.push_back(word.data());
    argv.push_back(nullptr);
    if (FILE* log = std::fopen(log_file.c_str(), "w")) {
      dup2(fileno(log), STDOUT_FILENO);
      dup2(fileno(log), STDERR_FILENO);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// How many times longer than a plain build's the waits for other processes may be:
// GPU_TUNE_TEST_TIME_SCALE (scripts/sanitize-tests.sh sets it, as sanitizers slow everything
// down several times), else 1. Only limits scale; what a test measures against its own
// trials (a stop within a fraction of a trial) needs no scaling.
inline double test_time_scale() {
  const char* text = std::getenv("GPU_TUNE_TEST_TIME_SCALE");
  const double scale = text ? std::atof(text) : 1.0;
  return scale >= 1.0 ? scale : 1.0;
}

// The wait status once the child has exited, or nothing after `timeout` (times the test time
// scale; the child is then killed and reaped, so no test leaves one behind).
inline std::optional<int> wait_for_exit(pid_t pid, std::chrono::duration<double> timeout) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout * test_time_scale());
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return std::nullopt;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Whether any process of group `group` is alive (zombies aside: in a container nothing may
// reap orphans, and a zombie is not a stray process).
inline bool group_alive(pid_t group) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string text;
    if (!std::getline(stat, text)) continue;
    const size_t after_name = text.rfind(')');
    if (after_name == std::string::npos) continue;
    std::istringstream fields(text.substr(after_name + 2));
    char state = 0;
    long parent = 0, process_group = 0;
    fields >> state >> parent >> process_group;
    if (process_group == group && state != 'Z') return true;
  }
  return false;
}

}  // namespace gpu_tune::testing
