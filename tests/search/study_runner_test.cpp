// The study runner against a fake objective: budgets, durable records, resume.
#include "search/study_runner.h"
#include "tests/search/study_fixtures.h"
#include "tests/search/change_reading.h"

#include <gtest/gtest.h>

#include <cmath>

#include "search/memory_storage.h"
#include "search/random_sampler.h"

namespace gpu_tune::search {
namespace {

using testing::named;
using testing::one_dimension;

// Runs trials slot by slot, each reporting two steps and finishing with x^2; trial
// numbers listed in fail_numbers fail instead.
class FakeObjective final : public Objective {
 public:
  explicit FakeObjective(int capacity) : capacity_(capacity) {}
  int capacity() const override { return capacity_; }
  std::string device() const override { return "fake"; }
  void run(const std::function<std::optional<TrialRequest>(int)>& next_trial, TrialReporter& reporter) override {
    for (;;) {
      bool started = false;
      for (int slot = 0; slot < capacity_; ++slot) {
        std::optional<TrialRequest> request = next_trial(slot);
        if (!request) continue;
        started = true;
        const double x = std::get<double>(request->params.at("x"));
        reporter.report(request->number, {1, x * x + 1, {{"epoch_metric", 1}}});
        reporter.report(request->number, {2, x * x, {}});
        if (request->number == fail_number) reporter.finish(request->number, {TrialState::kFailed, std::nullopt, {}, "boom"});
        else reporter.finish(request->number, {TrialState::kComplete, x * x, {{"test_accuracy", 0.5}}, ""});
      }
      if (!started) return;
    }
  }
  int64_t fail_number = -1;

 private:
  int capacity_;
};

TEST(StudyRunner, RunsExactlyTheBudgetAndRecordsEverything) {
  MemoryStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("s"));
  const SearchSpace space = one_dimension();
  RandomSampler sampler(3);
  FakeObjective objective(3);
  objective.fail_number = 4;
  int events = 0;
  StudyRunner runner(storage, study, space, sampler, StudyBudget{10, std::nullopt},
                     [&](const StudyProgress&, const std::string&) { ++events; });
  const StudyProgress progress = runner.run(objective);
  const std::vector<TrialRecord> trials = storage.trials(study.id);
  ASSERT_EQ(trials.size(), 10u);
  EXPECT_EQ(progress.complete, 9);
  EXPECT_EQ(progress.failed, 1);
  EXPECT_EQ(trials[4].error, "boom");
  EXPECT_GE(events, 20);  // a start and a finish per trial
  double best = 1e9;
  for (const TrialRecord& t : trials) {
    if (t.state != TrialState::kComplete) continue;
    ASSERT_EQ(t.steps.size(), 2u);
    EXPECT_EQ(t.device, "fake");
    EXPECT_DOUBLE_EQ(*t.value, std::pow(std::get<double>(t.params.at("x")), 2));
    best = std::min(best, *t.value);
  }
  EXPECT_DOUBLE_EQ(*progress.best_value, best);
}

TEST(StudyRunner, ItsTrialsAfterARunAreTheStudyAsStored) {
  // What the command that ran the study prints (the best trial, the first failure) comes
  // from here, not from the storage, which the runner's threads may still be using.
  MemoryStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("s"));
  const TrialRecord earlier = storage.start_trial(study.id, {{"x", 0.25}}, "fake", 0);
  storage.finish_trial(study.id, earlier.number, TrialState::kComplete, 0.0625, {}, "");
  const SearchSpace space = one_dimension();
  RandomSampler sampler(3);
  FakeObjective objective(2);
  objective.fail_number = 3;
  StudyRunner runner(storage, study, space, sampler, StudyBudget{6, std::nullopt});
  runner.run(objective);
  const std::vector<TrialRecord> trials = runner.trials();
  ASSERT_EQ(trials.size(), 6u) << "the earlier trial and the five this run started";
  EXPECT_EQ(trials[3].error, "boom");
  EXPECT_EQ(testing::trials_text(trials), testing::trials_text(storage.trials(study.id)));
}

TEST(StudyRunner, ResumeFailsInterruptedTrialsAndCountsOnlyWhatIsDone) {
  MemoryStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("s"));
  const SearchSpace space = one_dimension();
  RandomSampler sampler(3);
  FakeObjective objective(2);
  StudyRunner first(storage, study, space, sampler, StudyBudget{4, std::nullopt});
  first.run(objective);
  // A process that died mid-trial left these running.
  storage.start_trial(study.id, {{"x", 0.5}}, "fake", 0);
  storage.start_trial(study.id, {{"x", 0.25}}, "fake", 1);
  StudyRunner resumed(storage, study, space, sampler, StudyBudget{7, std::nullopt});
  const StudyProgress progress = resumed.run(objective);
  EXPECT_EQ(progress.interrupted, 2);
  EXPECT_EQ(progress.complete, 7);
  EXPECT_EQ(progress.done(), 7);
  const std::vector<TrialRecord> trials = storage.trials(study.id);
  EXPECT_EQ(trials.size(), 9u);
  EXPECT_EQ(trials[4].state, TrialState::kFailed);
  EXPECT_EQ(trials[4].error, kInterruptedError);
}

TEST(StudyRunner, ATimeLimitStopsNewTrials) {
  MemoryStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("s"));
  const SearchSpace space = one_dimension();
  RandomSampler sampler(3);
  FakeObjective objective(2);
  StudyRunner runner(storage, study, space, sampler, StudyBudget{50, 0.0});
  runner.run(objective);
  EXPECT_TRUE(storage.trials(study.id).empty());
}

}  // namespace
}  // namespace gpu_tune::search
