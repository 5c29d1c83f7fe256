// Many workers on one study: budgets claimed across connections, worker ids, and services
// that give up only the trials of workers that are gone (their heartbeat older than the
// grace period, or a process on this host that died). What every storage must do for it is
// in storage_test.cpp's typed suite.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "search/random_sampler.h"
#include "search/sqlite_storage.h"
#include "search/study_progress.h"
#include "search/study_service.h"
#include "search/worker_id.h"
#include "tests/search/temp_directory.h"

namespace gpu_tune::search {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

StudyInfo study_named(const std::string& name) {
  StudyInfo study;
  study.name = name;
  return study;
}

const ParamMap kParams = {{"x", 0.5}};
const std::string kInterrupted = kInterruptedError;


TEST(SqliteOwnership, WorkersWithTheirOwnConnectionsMeetTheBudgetExactly) {
  constexpr int kWorkers = 4, kBudget = 60;
  testing::TempDirectory directory{"ownership_test"};
  const fs::path file = directory.path() / "study.db";
  { SqliteStorage(file).create_or_load_study(study_named("shared")); }
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kWorkers);
  std::vector<int> claimed(kWorkers, 0);
  std::vector<std::string> ids(kWorkers);
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      try {
        SqliteStorage storage(file);
        ids[w] = storage.worker_id();
        const int64_t id = storage.find_study("shared")->id;
        while (auto trial = storage.claim_trial(id, kParams, "cpu", w, kBudget, kInterrupted)) {
          storage.finish_trial(id, trial->number, TrialState::kComplete, 1.0, {}, "");
          claimed[w] += 1;
        }
      } catch (const std::exception& e) {
        errors[w] = e.what();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const std::string& error : errors) EXPECT_EQ(error, "");
  SqliteStorage storage(file);
  const std::vector<TrialRecord> trials = storage.trials(storage.find_study("shared")->id);
  ASSERT_EQ(trials.size(), static_cast<size_t>(kBudget));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), static_cast<size_t>(kWorkers))
      << "each worker's id is its own";
  for (size_t i = 0; i < trials.size(); ++i) EXPECT_EQ(trials[i].number, static_cast<int64_t>(i));
  for (int w = 0; w < kWorkers; ++w) {
    const auto owned = std::count_if(trials.begin(), trials.end(), [&](const TrialRecord& t) { return t.worker == ids[w]; });
    EXPECT_EQ(owned, claimed[w]) << "worker " << w;
  }
}

TEST(SqliteOwnership, ARunningTrialWithoutAHeartbeatIsStale) {
  // A program from before heartbeats leaves running trials with no heartbeat row.
  testing::TempDirectory directory{"ownership_test"};
  const fs::path file = directory.path() / "study.db";
  SqliteStorage storage(file);
  const int64_t id = storage.create_or_load_study(study_named("old")).id;
  storage.start_trial(id, kParams, "cpu", 0);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DELETE FROM trial_heartbeats", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_EQ(storage.trials(id).at(0).worker, "");
  EXPECT_EQ(storage.fail_stale_trials(id, kInterrupted, 60.0, {}), std::vector<int64_t>{0});
}

TEST(WorkerId, NamesThisHostAndProcessAndTellsADeadLocalProcess) {
  const std::string me = make_worker_id();
  EXPECT_NE(me.find(":" + std::to_string(getpid()) + ":"), std::string::npos) << me;
  EXPECT_NE(make_worker_id(), me) << "two workers of one process differ";
  EXPECT_FALSE(is_dead_local_worker(me));
  // A child that has exited and been reaped is gone.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  int status = 0;
  waitpid(child, &status, 0);
  const std::string host = me.substr(0, me.find(':'));
  EXPECT_TRUE(is_dead_local_worker(host + ":" + std::to_string(child) + ":0badf00d"));
  // Another host's worker, or an id not made here, is judged by heartbeats only.
  EXPECT_FALSE(is_dead_local_worker("another-host-" + host + ":" + std::to_string(child) + ":0badf00d"));
  EXPECT_FALSE(is_dead_local_worker("not an id"));
  EXPECT_FALSE(is_dead_local_worker(""));
}

TEST(StudyServiceOwnership, AStartingWorkerLeavesAnotherWorkersLiveTrialsAlone) {
  // Before heartbeats, a second process on the study marked the first's running trials
  // interrupted at its start, and the first then failed when it reported them.
  testing::TempDirectory directory{"ownership_test"};
  const fs::path file = directory.path() / "study.db";
  const SearchSpace space({{"x", bounded(DistributionKind::kUniform, 0, 1)}});
  SqliteStorage first_storage(file), second_storage(file);
  // The test reads the file through a connection of its own: a storage object serves one
  // thread at a time, and each service's threads use its own.
  SqliteStorage reader(file);
  const StudyInfo study = first_storage.create_or_load_study(study_named("shared"));
  RandomSampler first_sampler(1), second_sampler(2);
  StudyService first(first_storage, study, space, first_sampler, StudyBudget{4});
  first.recover_interrupted_trials();
  const auto running = first.ask("cpu", 0);
  ASSERT_TRUE(running);

  StudyService second(second_storage, study, space, second_sampler, StudyBudget{4});
  EXPECT_EQ(second.recover_interrupted_trials(), 0);
  EXPECT_EQ(reader.trials(study.id).at(0).state, TrialState::kRunning);
  // Both work on: together they meet the budget exactly.
  first.finish(running->number, TrialOutcome{TrialState::kComplete, 0.5, {}, ""});
  int started = 0;
  while (auto trial = second.ask("cpu", 0)) {
    second.finish(trial->number, TrialOutcome{TrialState::kComplete, 0.25, {}, ""});
    ++started;
  }
  EXPECT_EQ(started, 3);
  EXPECT_FALSE(first.ask("cpu", 0)) << "the budget is spent";
  first.flush();
  second.flush();
  EXPECT_EQ(reader.trials(study.id).size(), 4u);
}

TEST(StudyServiceOwnership, AHeartbeatKeepsLongTrialsAliveAndASilentWorkerIsGivenUp) {
  testing::TempDirectory directory{"ownership_test"};
  const fs::path file = directory.path() / "study.db";
  const SearchSpace space({{"x", bounded(DistributionKind::kUniform, 0, 1)}});
  SqliteStorage live_storage(file), silent_storage(file);
  SqliteStorage reader(file);  // the test's own connection: the service's heartbeat thread uses live_storage
  const StudyInfo study = live_storage.create_or_load_study(study_named("shared"));
  // A worker on another node that went silent: its trial's heartbeat is never refreshed.
  silent_storage.start_trial(study.id, kParams, "cuda:0", 0);
  RandomSampler sampler(1);
  StudyService live(live_storage, study, space, sampler, StudyBudget{4});
  live.set_heartbeat(milliseconds(50), milliseconds(400));
  EXPECT_EQ(live.recover_interrupted_trials(), 0) << "within the grace period";
  const auto mine = live.ask("cpu", 0);
  ASSERT_TRUE(mine);
  // Well past the grace period: the live worker's own trial is kept alive by its heartbeat,
  // the silent worker's is marked interrupted by the live worker's heartbeat thread.
  // (Polled, for a loaded machine: the beats come every 50 ms, the grace ends at 400 ms.)
  std::vector<TrialRecord> trials;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    std::this_thread::sleep_for(milliseconds(100));
    trials = reader.trials(study.id);
  } while (trials.at(0).state == TrialState::kRunning && std::chrono::steady_clock::now() < deadline);
  std::this_thread::sleep_for(milliseconds(600));  // well past the grace: the live trial still runs
  trials = reader.trials(study.id);
  EXPECT_EQ(trials.at(0).state, TrialState::kFailed);
  EXPECT_EQ(trials.at(0).error, kInterrupted);
  EXPECT_EQ(trials.at(static_cast<size_t>(mine->number)).state, TrialState::kRunning);
  live.finish(mine->number, TrialOutcome{TrialState::kComplete, 0.5, {}, ""});
  live.flush();
  EXPECT_EQ(live.progress().interrupted, 1);
}

TEST(StudyServiceOwnership, AnInterruptedTrialRunsAgainAtMostTheRetriesAllowed) {
  testing::TempDirectory directory{"ownership_test"};
  const fs::path file = directory.path() / "study.db";
  const SearchSpace space({{"x", bounded(DistributionKind::kUniform, 0, 1)}});
  SqliteStorage live_storage(file), silent_storage(file);
  SqliteStorage reader(file);  // the test's own connection: the service's heartbeat thread uses live_storage
  const StudyInfo study = live_storage.create_or_load_study(study_named("shared"));
  silent_storage.start_trial(study.id, {{"x", 0.125}}, "cuda:0", 0);  // its worker then goes silent
  RandomSampler sampler(1);
  StudyService live(live_storage, study, space, sampler, StudyBudget{3});
  live.set_heartbeat(milliseconds(50), milliseconds(300));
  live.set_retry_interrupted(1);
  live.recover_interrupted_trials();
  std::vector<TrialRecord> after;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    std::this_thread::sleep_for(milliseconds(100));
    after = reader.trials(study.id);
  } while (after.size() < 2 && std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].error, kInterrupted);
  EXPECT_EQ(after[1].state, TrialState::kWaiting);
  // The next ask runs the retry, not a sampled point.
  const auto retry = live.ask("cpu", 0);
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->number, 1);
  EXPECT_EQ(retry->params, (ParamMap{{"x", 0.125}}));
  // A retry that is interrupted in turn is not retried again (at most 1).
  live.finish(retry->number, TrialOutcome{TrialState::kFailed, std::nullopt, {}, kInterrupted});
  live.flush();
  SqliteStorage late(file);
  StudyService next(late, study, space, sampler, StudyBudget{3});
  next.set_retry_interrupted(1);
  EXPECT_EQ(next.recover_interrupted_trials(), 0);
  for (const TrialRecord& t : late.trials(study.id)) EXPECT_NE(t.state, TrialState::kWaiting) << "trial " << t.number;
}

}  // namespace
}  // namespace gpu_tune::search
