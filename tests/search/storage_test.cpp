// Every storage passes the same cases; SQLite adds files, reopening and concurrent writers.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "tests/search/change_reading.h"
#include "tests/search/second_thread_check.h"
#include "tests/search/temp_directory.h"
#include "tests/search/writer_processes.h"
#include "search/memory_storage.h"
#include "search/param_json.h"
#ifdef GPU_TUNE_HAVE_POSTGRES
#include "search/postgres_storage.h"
#include "tests/search/postgres_test_database.h"
#endif
#include "search/sqlite_storage.h"
#include "search/study_progress.h"

namespace gpu_tune::search {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;


StudyInfo study_named(const std::string& name, Direction direction = Direction::kMinimize,
                      const std::string& metric = "validation_loss") {
  StudyInfo study;
  study.name = name;
  study.direction = direction;
  study.metric = metric;
  study.config = "name: " + name + "\n";
  return study;
}

bool every_worker_gone(const std::string&) { return true; }
const ParamMap kParams = {{"x", 0.5}};
const std::string kInterrupted = kInterruptedError;

template <typename StorageType>
class StorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if constexpr (std::is_same_v<StorageType, SqliteStorage>) {
      storage_ = std::make_unique<SqliteStorage>(directory_.path() / "study.db");
#ifdef GPU_TUNE_HAVE_POSTGRES
    } else if constexpr (std::is_same_v<StorageType, PostgresStorage>) {
      database_ = std::make_unique<testing::PostgresTestDatabase>();
      if (!database_->available()) GTEST_SKIP() << testing::kPostgresSkipMessage;
      storage_ = std::make_unique<PostgresStorage>(database_->url());
#endif
    } else {
      storage_ = std::make_unique<StorageType>();
    }
  }

  Storage& storage() { return *storage_; }
  int64_t new_study(const std::string& name = "study") { return storage_->create_or_load_study(study_named(name)).id; }

 private:
  testing::TempDirectory directory_{"storage_test"};
#ifdef GPU_TUNE_HAVE_POSTGRES
  std::unique_ptr<testing::PostgresTestDatabase> database_;  // outlives storage_, which is closed first
#endif
  std::unique_ptr<Storage> storage_;
};

#ifdef GPU_TUNE_HAVE_POSTGRES
using Storages = ::testing::Types<MemoryStorage, SqliteStorage, PostgresStorage>;
#else
using Storages = ::testing::Types<MemoryStorage, SqliteStorage>;  // built without PostgreSQL
#endif
TYPED_TEST_SUITE(StorageTest, Storages);

TYPED_TEST(StorageTest, LoadsAStudyOfTheSameNameInsteadOfCreatingAnother) {
  const StudyInfo created = this->storage().create_or_load_study(study_named("mnist", Direction::kMaximize, "acc"));
  EXPECT_GE(created.id, 0);
  EXPECT_EQ(created.name, "mnist");

  StudyInfo again = study_named("mnist", Direction::kMaximize, "acc");
  again.config = "a different file";
  const StudyInfo loaded = this->storage().create_or_load_study(again);
  EXPECT_EQ(loaded.id, created.id);
  EXPECT_EQ(loaded.direction, Direction::kMaximize);
  EXPECT_EQ(loaded.metric, "acc");
  EXPECT_EQ(loaded.config, "name: mnist\n") << "loading keeps the stored config";

  const auto found = this->storage().find_study("mnist");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, created.id);
  EXPECT_EQ(found->config, "name: mnist\n");
  EXPECT_FALSE(this->storage().find_study("fashion").has_value());
  EXPECT_NE(this->storage().create_or_load_study(study_named("fashion")).id, created.id);
}

TYPED_TEST(StorageTest, KeepsTheSpaceAStudyBeganWithAndGivesOneToAStudyWithout) {
  StudyInfo first = study_named("mnist");
  first.space = "lr: loguniform(low=0.001, high=0.10000000000000001)\n";
  EXPECT_EQ(this->storage().create_or_load_study(first).space, first.space);
  StudyInfo changed = first;
  changed.space = "lr: loguniform(low=0.0001, high=0.10000000000000001)\n";
  EXPECT_EQ(this->storage().create_or_load_study(changed).space, first.space) << "loading keeps the stored space";
  EXPECT_EQ(this->storage().find_study("mnist")->space, first.space);

  // A study stored without a space (by an older program, or an objective that gave none)
  // takes the first one asked for, and keeps it.
  EXPECT_EQ(this->storage().create_or_load_study(study_named("old")).space, "");
  StudyInfo described = study_named("old");
  described.space = "x: uniform(low=0, high=1)\n";
  EXPECT_EQ(this->storage().create_or_load_study(described).space, described.space);
  EXPECT_EQ(this->storage().create_or_load_study(changed).space, first.space);
  EXPECT_EQ(this->storage().find_study("old")->space, described.space);
}

TYPED_TEST(StorageTest, RefusesAStudyWhoseDirectionOrMetricDisagrees) {
  this->storage().create_or_load_study(study_named("mnist", Direction::kMinimize, "validation_loss"));
  try {
    this->storage().create_or_load_study(study_named("mnist", Direction::kMaximize, "test_accuracy"));
    FAIL() << "a mismatched study was loaded";
  } catch (const StorageError& e) {
    const std::string message = e.what();
    for (const char* part : {"mnist", "minimize", "validation_loss", "maximize", "test_accuracy"}) {
      EXPECT_NE(message.find(part), std::string::npos) << part << " missing from: " << message;
    }
  }
  EXPECT_THROW(this->storage().create_or_load_study(study_named("mnist", Direction::kMaximize, "validation_loss")),
               StorageError);
  EXPECT_THROW(this->storage().create_or_load_study(study_named("mnist", Direction::kMinimize, "train_loss")),
               StorageError);
}

TYPED_TEST(StorageTest, NumbersTrialsFromZeroInOrder) {
  const int64_t study = this->new_study();
  for (int64_t expected = 0; expected < 3; ++expected) {
    const TrialRecord trial = this->storage().start_trial(study, {{"i", expected}}, "cpu", 0);
    EXPECT_EQ(trial.number, expected);
    EXPECT_EQ(trial.state, TrialState::kRunning);
    EXPECT_GT(trial.started_at, 0);
  }
}

TYPED_TEST(StorageTest, RoundTripsEveryField) {
  const int64_t study = this->new_study();
  const ParamMap params = {
      {"units", int64_t{64}},
      {"width", 64.0},
      {"lr", 3.0e-4},
      {"tiny", 1e-300},
      {"offset", int64_t{-3}},
      {"largest", std::numeric_limits<int64_t>::max()},
      {"use_bias", true},
      {"shuffle", false},
      {"optimizer", std::string("adam")},
      {"label", std::string("κ-net ☃ 日本 \"quoted\"\n")},
      {"empty", std::string()},
  };
  const TrialRecord started = this->storage().start_trial(study, params, "cuda:1", 7);
  StepRecord first{0, 0.9, {{"train_loss", 1.25}, {"accuracy", 0.5}}};
  StepRecord second{1, 0.7, {{"train_loss", 0.75}}};
  this->storage().record_step(study, started.number, first);
  this->storage().record_step(study, started.number, second);
  const std::map<std::string, double> metrics = {{"test_accuracy", 0.875}, {"best_epoch", 1.0}};
  this->storage().finish_trial(study, started.number, TrialState::kComplete, 0.7, metrics, "");

  const TrialRecord failed = this->storage().start_trial(study, {}, "cpu", -1);
  this->storage().finish_trial(study, failed.number, TrialState::kFailed, std::nullopt, {}, "out of memory: 日本");

  const std::vector<TrialRecord> trials = this->storage().trials(study);
  ASSERT_EQ(trials.size(), 2u);
  const TrialRecord& done = trials[0];
  EXPECT_EQ(done.number, started.number);
  EXPECT_EQ(done.state, TrialState::kComplete);
  EXPECT_EQ(done.params, params);
  ASSERT_TRUE(std::holds_alternative<int64_t>(done.params.at("units")));
  ASSERT_TRUE(std::holds_alternative<double>(done.params.at("width"))) << "an integral double stays a double";
  EXPECT_EQ(std::get<double>(done.params.at("width")), 64.0);
  ASSERT_TRUE(std::holds_alternative<bool>(done.params.at("shuffle")));
  ASSERT_TRUE(std::holds_alternative<std::string>(done.params.at("label")));
  ASSERT_TRUE(done.value.has_value());
  EXPECT_EQ(*done.value, 0.7);
  ASSERT_EQ(done.steps.size(), 2u);
  EXPECT_EQ(done.steps[0].step, 0);
  EXPECT_EQ(done.steps[0].value, 0.9);
  EXPECT_EQ(done.steps[0].metrics, first.metrics);
  EXPECT_EQ(done.steps[1].step, 1);
  EXPECT_EQ(done.steps[1].value, 0.7);
  EXPECT_EQ(done.steps[1].metrics, second.metrics);
  EXPECT_EQ(done.metrics, metrics);
  EXPECT_EQ(done.device, "cuda:1");
  EXPECT_EQ(done.slot, 7);
  EXPECT_EQ(done.error, "");
  EXPECT_EQ(done.started_at, started.started_at);
  EXPECT_GE(done.finished_at, done.started_at);

  const TrialRecord& broken = trials[1];
  EXPECT_EQ(broken.state, TrialState::kFailed);
  EXPECT_FALSE(broken.value.has_value());
  EXPECT_TRUE(broken.params.empty());
  EXPECT_TRUE(broken.steps.empty());
  EXPECT_EQ(broken.slot, -1);
  EXPECT_EQ(broken.error, "out of memory: 日本");
}

TYPED_TEST(StorageTest, KeepsARunningTrialUnfinished) {
  const int64_t study = this->new_study();
  this->storage().start_trial(study, {{"x", 1.5}}, "cpu", 2);
  const std::vector<TrialRecord> trials = this->storage().trials(study);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].state, TrialState::kRunning);
  EXPECT_FALSE(trials[0].value.has_value());
  EXPECT_GT(trials[0].started_at, 0);
  EXPECT_EQ(trials[0].finished_at, 0);
}

TYPED_TEST(StorageTest, RoundTripsNonFiniteValues) {
  const int64_t study = this->new_study();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const TrialRecord diverged = this->storage().start_trial(study, {}, "cpu", 0);
  this->storage().record_step(study, diverged.number, {0, nan, {{"loss", inf}, {"grad", -inf}, {"acc", nan}}});
  this->storage().finish_trial(study, diverged.number, TrialState::kPruned, nan, {{"loss", nan}}, "");
  const TrialRecord unbounded = this->storage().start_trial(study, {}, "cpu", 0);
  this->storage().finish_trial(study, unbounded.number, TrialState::kComplete, -inf, {}, "");

  const std::vector<TrialRecord> trials = this->storage().trials(study);
  ASSERT_EQ(trials.size(), 2u);
  ASSERT_EQ(trials[0].steps.size(), 1u);
  EXPECT_TRUE(std::isnan(trials[0].steps[0].value));
  EXPECT_EQ(trials[0].steps[0].metrics.at("loss"), inf);
  EXPECT_EQ(trials[0].steps[0].metrics.at("grad"), -inf);
  EXPECT_TRUE(std::isnan(trials[0].steps[0].metrics.at("acc")));
  ASSERT_TRUE(trials[0].value.has_value()) << "a NaN value is still a value";
  EXPECT_TRUE(std::isnan(*trials[0].value));
  EXPECT_TRUE(std::isnan(trials[0].metrics.at("loss")));
  ASSERT_TRUE(trials[1].value.has_value());
  EXPECT_EQ(*trials[1].value, -inf);
}

TYPED_TEST(StorageTest, RefusesANonFiniteParameter) {
  const int64_t study = this->new_study();
  EXPECT_THROW(this->storage().start_trial(study, {{"lr", std::numeric_limits<double>::infinity()}}, "cpu", 0),
               StorageError);
  EXPECT_TRUE(this->storage().trials(study).empty());
}

TYPED_TEST(StorageTest, AReReportedStepReplacesTheEarlierOne) {
  const int64_t study = this->new_study();
  const TrialRecord trial = this->storage().start_trial(study, {}, "cpu", 0);
  this->storage().record_step(study, trial.number, {2, 0.5, {{"a", 1}}});
  this->storage().record_step(study, trial.number, {0, 0.9, {}});
  this->storage().record_step(study, trial.number, {2, 0.25, {{"b", 2}}});
  const std::vector<StepRecord> steps = this->storage().trials(study)[0].steps;
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].step, 0);
  EXPECT_EQ(steps[1].step, 2);
  EXPECT_EQ(steps[1].value, 0.25);
  EXPECT_EQ(steps[1].metrics, (std::map<std::string, double>{{"b", 2}}));
}

TYPED_TEST(StorageTest, KeepsAttributesWithTheirTrialAndMergesNewOnes) {
  const int64_t study = this->new_study();
  const TrialRecord first = this->storage().start_trial(study, {}, "cpu", 0);
  const TrialRecord second = this->storage().start_trial(study, {}, "cpu", 1);
  this->storage().set_trial_attributes(study, first.number, {{"rung_0", 0.5}, {"hyperband_bracket", 2}});
  // A later call adds keys and replaces the value of a key given again; an empty map is no change.
  this->storage().set_trial_attributes(study, first.number, {{"rung_0", 0.25}, {"rung_1", 0.125}});
  this->storage().set_trial_attributes(study, first.number, {});
  this->storage().set_trial_attributes(study, second.number, {{"rung_0", -1.5}});
  this->storage().finish_trial(study, first.number, TrialState::kPruned, 0.125, {}, "");

  const std::vector<TrialRecord> trials = this->storage().trials(study);
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0].attributes,
            (std::map<std::string, double>{{"hyperband_bracket", 2}, {"rung_0", 0.25}, {"rung_1", 0.125}}));
  EXPECT_EQ(trials[0].state, TrialState::kPruned);
  EXPECT_EQ(trials[1].attributes, (std::map<std::string, double>{{"rung_0", -1.5}}));
  // Like every other change, attributes are for running trials only.
  EXPECT_THROW(this->storage().set_trial_attributes(study, first.number, {{"rung_2", 1.0}}), StorageError);
  EXPECT_THROW(this->storage().set_trial_attributes(study, 7, {{"rung_0", 1.0}}), StorageError);
  EXPECT_EQ(this->storage().trials(study)[0].attributes.count("rung_2"), 0u);
}

TYPED_TEST(StorageTest, RefusesToChangeATrialThatIsNotRunning) {
  const int64_t study = this->new_study("mnist");
  this->storage().start_trial(study, {}, "cpu", 0);
  const TrialRecord trial = this->storage().start_trial(study, {}, "cpu", 0);
  this->storage().finish_trial(study, trial.number, TrialState::kComplete, 1.0, {}, "");
  try {
    this->storage().finish_trial(study, trial.number, TrialState::kFailed, std::nullopt, {}, "again");
    FAIL() << "a finished trial was finished again";
  } catch (const StorageError& e) {
    const std::string message = e.what();
    for (const char* part : {"mnist", "trial 1", "complete"}) {
      EXPECT_NE(message.find(part), std::string::npos) << part << " missing from: " << message;
    }
  }
  EXPECT_THROW(this->storage().record_step(study, trial.number, {0, 1.0, {}}), StorageError);
  EXPECT_THROW(this->storage().finish_trial(study, 0, TrialState::kRunning, 1.0, {}, ""), StorageError);
  EXPECT_THROW(this->storage().finish_trial(study, 5, TrialState::kComplete, 1.0, {}, ""), StorageError);
  EXPECT_THROW(this->storage().start_trial(study + 100, {}, "cpu", 0), StorageError);
  EXPECT_THROW(this->storage().trials(study + 100), StorageError);

  const std::vector<TrialRecord> trials = this->storage().trials(study);
  EXPECT_EQ(trials[0].state, TrialState::kRunning);
  EXPECT_EQ(trials[1].state, TrialState::kComplete);
  EXPECT_EQ(trials[1].error, "");
  EXPECT_EQ(trials[1].value, 1.0);
}

TYPED_TEST(StorageTest, FailsOnlyRunningTrialsAndKeepsTheirSteps) {
  const int64_t study = this->new_study();
  for (int i = 0; i < 4; ++i) this->storage().start_trial(study, {{"i", int64_t{i}}}, "cpu", i);
  this->storage().finish_trial(study, 0, TrialState::kComplete, 0.5, {}, "");
  this->storage().record_step(study, 1, {0, 0.8, {{"loss", 0.8}}});
  this->storage().finish_trial(study, 2, TrialState::kPruned, 0.9, {}, "");

  EXPECT_EQ(this->storage().fail_stale_trials(study, "process died", 3600, every_worker_gone).size(), 2u);
  EXPECT_EQ(this->storage().fail_stale_trials(study, "process died", 3600, every_worker_gone).size(), 0u);

  const std::vector<TrialRecord> trials = this->storage().trials(study);
  ASSERT_EQ(trials.size(), 4u);
  EXPECT_EQ(trials[0].state, TrialState::kComplete);
  EXPECT_EQ(trials[0].error, "");
  EXPECT_EQ(trials[1].state, TrialState::kFailed);
  EXPECT_EQ(trials[1].error, "process died");
  EXPECT_GE(trials[1].finished_at, trials[1].started_at);
  ASSERT_EQ(trials[1].steps.size(), 1u);
  EXPECT_EQ(trials[1].steps[0].value, 0.8);
  EXPECT_EQ(trials[2].state, TrialState::kPruned);
  EXPECT_EQ(trials[2].value, 0.9);
  EXPECT_EQ(trials[3].state, TrialState::kFailed);
}

TYPED_TEST(StorageTest, ListsTrialsByNumberWhateverOrderTheyFinish) {
  const int64_t study = this->new_study();
  for (int i = 0; i < 5; ++i) this->storage().start_trial(study, {}, "cpu", i);
  for (int64_t number : {3, 0, 4, 1}) {
    this->storage().record_step(study, number, {0, static_cast<double>(number), {}});
    this->storage().finish_trial(study, number, TrialState::kComplete, static_cast<double>(number), {}, "");
  }
  const std::vector<TrialRecord> trials = this->storage().trials(study);
  ASSERT_EQ(trials.size(), 5u);
  for (int64_t number = 0; number < 5; ++number) {
    EXPECT_EQ(trials[number].number, number);
    EXPECT_EQ(trials[number].slot, number);
    EXPECT_EQ(trials[number].steps.size(), number == 2 ? 0u : 1u);
  }
}

TYPED_TEST(StorageTest, KeepsStudiesApart) {
  const int64_t first = this->new_study("first");
  const int64_t second = this->new_study("second");
  ASSERT_NE(first, second);
  this->storage().start_trial(first, {{"owner", std::string("first")}}, "cpu", 0);
  const TrialRecord other = this->storage().start_trial(second, {{"owner", std::string("second")}}, "cpu", 0);
  this->storage().start_trial(first, {{"owner", std::string("first")}}, "cpu", 0);
  EXPECT_EQ(other.number, 0) << "each study numbers its own trials";
  this->storage().record_step(second, 0, {0, 1.0, {}});
  EXPECT_EQ(this->storage().fail_stale_trials(second, "stopped", 3600, every_worker_gone).size(), 1u);

  const std::vector<TrialRecord> first_trials = this->storage().trials(first);
  ASSERT_EQ(first_trials.size(), 2u);
  for (const TrialRecord& trial : first_trials) {
    EXPECT_EQ(std::get<std::string>(trial.params.at("owner")), "first");
    EXPECT_EQ(trial.state, TrialState::kRunning);
    EXPECT_TRUE(trial.steps.empty());
  }
  ASSERT_EQ(this->storage().trials(second).size(), 1u);
}

// The stored JSON keeps each parameter's type, and reads what an external objective writes.
// --- Trial ownership: workers, budget claims, heartbeats and waiting trials.

TYPED_TEST(StorageTest, TrialsRecordTheirWorker) {
  const int64_t study = this->new_study();
  const TrialRecord started = this->storage().start_trial(study, kParams, "cpu:0", 0);
  EXPECT_EQ(started.worker, this->storage().worker_id());
  EXPECT_EQ(this->storage().trials(study).at(0).worker, this->storage().worker_id());
  EXPECT_FALSE(this->storage().worker_id().empty());
}

TYPED_TEST(StorageTest, ClaimsStopAtTheBudgetAndInterruptedTrialsGiveTheirPlaceBack) {
  const int64_t study = this->new_study();
  Storage& s = this->storage();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s.claim_trial(study, kParams, "cpu:0", i, 3, kInterrupted)) << i;
  EXPECT_FALSE(s.claim_trial(study, kParams, "cpu:0", 0, 3, kInterrupted));
  EXPECT_EQ(s.trials(study).size(), 3u) << "a refused claim writes nothing";
  // A failed trial counts; an interrupted one does not.
  s.finish_trial(study, 0, TrialState::kFailed, std::nullopt, {}, "diverged");
  EXPECT_FALSE(s.claim_trial(study, kParams, "cpu:0", 0, 3, kInterrupted));
  s.finish_trial(study, 1, TrialState::kFailed, std::nullopt, {}, kInterrupted);
  const auto claimed = s.claim_trial(study, kParams, "cpu:0", 1, 3, kInterrupted);
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->number, 3);
  EXPECT_EQ(claimed->state, TrialState::kRunning);
}

TYPED_TEST(StorageTest, OnlyTrialsWithoutAFreshHeartbeatOrWithADeadWorkerAreStale) {
  const int64_t study = this->new_study();
  Storage& s = this->storage();
  s.start_trial(study, kParams, "cpu:0", 0);
  s.start_trial(study, kParams, "cpu:0", 1);
  const auto nobody_dead = [](const std::string&) { return false; };
  EXPECT_TRUE(s.fail_stale_trials(study, kInterrupted, 60.0, nobody_dead).empty());
  // The heartbeat keeps trials alive past a short grace period...
  std::this_thread::sleep_for(milliseconds(150));
  s.heartbeat(study);
  EXPECT_TRUE(s.fail_stale_trials(study, kInterrupted, 0.1, nobody_dead).empty());
  // ...and without it they go stale.
  std::this_thread::sleep_for(milliseconds(150));
  s.finish_trial(study, 1, TrialState::kComplete, 1.0, {}, "");
  EXPECT_EQ(s.fail_stale_trials(study, kInterrupted, 0.1, nobody_dead), std::vector<int64_t>{0});
  const std::vector<TrialRecord> trials = s.trials(study);
  EXPECT_EQ(trials[0].state, TrialState::kFailed);
  EXPECT_EQ(trials[0].error, kInterrupted);
  EXPECT_EQ(trials[1].state, TrialState::kComplete) << "finished trials are never stale";
  // A worker known to be dead is stale at once, whatever its heartbeat.
  s.start_trial(study, kParams, "cpu:0", 0);
  const std::string me = s.worker_id();
  EXPECT_EQ(s.fail_stale_trials(study, kInterrupted, 60.0, [&](const std::string& w) { return w == me; }),
            std::vector<int64_t>{2});
}

TYPED_TEST(StorageTest, AWaitingTrialIsClaimedFirstWithItsOwnParameters) {
  const int64_t study = this->new_study();
  Storage& s = this->storage();
  const TrialRecord queued = s.enqueue_trial(study, {{"x", 0.75}}, {{"retry_of", 4}});
  EXPECT_EQ(queued.state, TrialState::kWaiting);
  EXPECT_EQ(s.trials(study).at(0).state, TrialState::kWaiting);
  // It counts toward the budget: with a budget of 1 it is the only trial that can run.
  const auto claimed = s.claim_trial(study, kParams, "cuda:1", 3, 1, kInterrupted);
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->number, queued.number);
  EXPECT_EQ(claimed->state, TrialState::kRunning);
  EXPECT_EQ(claimed->params, (ParamMap{{"x", 0.75}}));
  EXPECT_EQ(claimed->device, "cuda:1");
  EXPECT_EQ(claimed->worker, s.worker_id());
  EXPECT_EQ(claimed->attributes.at("retry_of"), 4.0);
  const TrialRecord stored = s.trials(study).at(0);
  EXPECT_EQ(stored.state, TrialState::kRunning);
  EXPECT_EQ(stored.slot, 3);
  EXPECT_EQ(stored.worker, s.worker_id());
  EXPECT_FALSE(s.claim_trial(study, kParams, "cuda:1", 3, 1, kInterrupted));
  EXPECT_TRUE(s.fail_stale_trials(study, kInterrupted, 60.0, {}).empty()) << "its heartbeat began at the claim";
}

// Each kind of write marks its trial changed, a heartbeat does not, and the copy made of
// what changed always equals the study as stored.
TYPED_TEST(StorageTest, ReadsWhatChangedSinceTheLastReadAndNothingElse) {
  const int64_t study = this->new_study();
  const int64_t other_study = this->new_study("other");
  Storage& s = this->storage();
  using Numbers = std::vector<int64_t>;
  testing::ChangeReader reader;
  const auto read = [&] { return reader.read(s, study); };
  const auto expect_copy_current = [&](const char* after) {
    EXPECT_EQ(testing::trials_text(reader.trials()), testing::trials_text(s.trials(study))) << "after " << after;
  };

  EXPECT_EQ(read(), Numbers{}) << "a new study";
  for (int i = 0; i < 3; ++i) s.start_trial(study, {{"x", 0.1 * i}}, "cpu", i);
  s.record_step(study, 0, {1, 0.5, {}});
  s.finish_trial(study, 1, TrialState::kComplete, 0.25, {{"accuracy", 0.9}}, "");
  EXPECT_EQ(read(), (Numbers{0, 1, 2}));
  expect_copy_current("the first read");
  const uint64_t first_cursor = reader.cursor();
  EXPECT_GT(first_cursor, 0u);
  EXPECT_EQ(read(), Numbers{}) << "nothing changed";
  EXPECT_EQ(reader.cursor(), first_cursor);

  s.heartbeat(study);
  s.start_trial(other_study, kParams, "cpu", 0);
  EXPECT_EQ(read(), Numbers{}) << "a heartbeat and another study's trial are no change to this study";

  s.record_step(study, 0, {2, 0.4, {}});
  EXPECT_EQ(read(), Numbers{0}) << "a step";
  EXPECT_EQ(reader.trials().at(0).steps.size(), 2u) << "a changed trial is read whole, its earlier step too";
  s.set_trial_attributes(study, 2, {{"rung_0", 0.3}});
  EXPECT_EQ(read(), Numbers{2}) << "attributes";
  s.finish_trial(study, 2, TrialState::kPruned, 0.3, {}, "");
  EXPECT_EQ(read(), Numbers{2}) << "a finish";
  s.enqueue_trial(study, {{"x", 0.7}}, {{"retry_of", 1}});
  EXPECT_EQ(read(), Numbers{3}) << "a queued trial";
  ASSERT_TRUE(s.claim_trial(study, kParams, "cpu", 5, 100, kInterrupted));
  EXPECT_EQ(read(), Numbers{3}) << "the queued trial claimed";
  ASSERT_TRUE(s.claim_trial(study, kParams, "cpu", 6, 100, kInterrupted));
  EXPECT_EQ(read(), Numbers{4}) << "a new trial claimed";
  s.record_step(study, 3, {1, 0.9, {}});
  s.record_step(study, 4, {1, 0.8, {}});
  EXPECT_EQ(s.fail_stale_trials(study, kInterrupted, 60.0, every_worker_gone), (Numbers{0, 3, 4}));
  EXPECT_EQ(read(), (Numbers{0, 3, 4})) << "steps, then trials failed as stale";
  expect_copy_current("every kind of write");
  EXPECT_EQ(read(), Numbers{});
}

TEST(ParamJson, KeepsIntegersAndIntegralFloatsApart) {
  const std::string text = params_to_json_text({{"units", int64_t{64}}, {"width", 64.0}, {"bias", true}});
  EXPECT_NE(text.find("\"units\":64,"), std::string::npos) << text;
  EXPECT_NE(text.find("\"width\":64.0"), std::string::npos) << text;

  const ParamMap read = params_from_json_text(R"({"a": 3, "b": 3.0, "c": false, "d": "x", "e": -9223372036854775808})");
  EXPECT_EQ(read, (ParamMap{{"a", int64_t{3}},
                            {"b", 3.0},
                            {"c", false},
                            {"d", std::string("x")},
                            {"e", std::numeric_limits<int64_t>::min()}}));
  EXPECT_THROW(params_from_json_text(R"({"a": null})"), std::invalid_argument);
  EXPECT_THROW(params_from_json_text(R"({"a": [1]})"), std::invalid_argument);
  EXPECT_THROW(params_from_json_text(R"({"a": 9223372036854775808})"), std::invalid_argument);
  EXPECT_THROW(params_from_json_text("[1, 2]"), std::invalid_argument);
  EXPECT_THROW(params_from_json_text("{"), std::invalid_argument);
}

TEST(ParamJson, WritesNonFiniteMetricsAsNamedStrings) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::string text = metrics_to_json_text({{"a", inf}, {"b", -inf}, {"c", std::nan("")}, {"d", 0.5}});
  EXPECT_EQ(text, R"({"a":"Infinity","b":"-Infinity","c":"NaN","d":0.5})");
  const MetricMap read = metrics_from_json_text(R"({"a": "Infinity", "n": null, "i": 2})");
  EXPECT_EQ(read.at("a"), inf);
  EXPECT_TRUE(std::isnan(read.at("n")));
  EXPECT_EQ(read.at("i"), 2.0);
  EXPECT_THROW(metrics_from_json_text(R"({"a": "fast"})"), std::invalid_argument);
}

// Concurrent writers: each starts and finishes `count` trials of `study_name`.
void write_trials(Storage& storage, const std::string& study_name, int writer, int count) {
  const int64_t study = storage.create_or_load_study(study_named(study_name)).id;
  for (int i = 0; i < count; ++i) {
    const TrialRecord trial = storage.start_trial(study, {{"writer", int64_t{writer}}, {"i", int64_t{i}}}, "cpu", writer);
    storage.finish_trial(study, trial.number, TrialState::kComplete, static_cast<double>(i), {}, "");
  }
}

// Every number 0..expected-1 exactly once, every trial complete, each writer's trials all there.
void expect_every_trial_once(const std::vector<TrialRecord>& trials, int writers, int per_writer) {
  ASSERT_EQ(trials.size(), static_cast<size_t>(writers * per_writer));
  std::set<std::pair<int64_t, int64_t>> written;
  for (size_t index = 0; index < trials.size(); ++index) {
    EXPECT_EQ(trials[index].number, static_cast<int64_t>(index));
    EXPECT_EQ(trials[index].state, TrialState::kComplete);
    written.emplace(std::get<int64_t>(trials[index].params.at("writer")), std::get<int64_t>(trials[index].params.at("i")));
  }
  EXPECT_EQ(written.size(), trials.size()) << "some writer's trial is missing or duplicated";
}

TEST(MemoryStorageConcurrency, ThreadsSharingOneStorageNeverShareANumber) {
  constexpr int kThreads = 4, kTrialsEach = 50;
  MemoryStorage storage;
  std::vector<std::thread> threads;
  for (int writer = 0; writer < kThreads; ++writer) {
    threads.emplace_back([&storage, writer] { write_trials(storage, "shared", writer, kTrialsEach); });
  }
  for (std::thread& thread : threads) thread.join();
  expect_every_trial_once(storage.trials(storage.find_study("shared")->id), kThreads, kTrialsEach);
}

TEST(SqliteStorage, KeepsEverythingAcrossReopening) {
  testing::TempDirectory directory{"storage_test"};
  const fs::path file = directory.path() / "study.db";
  int64_t study = -1;
  {
    SqliteStorage storage(file);
    EXPECT_EQ(storage.database_file(), file);
    study = storage.create_or_load_study(study_named("kept")).id;
    storage.start_trial(study, {{"lr", 0.01}}, "cuda:0", 3);
    storage.record_step(study, 0, {4, 0.3, {{"acc", 0.9}}});
    storage.set_trial_attributes(study, 0, {{"rung_0", 0.3}});
  }
  SqliteStorage reopened(file);
  ASSERT_EQ(reopened.find_study("kept")->id, study);
  const std::vector<TrialRecord> trials = reopened.trials(study);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].state, TrialState::kRunning);
  EXPECT_EQ(std::get<double>(trials[0].params.at("lr")), 0.01);
  ASSERT_EQ(trials[0].steps.size(), 1u);
  EXPECT_EQ(trials[0].steps[0].step, 4);
  EXPECT_EQ(trials[0].steps[0].metrics.at("acc"), 0.9);
  EXPECT_EQ(trials[0].attributes, (std::map<std::string, double>{{"rung_0", 0.3}}));
  EXPECT_EQ(reopened.start_trial(study, {}, "cpu", 0).number, 1);
}

// A file written before trials had attributes has no trial_attributes table; opening it
// adds one, and its trials read back with none.
TEST(SqliteStorage, OpensAFileFromBeforeAttributes) {
  testing::TempDirectory directory{"storage_test"};
  const fs::path file = directory.path() / "study.db";
  int64_t study = -1;
  {
    SqliteStorage storage(file);
    study = storage.create_or_load_study(study_named("old")).id;
    storage.start_trial(study, {}, "cpu", 0);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DROP TABLE trial_attributes", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  SqliteStorage reopened(file);
  EXPECT_TRUE(reopened.trials(study)[0].attributes.empty());
  reopened.set_trial_attributes(study, 0, {{"rung_0", 1.0}});
  EXPECT_EQ(reopened.trials(study)[0].attributes.at("rung_0"), 1.0);
}

// A file of schema version 1 (trials without change numbers) opened for reading reads every
// trial as changed; opened for writing it is brought to version 2, its old trials read in
// full at first and then only what changes.
TEST(SqliteStorage, AVersionOneFileIsReadInFullThenByChanges) {
  testing::TempDirectory directory{"storage_test"};
  const fs::path file = directory.path() / "study.db";
  int64_t study = -1;
  {
    SqliteStorage storage(file);
    study = storage.create_or_load_study(study_named("old")).id;
    storage.start_trial(study, {{"x", 0.1}}, "cpu", 0);
    storage.start_trial(study, {{"x", 0.2}}, "cpu", 1);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  for (const char* sql : {"DROP INDEX trials_by_change", "ALTER TABLE trials DROP COLUMN changed",
                          "DELETE FROM schema_version", "INSERT INTO schema_version (version) VALUES (1)"}) {
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sql << ": " << sqlite3_errmsg(db);
  }
  sqlite3_close(db);
  {
    SqliteStorage read_only(file, SqliteStorage::Access::kReadOnly);
    EXPECT_EQ(read_only.trials_changed_since(study, 0).trials.size(), 2u);
    EXPECT_EQ(read_only.trials_changed_since(study, 5).trials.size(), 2u) << "no change numbers: every trial";
  }
  SqliteStorage storage(file);
  testing::expect_old_trials_read_then_only_changes(storage, study);
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT MAX(version) FROM schema_version", -1, &statement, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(statement, 0), 2);
  sqlite3_finalize(statement);
  sqlite3_close(db);
}

TEST(SqliteStorage, ACopyReadByChangesWhileOthersWriteEndsEqualToTheStudy) {
  testing::TempDirectory directory{"storage_test"};
  const fs::path file = directory.path() / "study.db";
  testing::expect_a_copy_read_by_changes_to_match([&] { return std::make_unique<SqliteStorage>(file); });
}

TEST(SqliteStorage, ASecondThreadInsideAnOperationIsRefusedByNameAndTheFirstFinishes) {
  // Two threads on one connection would share its prepared statements and commit each
  // other's transactions.
  testing::TempDirectory directory{"storage_test"};
  SqliteStorage storage(directory.path() / "study.db");
  testing::expect_a_second_thread_refused(storage, storage.create_or_load_study(study_named("shared")).id);
}

TEST(SqliteStorage, NamesAMissingDirectory) {
  testing::TempDirectory directory{"storage_test"};
  const fs::path missing = directory.path() / "no_such_folder";
  try {
    SqliteStorage storage(missing / "study.db");
    FAIL() << "opened a file in a missing directory";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
}

TEST(SqliteStorage, RefusesAFileFromANewerSchema) {
  testing::TempDirectory directory{"storage_test"};
  const fs::path file = directory.path() / "study.db";
  { SqliteStorage storage(file); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE schema_version SET version = version + 1", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  try {
    SqliteStorage storage(file);
    FAIL() << "opened a file of a newer schema";
  } catch (const StorageError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(file.string()), std::string::npos) << message;
    EXPECT_NE(message.find("schema version 3"), std::string::npos) << message;
  }
}

TEST(SqliteStorage, ThreadsWithTheirOwnConnectionsNeverShareANumber) {
  constexpr int kThreads = 4, kTrialsEach = 50;
  testing::TempDirectory directory{"storage_test"};
  const fs::path file = directory.path() / "study.db";
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kThreads);
  for (int writer = 0; writer < kThreads; ++writer) {
    threads.emplace_back([&file, &errors, writer] {
      try {
        SqliteStorage storage(file);
        write_trials(storage, "shared", writer, kTrialsEach);
      } catch (const std::exception& e) {
        errors[writer] = e.what();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const std::string& error : errors) EXPECT_EQ(error, "");
  SqliteStorage storage(file);
  expect_every_trial_once(storage.trials(storage.find_study("shared")->id), kThreads, kTrialsEach);
}

TEST(SqliteStorage, ProcessesWritingOneFileLoseNoTrial) {
  constexpr int kProcesses = 3, kTrialsEach = 50;
  testing::TempDirectory directory{"storage_test"};
  const fs::path file = directory.path() / "study.db";
  // Created, then closed: a connection must not cross fork().
  { SqliteStorage(file).create_or_load_study(study_named("shared")); }
  testing::run_writer_processes(kProcesses, [&](int writer) {
    SqliteStorage storage(file);
    write_trials(storage, "shared", writer, kTrialsEach);
  });
  SqliteStorage storage(file);
  expect_every_trial_once(storage.trials(storage.find_study("shared")->id), kProcesses, kTrialsEach);
}

}  // namespace
}  // namespace gpu_tune::search
