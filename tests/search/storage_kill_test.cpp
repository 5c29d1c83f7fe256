// A writer killed with SIGKILL at an arbitrary instant loses nothing it had committed, and
// leaves a file that opens, passes SQLite's integrity check and can be resumed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/search/temp_directory.h"
#include "search/sqlite_storage.h"
#include "search/worker_id.h"

namespace gpu_tune::search {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kSteps = 3;
constexpr int64_t kFinishedBeforeKill = 20;


// Kills and reaps the child however the test ends, so none outlives it.
class ChildProcess {
 public:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  ~ChildProcess() {
    if (pid_ > 0) kill_and_wait();
  }
  int kill_and_wait() {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_;
};

// What the writer stores for trial `number`, so the reader can check every field.
ParamMap params_of(int64_t number) {
  return {{"number", number},
          {"half", static_cast<double>(number) / 2},
          {"name", "trial ☃ " + std::to_string(number)},
          {"even", number % 2 == 0}};
}
StepRecord step_of(int64_t number, int64_t step) {
  return {step, static_cast<double>(number * 10 + step), {{"step_metric", static_cast<double>(step) / 4}}};
}
double value_of(int64_t number) { return static_cast<double>(number) * 1.5; }
std::map<std::string, double> metrics_of(int64_t number) { return {{"accuracy", 1.0 / (number + 1)}}; }
int slot_of(int64_t number) { return static_cast<int>(number % 4); }

// The child's whole life: write trials forever, reporting each finished one on the pipe.
[[noreturn]] void write_until_killed(const fs::path& file, int report_fd) {
  try {
    SqliteStorage storage(file);
    const int64_t study = storage.find_study("killed")->id;
    for (int64_t finished = 0;; ++finished) {
      const TrialRecord trial = storage.start_trial(study, params_of(finished), "cuda:0", slot_of(finished));
      if (trial.number != finished) throw std::runtime_error("unexpected trial number " + std::to_string(trial.number));
      for (int64_t step = 0; step < kSteps; ++step) storage.record_step(study, trial.number, step_of(trial.number, step));
      storage.finish_trial(study, trial.number, TrialState::kComplete, value_of(trial.number), metrics_of(trial.number),
                           "");
      const int64_t count = finished + 1;
      if (write(report_fd, &count, sizeof count) != static_cast<ssize_t>(sizeof count)) _exit(3);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "writer: %s\n", e.what());
  }
  _exit(2);
}

// Blocks for the next count; false when the writer is gone.
bool read_count(int fd, int64_t& count) {
  size_t got = 0;
  auto* bytes = reinterpret_cast<char*>(&count);
  while (got < sizeof count) {
    const ssize_t n = read(fd, bytes + got, sizeof count - got);
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

std::string integrity_check(const fs::path& file) {
  sqlite3* db = nullptr;
  std::string result = "cannot open";
  if (sqlite3_open(file.c_str(), &db) == SQLITE_OK) {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &statement, nullptr) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW) {
      result = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    } else {
      result = sqlite3_errmsg(db);
    }
    sqlite3_finalize(statement);
  }
  sqlite3_close(db);
  return result;
}

void expect_intact(const TrialRecord& trial) {
  const int64_t n = trial.number;
  EXPECT_EQ(trial.state, TrialState::kComplete) << "trial " << n;
  EXPECT_EQ(trial.params, params_of(n)) << "trial " << n;
  ASSERT_EQ(trial.steps.size(), static_cast<size_t>(kSteps)) << "trial " << n;
  for (int64_t step = 0; step < kSteps; ++step) {
    const StepRecord expected = step_of(n, step);
    EXPECT_EQ(trial.steps[step].step, expected.step) << "trial " << n;
    EXPECT_EQ(trial.steps[step].value, expected.value) << "trial " << n;
    EXPECT_EQ(trial.steps[step].metrics, expected.metrics) << "trial " << n;
  }
  EXPECT_EQ(trial.value, value_of(n)) << "trial " << n;
  EXPECT_EQ(trial.metrics, metrics_of(n)) << "trial " << n;
  EXPECT_EQ(trial.device, "cuda:0") << "trial " << n;
  EXPECT_EQ(trial.slot, slot_of(n)) << "trial " << n;
  EXPECT_EQ(trial.error, "") << "trial " << n;
  EXPECT_GT(trial.started_at, 0) << "trial " << n;
  EXPECT_GE(trial.finished_at, trial.started_at) << "trial " << n;
}

TEST(SqliteStorageKill, SigkillMidWriteLosesNoFinishedTrial) {
  testing::TempDirectory directory{"storage_kill_test"};
  const fs::path file = directory.path() / "study.db";
  StudyInfo info;
  info.name = "killed";
  const int64_t study = SqliteStorage(file).create_or_load_study(info).id;  // closed before fork

  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0) << "fork failed";
  if (pid == 0) {
    close(pipe_fds[0]);
    write_until_killed(file, pipe_fds[1]);
  }
  close(pipe_fds[1]);
  ChildProcess child(pid);

  int64_t reported = 0;
  while (reported < kFinishedBeforeKill) {
    if (!read_count(pipe_fds[0], reported)) {
      close(pipe_fds[0]);
      FAIL() << "the writer stopped after " << reported << " trials, status " << child.kill_and_wait();
    }
  }
  const int status = child.kill_and_wait();
  close(pipe_fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "writer ended with status " << status;

  SqliteStorage storage(file);
  const std::vector<TrialRecord> trials = storage.trials(study);
  ASSERT_GE(trials.size(), static_cast<size_t>(reported));
  int running = 0;
  for (size_t index = 0; index < trials.size(); ++index) {
    const TrialRecord& trial = trials[index];
    EXPECT_EQ(trial.number, static_cast<int64_t>(index));
    if (trial.state == TrialState::kRunning) {
      ++running;
      EXPECT_EQ(index + 1, trials.size()) << "only the last trial can have been running";
      EXPECT_EQ(trial.params, params_of(trial.number));
      EXPECT_LE(trial.steps.size(), static_cast<size_t>(kSteps));
    } else {
      expect_intact(trial);
    }
  }
  EXPECT_LE(running, 1);

  // The killed writer was a process on this host: its trial is stale at once, heartbeat or not.
  EXPECT_EQ(storage.fail_stale_trials(study, "writer killed", 3600, is_dead_local_worker).size(),
            static_cast<size_t>(running));
  for (const TrialRecord& trial : storage.trials(study)) {
    EXPECT_TRUE(is_finished(trial.state)) << "trial " << trial.number;
    if (trial.state == TrialState::kFailed) {
      EXPECT_EQ(trial.error, "writer killed");
    }
  }
  EXPECT_EQ(integrity_check(file), "ok");
}

}  // namespace
}  // namespace gpu_tune::search
