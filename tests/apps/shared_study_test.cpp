// Several gpu_tune processes on one study, kept in SQLite and in PostgreSQL alike: they share
// the budget exactly, leave each other's trials alone, join by name, and survive one of them
// killed with SIGKILL.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "apps/study_commands.h"
#include "apps/tune_command.h"
#include "search/study_progress.h"
#include "tests/apps/study_folder_test.h"
#include "tests/apps/tune_process.h"
#ifdef GPU_TUNE_HAVE_POSTGRES
#include "tests/search/postgres_test_database.h"
#endif

namespace gpu_tune::app {
namespace {

namespace fs = std::filesystem;
using testing::complete_count;
using testing::file_text;

// The parameter names the storage: "sqlite" (the folder's study.db) or "postgresql" (a fresh
// database on the tests' server).
class SharedStudy : public testing::StudyFolderTest, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    StudyFolderTest::SetUp();
#ifdef GPU_TUNE_HAVE_POSTGRES
    if (GetParam() == "postgresql") {
      database_ = std::make_unique<testing::PostgresTestDatabase>();
      if (!database_->available()) GTEST_SKIP() << testing::kPostgresSkipMessage;
      storage_ = database_->url();
    }
#endif
  }
  void TearDown() override {
    StudyFolderTest::TearDown();  // children first: a database in use cannot be dropped
#ifdef GPU_TUNE_HAVE_POSTGRES
    database_.reset();
#endif
  }

#ifdef GPU_TUNE_HAVE_POSTGRES
  std::unique_ptr<testing::PostgresTestDatabase> database_;
#endif
};

#ifdef GPU_TUNE_HAVE_POSTGRES
INSTANTIATE_TEST_SUITE_P(Storages, SharedStudy, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });
#else
INSTANTIATE_TEST_SUITE_P(Storages, SharedStudy, ::testing::Values("sqlite"),  // built without PostgreSQL
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });
#endif

TEST_P(SharedStudy, TwoProcessesOnOneStudyShareTheBudgetAndLeaveEachOthersTrialsAlone) {
  // Before trials had owners, the second process marked the first's running trials failed
  // at its start, and the first then stopped with an error when it reported them.
  const fs::path study = write("study.yaml", R"(
study: shared
budget: {trials: 16, parallel: 2}
sampler: {name: random, seed: 5}
space:
  x: {distribution: uniform, low: -2, high: 2}
)");
  const fs::path script = write("objective.sh", "sleep 0.3\necho \"$GPU_TUNE_X\"\n");
  const std::vector<std::string> args = {"tune", study.string(), "--storage", storage_,
                                         "--objective-command", "sh " + script.string(), "--no-progress"};
  const pid_t first = spawn(args, dir_ / "first.log");
  // The second starts once the first has trials running.
  ASSERT_TRUE(wait_for("shared", [](const std::vector<search::TrialRecord>& trials) {
    return std::any_of(trials.begin(), trials.end(),
                       [](const search::TrialRecord& t) { return t.state == search::TrialState::kRunning; });
  }));
  // `status` names the process that runs each trial.
  StudyCommandOptions reading;
  reading.selector.storage = storage_;
  reading.selector.study_name = "shared";
  std::ostringstream status, status_errors;
  ASSERT_EQ(run_status(reading, status, status_errors), 0) << status_errors.str();
  EXPECT_NE(status.str().find(":" + std::to_string(first) + ":"), std::string::npos) << status.str();
  const pid_t second = spawn(args, dir_ / "second.log");
  int first_status = 0, second_status = 0;
  waitpid(first, &first_status, 0);
  waitpid(second, &second_status, 0);
  EXPECT_TRUE(WIFEXITED(first_status) && WEXITSTATUS(first_status) == 0) << file_text(dir_ / "first.log");
  EXPECT_TRUE(WIFEXITED(second_status) && WEXITSTATUS(second_status) == 0) << file_text(dir_ / "second.log");

  const auto trials = trials_of("shared");
  const search::StudyProgress progress = search::summarize(trials, search::Direction::kMinimize);
  EXPECT_EQ(progress.complete, 16) << "the budget is met exactly, by both together";
  EXPECT_EQ(static_cast<int64_t>(trials.size()), 16) << "no trial failed, was interrupted or ran twice";
  std::set<std::string> workers;
  for (const auto& t : trials) workers.insert(t.worker);
  EXPECT_EQ(workers.size(), 2u) << "both processes ran trials";
}

TEST_P(SharedStudy, AWorkerJoinsAStudyByNameFromItsDatabaseAndSharesTheBudget) {
  const fs::path study = write("study.yaml", R"(
study: joined
budget: {trials: 12, parallel: 2}
sampler: {name: random, seed: 6}
space:
  x: {distribution: uniform, low: -2, high: 2}
)");
  const fs::path script = write("objective.sh", "sleep 0.3\necho \"$GPU_TUNE_X\"\n");
  const std::string db = storage_;
  const pid_t first = spawn({"tune", study.string(), "--storage", db, "--objective-command", "sh " + script.string(),
                                  "--no-progress"},
                                 dir_ / "first.log");
  ASSERT_TRUE(wait_for("joined", [](const std::vector<search::TrialRecord>& trials) { return !trials.empty(); }));
  // No study file: the worker reads it from the database.
  const pid_t second = spawn({"worker", "--study", "joined", "--storage", db, "--objective-command",
                                   "sh " + script.string(), "--no-progress"},
                                  dir_ / "second.log");
  int first_status = 0, second_status = 0;
  waitpid(first, &first_status, 0);
  waitpid(second, &second_status, 0);
  EXPECT_TRUE(WIFEXITED(first_status) && WEXITSTATUS(first_status) == 0) << file_text(dir_ / "first.log");
  EXPECT_TRUE(WIFEXITED(second_status) && WEXITSTATUS(second_status) == 0) << file_text(dir_ / "second.log");
  const auto trials = trials_of("joined");
  EXPECT_EQ(trials.size(), 12u);
  std::set<std::string> workers;
  for (const auto& t : trials) {
    EXPECT_EQ(t.state, search::TrialState::kComplete) << "trial " << t.number;
    workers.insert(t.worker);
  }
  EXPECT_EQ(workers.size(), 2u) << "the worker ran trials too";

  // A study the database does not hold is one error naming it, and nothing runs.
  TuneOptions options;
  options.join_study = "jioned";
  options.storage = db;
  options.objective_command = "sh " + script.string();
  std::ostringstream out, log;
  EXPECT_EQ(run_tune(options, out, log), 2);
  EXPECT_NE(log.str().find("holds no study named 'jioned'"), std::string::npos) << log.str();
  EXPECT_EQ(trials_of("joined").size(), 12u);
}

TEST_P(SharedStudy, WorkersSurviveOneKilledMidRunAndMeetTheBudgetExactly) {
  // Three processes on one study; one is killed with SIGKILL mid-run. Its running trials are
  // given up by the others' heartbeat threads (a dead process on this host is seen at the
  // next beat), their places come back, and the survivors finish the budget exactly.
  const fs::path study = write("study.yaml", R"(
study: load
budget: {trials: 300, parallel: 2}
sampler: {name: random, seed: 9}
workers: {heartbeat: 0.5s, grace: 30s}
space:
  x: {distribution: uniform, low: -2, high: 2}
)");
  // Trials from number 100 on wait while `hold` exists, so that the kill below comes while
  // the victim has trials running, however fast or slow the processes run (racing a free
  // study to its end, the poll could miss every moment it asked for on a loaded machine).
  const fs::path hold = write("hold", "");
  const fs::path script =
      write("objective.sh", "if [ \"$GPU_TUNE_TRIAL_NUMBER\" -ge 100 ]; then\n"
                            "  while [ -e '" + hold.string() + "' ]; do sleep 0.02; done\n"
                            "fi\n"
                            "sleep 0.05\necho \"$GPU_TUNE_X\"\n");
  const std::vector<std::string> args = {"tune", study.string(), "--storage", storage_,
                                         "--objective-command", "sh " + script.string(), "--no-progress"};
  std::vector<pid_t> workers;
  for (int w = 0; w < 3; ++w) workers.push_back(spawn(args, dir_ / ("worker" + std::to_string(w) + ".log")));
  // Kill the first once 100 trials are complete and it has trials running.
  const std::string victim = ":" + std::to_string(workers[0]) + ":";
  std::string last_seen = "nothing read yet";  // what the poll saw last, for a failure to show
  const bool victim_busy = wait_for(
      "load",
      [&](const std::vector<search::TrialRecord>& trials) {
        int running = 0, victims = 0;
        for (const search::TrialRecord& t : trials) {
          if (t.state != search::TrialState::kRunning) continue;
          ++running;
          if (t.worker.find(victim) != std::string::npos) ++victims;
        }
        last_seen = std::to_string(trials.size()) + " trials, " + std::to_string(complete_count(trials)) +
                    " complete, " + std::to_string(running) + " running, " + std::to_string(victims) +
                    " of them the first worker's";
        return complete_count(trials) >= 100 && victims > 0;
      },
      std::chrono::seconds(50));
  ASSERT_TRUE(victim_busy && kill(workers[0], SIGKILL) == 0)
      << "the first worker never had trials running after 100 were complete; last seen: " << last_seen
      << "\nfirst worker's log:\n" << file_text(dir_ / "worker0.log")
      << "\nsecond worker's log:\n" << file_text(dir_ / "worker1.log");
  int status = 0;
  waitpid(workers[0], &status, 0);
  fs::remove(hold);
  // The waits stay within ctest's limit (1,200 s) at the sanitizers' time scale of 10, so
  // that a hang is reported with the workers' logs instead of cut off.
  for (size_t w = 1; w < workers.size(); ++w) {
    const fs::path log = dir_ / ("worker" + std::to_string(w) + ".log");
    const std::optional<int> exited = testing::wait_for_exit(workers[w], std::chrono::seconds(25));
    ASSERT_TRUE(exited) << "worker " << w << " did not finish within 25 s of the kill\n" << file_text(log);
    EXPECT_TRUE(WIFEXITED(*exited) && WEXITSTATUS(*exited) == 0) << file_text(log);
  }
  const auto trials = trials_of("load");
  const search::StudyProgress progress = search::summarize(trials, search::Direction::kMinimize);
  EXPECT_EQ(progress.done(), 300) << "the budget is met exactly";
  EXPECT_EQ(progress.complete, 300);
  EXPECT_EQ(progress.running, 0) << "the killed worker's trials were given up, not left running";
  EXPECT_GE(progress.interrupted, 1) << "the killed worker had trials running";
  std::set<std::string> owners;
  for (size_t i = 0; i < trials.size(); ++i) {
    EXPECT_EQ(trials[i].number, static_cast<int64_t>(i));
    owners.insert(trials[i].worker);
    if (trials[i].state == search::TrialState::kFailed) {
      EXPECT_EQ(trials[i].error, search::kInterruptedError);
    }
  }
  EXPECT_EQ(owners.size(), 3u) << "every worker ran trials";
}

}  // namespace
}  // namespace gpu_tune::app
