// The study runner with a pruner, against an objective that plays fixed learning curves by
// trial number and stops a trial when told: pruned trials are recorded as pruned with their
// last value and their rung values, and count toward the budget like complete ones.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "search/median_pruner.h"
#include "search/random_sampler.h"
#include "search/sqlite_storage.h"
#include "search/study_runner.h"
#include "search/successive_halving_pruner.h"
#include "tests/search/temp_directory.h"

namespace gpu_tune::search {
namespace {

using Attributes = std::map<std::string, double>;

// One slot; trial n reports curves[n] at steps 1, 2, ... and stops at the first report the
// runner answers with false, finishing as pruned with that step's value.
class CurveObjective final : public Objective {
 public:
  explicit CurveObjective(std::vector<std::vector<double>> curves) : curves_(std::move(curves)) {}
  int capacity() const override { return 1; }
  std::string device() const override { return "curves"; }
  void run(const std::function<std::optional<TrialRequest>(int)>& next_trial, TrialReporter& reporter) override {
    while (const std::optional<TrialRequest> request = next_trial(0)) {
      const std::vector<double>& curve = curves_.at(static_cast<size_t>(request->number));
      TrialOutcome outcome{TrialState::kComplete, curve.back(), {}, ""};
      for (size_t i = 0; i < curve.size(); ++i) {
        if (!reporter.report(request->number, {static_cast<int64_t>(i + 1), curve[i], {}})) {
          outcome = {TrialState::kPruned, curve[i], {}, ""};
          break;
        }
      }
      reporter.finish(request->number, outcome);
    }
  }

 private:
  std::vector<std::vector<double>> curves_;
};

SearchSpace one_dimension() {
  Distribution d;
  d.kind = DistributionKind::kUniform;
  d.low = 0;
  d.high = 1;
  return SearchSpace({{"x", d}});
}

StudyInfo named(const std::string& name) {
  StudyInfo info;
  info.name = name;
  return info;
}

TEST(StudyRunnerPruning, PrunedTrialsAreRecordedWithRungValuesAndCountTowardTheBudget) {
  testing::TempDirectory directory{"runner_pruning"};
  SqliteStorage storage(directory.path() / "study.db");
  const StudyInfo study = storage.create_or_load_study(named("asha"));
  const SearchSpace space = one_dimension();
  RandomSampler sampler(1);
  // ASHA with rungs at steps 1, 2, 4, keeping the best half: the study worked out by hand in
  // successive_halving_pruner_test.cpp (MinimizingPromotesTheBestFractionAtEachRung).
  const SuccessiveHalvingPruner pruner({1, 2, 0, 0});
  CurveObjective objective({{0.9, 0.8, 0.7, 0.6},
                            {1.0, 0.7, 0.6, 0.5},     // pruned at step 1
                            {0.8, 0.75, 0.65, 0.55},
                            {0.95, 0.6, 0.5, 0.4},    // pruned at step 1
                            {0.85, 0.9, 0.3, 0.2}});  // pruned at step 2
  std::vector<std::string> events;
  StudyRunner runner(storage, study, space, sampler, StudyBudget{5, std::nullopt},
                     [&](const StudyProgress&, const std::string& event) { events.push_back(event); }, &pruner);
  const StudyProgress progress = runner.run(objective);

  EXPECT_EQ(progress.complete, 2);
  EXPECT_EQ(progress.pruned, 3);
  EXPECT_EQ(progress.done(), 5);  // the budget: pruned trials count
  EXPECT_EQ(*progress.best_value, 0.55);
  const std::vector<TrialRecord> trials = storage.trials(study.id);
  ASSERT_EQ(trials.size(), 5u);
  const std::vector<TrialState> states = {TrialState::kComplete, TrialState::kPruned, TrialState::kComplete,
                                          TrialState::kPruned, TrialState::kPruned};
  const std::vector<double> values = {0.6, 1.0, 0.55, 0.95, 0.9};  // a pruned trial keeps its last value
  const std::vector<size_t> steps = {4, 1, 4, 1, 2};
  for (size_t i = 0; i < trials.size(); ++i) {
    SCOPED_TRACE("trial " + std::to_string(i));
    EXPECT_EQ(trials[i].state, states[i]);
    EXPECT_EQ(trials[i].value, values[i]);
    EXPECT_EQ(trials[i].steps.size(), steps[i]);
  }
  EXPECT_EQ(trials[0].attributes, (Attributes{{"rung_0", 0.9}, {"rung_1", 0.8}, {"rung_2", 0.6}}));
  EXPECT_EQ(trials[3].attributes, (Attributes{{"rung_0", 0.95}}));
  EXPECT_EQ(trials[4].attributes, (Attributes{{"rung_0", 0.85}, {"rung_1", 0.9}}));

  // The log says why.
  bool explained = false;
  for (const std::string& event : events)
    explained |= event.starts_with("trial 4 pruned: value 0.9; at rung 1 (step 2)");
  EXPECT_TRUE(explained);
}

TEST(StudyRunnerPruning, TheMedianPrunerWorksThroughTheRunnerAndNoPrunerPrunesNothing) {
  // Two startup trials, then each later one against the median of the complete ones:
  //   trial 2, step 1: median of {1.0, 0.9} = 0.95; 1.2 is worse: pruned at step 1.
  //   trial 3: 0.9 < 0.95; step 2 best 0.74 < median {0.8, 0.7} = 0.75; step 3 best
  //            0.54 < {0.6, 0.5} = 0.55: complete.
  //   trial 4, step 1: median of {1.0, 0.9, 0.9} = 0.9; 0.92 is worse: pruned at step 1.
  const std::vector<std::vector<double>> curves = {
      {1.0, 0.8, 0.6}, {0.9, 0.7, 0.5}, {1.2, 0.1, 0.1}, {0.9, 0.74, 0.54}, {0.92, 0.1, 0.1}};
  const SearchSpace space = one_dimension();
  MedianPrunerOptions options;
  options.startup_trials = 2;
  const MedianPruner median(options);
  for (const Pruner* pruner : {static_cast<const Pruner*>(&median), static_cast<const Pruner*>(nullptr)}) {
    SCOPED_TRACE(pruner ? "median" : "none");
    testing::TempDirectory directory{"runner_pruning"};
    SqliteStorage storage(directory.path() / "study.db");
    const StudyInfo study = storage.create_or_load_study(named("median"));
    RandomSampler sampler(1);
    CurveObjective objective(curves);
    StudyRunner runner(storage, study, space, sampler, StudyBudget{5, std::nullopt}, {}, pruner);
    const StudyProgress progress = runner.run(objective);
    EXPECT_EQ(progress.done(), 5);
    const std::vector<TrialRecord> trials = storage.trials(study.id);
    ASSERT_EQ(trials.size(), 5u);
    if (!pruner) {
      EXPECT_EQ(progress.pruned, 0);
      continue;
    }
    EXPECT_EQ(progress.pruned, 2);
    EXPECT_EQ(trials[2].state, TrialState::kPruned);
    EXPECT_EQ(trials[2].value, 1.2);
    EXPECT_EQ(trials[3].state, TrialState::kComplete);
    EXPECT_EQ(trials[4].state, TrialState::kPruned);
    EXPECT_EQ(trials[4].value, 0.92);
    for (const TrialRecord& t : trials) EXPECT_TRUE(t.attributes.empty());  // the median rule keeps nothing
  }
}

}  // namespace
}  // namespace gpu_tune::search
