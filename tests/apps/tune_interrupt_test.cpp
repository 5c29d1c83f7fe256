// Ctrl-C (SIGINT) in the middle of `gpu_tune tune`, on the real binary: the study stops
// within a step, records its running trials as interrupted (not counted), says how to
// resume, and the resume finishes the budget without touching a completed trial. An
// --objective-command's children go with it; a second Ctrl-C exits at once.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "search/sqlite_storage.h"
#include "search/study_runner.h"
#include "tests/apps/idx_fixture.h"
#include "tests/apps/study_folder_test.h"
#include "tests/apps/tune_process.h"

namespace gpu_tune::app {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using gpu_tune::testing::group_alive;
using gpu_tune::testing::read_file;
using gpu_tune::testing::wait_for_exit;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

class TuneInterrupt : public testing::StudyFolderTest {
 protected:
};

TEST_F(TuneInterrupt, SigintStopsWithinAStepAndTheResumeFinishesTheBudget) {
  testing::write_idx_dataset(dir_ / "data", 600, 100);
  // Two single-threaded CPU workers, one trial each; a trial lasts a few seconds (about 3.5 on
  // a quiet machine, more on a busy one), a step well under a millisecond. Shorter trials
  // could end between the test's look at the study and its signal.
  const fs::path study = write("study.yaml", R"(
study: interrupted
budget: {trials: 4, parallel: 2}
sampler: {name: random, seed: 3}
training: {epochs: 1000, batch: 32}
space:
  lr: {distribution: loguniform, low: 1.0e-3, high: 1.0e-2}
)");
  const std::vector<std::string> args = {"tune", study.string(), "--storage", (dir_ / "study.db").string(),
                                         "--data", (dir_ / "data").string(), "--validation-size", "100",
                                         "--devices", "cpu:2", "--full", "--no-progress"};
  const pid_t first = spawn(args, dir_ / "first.log");
  // A trial is complete (its length is the yardstick for the stop) and every running one is
  // less than half done, so none can end between this look and the signal. The two workers
  // need not keep step on a loaded machine: one may be on its third trial while the other
  // still runs its first.
  ASSERT_TRUE(wait_for("interrupted", [](const std::vector<search::TrialRecord>& trials) {
    const search::StudyProgress p = search::summarize(trials, search::Direction::kMinimize);
    return p.complete >= 1 && p.running >= 1 && std::all_of(trials.begin(), trials.end(), [](const search::TrialRecord& t) {
             return t.state != search::TrialState::kRunning || t.steps.size() < 500;
           });
  }))
      << read_file(dir_ / "first.log");
  const Clock::time_point seen = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::vector<search::TrialRecord> before = trials_so_far("interrupted");
  const Clock::time_point signalled = Clock::now();
  // Said when the trials were not stopped: a signal that came late finds them finished.
  const std::string timing = "the signal came " + std::to_string(std::chrono::duration<double>(signalled - seen).count()) +
                             " s after the test saw two trials running";
  ASSERT_EQ(kill(first, SIGINT), 0);
  const std::optional<int> status = wait_for_exit(first, std::chrono::seconds(30));
  const double stop_seconds = seconds_since(signalled);
  const std::string log = read_file(dir_ / "first.log");
  ASSERT_TRUE(status.has_value()) << "gpu_tune did not stop: " << log;
  ASSERT_TRUE(WIFEXITED(*status)) << log;
  EXPECT_EQ(WEXITSTATUS(*status), 128 + SIGINT) << log;
  // Stopping at the next step takes a moment; finishing the running trials would take
  // about as long as a whole trial, which the machine's load stretches as much.
  const auto first_complete = std::find_if(before.begin(), before.end(), [](const search::TrialRecord& t) {
    return t.state == search::TrialState::kComplete;
  });
  ASSERT_NE(first_complete, before.end());
  const double trial_seconds = first_complete->finished_at - first_complete->started_at;
  EXPECT_LT(stop_seconds, 0.3 * trial_seconds) << "it did not stop at the next step";
  EXPECT_NE(log.find("stopped by SIGINT"), std::string::npos) << log;
  EXPECT_NE(log.find("best: trial "), std::string::npos) << log;
  EXPECT_NE(log.find("to resume: cd "), std::string::npos) << log;
  EXPECT_NE(log.find("--devices cpu:2"), std::string::npos) << "the resume command is the command given: " << log;

  const std::vector<search::TrialRecord> stopped = trials_so_far("interrupted");
  const search::StudyProgress progress = search::summarize(stopped, search::Direction::kMinimize);
  EXPECT_EQ(progress.running, 0) << "no trial is left running";
  std::string listing;
  for (const search::TrialRecord& t : stopped)
    listing += "\ntrial " + std::to_string(t.number) + " " + std::string(search::trial_state_name(t.state)) + " after " +
               std::to_string(t.steps.size()) + " epochs, " + std::to_string(t.finished_at - t.started_at) + " s, on " +
               t.device + " " + t.error;
  const search::StudyProgress at_signal = search::summarize(before, search::Direction::kMinimize);
  EXPECT_EQ(progress.interrupted, at_signal.running) << "the trials running at the signal are the ones interrupted\n"
                                                     << timing << listing << "\n" << log;
  EXPECT_EQ(progress.done(), progress.complete) << "interrupted trials do not count toward the budget";
  EXPECT_EQ(progress.done(), at_signal.complete);
  for (const search::TrialRecord& t : stopped) {
    if (t.error == search::kInterruptedError) {
      EXPECT_LT(t.steps.size(), 1000u) << "trial " << t.number << " ran to its end";
    }
  }

  const pid_t second = spawn(args, dir_ / "second.log");
  const std::optional<int> resumed = wait_for_exit(second, std::chrono::seconds(60));
  ASSERT_TRUE(resumed && WIFEXITED(*resumed) && WEXITSTATUS(*resumed) == 0) << read_file(dir_ / "second.log");
  const std::vector<search::TrialRecord> after = trials_so_far("interrupted");
  const search::StudyProgress final_progress = search::summarize(after, search::Direction::kMinimize);
  EXPECT_EQ(final_progress.done(), 4);
  EXPECT_EQ(final_progress.complete, 4);
  EXPECT_EQ(final_progress.interrupted, at_signal.running);
  for (const search::TrialRecord& b : stopped) {
    const search::TrialRecord& a = after.at(static_cast<size_t>(b.number));
    EXPECT_EQ(a.state, b.state) << "trial " << b.number;
    EXPECT_EQ(a.params, b.params) << "trial " << b.number;
    EXPECT_EQ(a.value, b.value) << "trial " << b.number;
    EXPECT_EQ(a.steps.size(), b.steps.size()) << "trial " << b.number;
    EXPECT_EQ(a.finished_at, b.finished_at) << "trial " << b.number;
  }
  for (const search::TrialRecord& b : before) {
    if (b.state == search::TrialState::kRunning) {
      EXPECT_EQ(after.at(static_cast<size_t>(b.number)).error, search::kInterruptedError);
    }
  }
}

// The objective command: each trial writes its process group's id and sleeps. exec, so that
// the script's shell leads the group (and, ignoring SIGTERM, keeps it alive through a
// clean stop's grace period).
std::string sleeping_command(const fs::path& dir, bool ignore_term) {
  const fs::path script = dir / "sleepy.sh";
  std::ofstream(script) << (ignore_term ? "trap '' TERM\n" : "") << "cut -d' ' -f5 /proc/$$/stat > '" << dir.string()
                        << "/group.'$GPU_TUNE_TRIAL_NUMBER\nsleep 30\necho 1\n";
  return "exec sh " + script.string();
}

const char* kCommandStudy = R"(
study: commands
budget: {trials: 4, parallel: 2}
sampler: {name: random, seed: 1}
space:
  x: {distribution: uniform, low: 0, high: 1}
)";

TEST_F(TuneInterrupt, SigintTerminatesTheObjectiveCommandsProcessGroups) {
  const fs::path study = write("study.yaml", kCommandStudy);
  const pid_t tune = spawn({"tune", study.string(), "--storage", (dir_ / "study.db").string(), "--objective-command",
                                     sleeping_command(dir_, false), "--no-progress"},
                                    dir_ / "tune.log");
  const Clock::time_point start = Clock::now();
  while (!(fs::exists(dir_ / "group.0") && fs::exists(dir_ / "group.1")) && seconds_since(start) < 30)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the pid is written before sleep starts
  const pid_t group0 = std::stoi(read_file(dir_ / "group.0"));
  const pid_t group1 = std::stoi(read_file(dir_ / "group.1"));
  ASSERT_TRUE(group_alive(group0) && group_alive(group1));

  ASSERT_EQ(kill(tune, SIGINT), 0);
  const std::optional<int> status = wait_for_exit(tune, std::chrono::seconds(10));
  const std::string log = read_file(dir_ / "tune.log");
  ASSERT_TRUE(status && WIFEXITED(*status)) << log;
  EXPECT_EQ(WEXITSTATUS(*status), 128 + SIGINT) << log;
  EXPECT_FALSE(group_alive(group0)) << "trial 0's command outlived gpu_tune";
  EXPECT_FALSE(group_alive(group1)) << "trial 1's command outlived gpu_tune";
  const search::StudyProgress progress = search::summarize(trials_so_far("commands"), search::Direction::kMinimize);
  EXPECT_EQ(progress.running, 0);
  EXPECT_EQ(progress.interrupted, 2);
  EXPECT_FALSE(fs::exists(dir_ / "group.2")) << "a trial started after the interrupt";
}

TEST_F(TuneInterrupt, ASecondSigintExitsAtOnceAndLeavesTheStudyIntact) {
  const fs::path study = write("study.yaml", kCommandStudy);
  // The commands ignore SIGTERM, so a clean stop would wait out its 2 s grace.
  const pid_t tune = spawn({"tune", study.string(), "--storage", (dir_ / "study.db").string(), "--objective-command",
                                     sleeping_command(dir_, true), "--no-progress"},
                                    dir_ / "tune.log");
  const Clock::time_point start = Clock::now();
  while (!(fs::exists(dir_ / "group.0") && fs::exists(dir_ / "group.1")) && seconds_since(start) < 30)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const pid_t group0 = std::stoi(read_file(dir_ / "group.0"));
  const pid_t group1 = std::stoi(read_file(dir_ / "group.1"));

  ASSERT_EQ(kill(tune, SIGINT), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const Clock::time_point second = Clock::now();
  ASSERT_EQ(kill(tune, SIGINT), 0);
  const std::optional<int> status = wait_for_exit(tune, std::chrono::seconds(10));
  ASSERT_TRUE(status && WIFEXITED(*status)) << read_file(dir_ / "tune.log");
  EXPECT_EQ(WEXITSTATUS(*status), 128 + SIGINT);
  EXPECT_LT(seconds_since(second), 1.0) << "the second Ctrl-C waited for the grace period";
  // The handler killed the commands' groups on its way out (a moment for the kernel).
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(group_alive(group0));
  EXPECT_FALSE(group_alive(group1));
  // Intact: it opens and reads; the two trials are still "running", as after a kill, and a
  // resume marks them interrupted.
  const std::vector<search::TrialRecord> trials = trials_so_far("commands");
  ASSERT_EQ(trials.size(), 2u);
  for (const search::TrialRecord& t : trials) EXPECT_EQ(t.state, search::TrialState::kRunning);
}

}  // namespace
}  // namespace gpu_tune::app
