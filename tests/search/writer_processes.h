#pragma once
// Several writer processes at once on one storage: `body(writer)` runs in each of
// `processes` forked children, which exit 0 when it returns and 1 (with the error on
// standard error) when it throws; the test fails unless every child exits 0. Open storages
// inside `body`: a database connection must not cross fork().
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <functional>
#include <vector>

namespace gpu_tune::testing {

inline void run_writer_processes(int processes, const std::function<void(int writer)>& body) {
  std::vector<pid_t> children;
  for (int writer = 0; writer < processes; ++writer) {
    const pid_t child = fork();
    ASSERT_GE(child, 0) << "fork failed";
    if (child == 0) {
      int status = 0;
      try {
        body(writer);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "writer %d: %s\n", writer, e.what());
        status = 1;
      }
      _exit(status);  // skip the test framework's exit handlers, which belong to the parent
    }
    children.push_back(child);
  }
  for (pid_t child : children) {
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer process failed, status " << status;
  }
}

}  // namespace gpu_tune::testing
