// The median pruner on recorded learning curves, each decision worked out by hand in the
// comments: the trial's best value so far against the median of the complete trials' values
// at the same step.
#include "search/median_pruner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "tests/search/pruner_fixtures.h"

namespace gpu_tune::search {
namespace {

using gpu_tune::testing::trial_with_curve;

// Three complete trials, validation loss at epochs 1..4. The medians per step:
//   step 1: {1.0, 1.2, 0.9} -> 1.0    step 2: {0.8, 0.9, 0.7} -> 0.8
//   step 3: {0.6, 0.7, 0.5} -> 0.6    step 4: {0.5, 0.6, 0.4} -> 0.5
std::vector<TrialRecord> loss_history() {
  return {trial_with_curve(0, TrialState::kComplete, {1.0, 0.8, 0.6, 0.5}),
          trial_with_curve(1, TrialState::kComplete, {1.2, 0.9, 0.7, 0.6}),
          trial_with_curve(2, TrialState::kComplete, {0.9, 0.7, 0.5, 0.4})};
}

// The decision for `curve` cut after each of its steps, as the runner would ask after each
// epoch: true where it prunes.
std::vector<bool> decisions(const MedianPruner& pruner, std::vector<TrialRecord> history, const std::vector<double>& curve,
                            Direction direction) {
  std::vector<bool> pruned;
  const int64_t number = static_cast<int64_t>(history.size());
  history.push_back(trial_with_curve(number, TrialState::kRunning, {}));
  for (size_t i = 0; i < curve.size(); ++i) {
    history.back().steps.push_back({static_cast<int64_t>(i + 1), curve[i], {}});
    pruned.push_back(pruner.decide({"study", direction, history}, history.back()).prune);
  }
  return pruned;
}

MedianPrunerOptions startup(int trials) {
  MedianPrunerOptions options;
  options.startup_trials = trials;
  return options;
}

TEST(MedianPruner, PrunesWhereTheBestValueSoFarIsWorseThanTheMedian) {
  const MedianPruner pruner(startup(3));
  // best so far 1.1 > 1.0: prune; 0.85 > 0.8: prune; 0.55 < 0.6: keep; 0.52 > 0.5: prune.
  EXPECT_EQ(decisions(pruner, loss_history(), {1.1, 0.85, 0.55, 0.52}, Direction::kMinimize),
            (std::vector<bool>{true, true, false, true}));
  // The best so far, not the latest value: 0.7 < 1.0 keep; at step 2 its value 0.9 is worse
  // than 0.8 but its best, 0.7, is not: keep; at step 3 the best 0.7 > 0.6: prune.
  EXPECT_EQ(decisions(pruner, loss_history(), {0.7, 0.9, 0.9}, Direction::kMinimize),
            (std::vector<bool>{false, false, true}));
  // Equal to the median is not worse: 1.0 at step 1 is kept.
  EXPECT_EQ(decisions(pruner, loss_history(), {1.0}, Direction::kMinimize), (std::vector<bool>{false}));
}

TEST(MedianPruner, MaximizingKeepsTheHigherValuesAndAveragesAnEvenMiddle) {
  // Validation accuracy of four complete trials; with an even count the median is the mean
  // of the middle two:
  //   step 1: {0.3, 0.4, 0.5, 0.6} -> 0.45   step 2: {0.4, 0.5, 0.6, 0.7} -> 0.55
  //   step 3: {0.5, 0.6, 0.7, 0.8} -> 0.65
  const std::vector<TrialRecord> history = {trial_with_curve(0, TrialState::kComplete, {0.5, 0.6, 0.7}),
                                            trial_with_curve(1, TrialState::kComplete, {0.4, 0.5, 0.6}),
                                            trial_with_curve(2, TrialState::kComplete, {0.6, 0.7, 0.8}),
                                            trial_with_curve(3, TrialState::kComplete, {0.3, 0.4, 0.5})};
  const MedianPruner pruner(startup(4));
  // 0.46 >= 0.45 keep; best 0.50 < 0.55 prune; best 0.70 > 0.65 keep.
  EXPECT_EQ(decisions(pruner, history, {0.46, 0.50, 0.70}, Direction::kMaximize), (std::vector<bool>{false, true, false}));
  // A loss-like curve falling under maximize: best stays 0.9 (step 1), above every median: keep.
  EXPECT_EQ(decisions(pruner, history, {0.9, 0.1, 0.1}, Direction::kMaximize), (std::vector<bool>{false, false, false}));
}

TEST(MedianPruner, OnlyCompleteTrialsCountForStartupAndMedian) {
  std::vector<TrialRecord> history = loss_history();
  // A pruned and a running trial with excellent values: neither moves the median nor counts
  // as a complete trial.
  history.push_back(trial_with_curve(3, TrialState::kPruned, {0.1}));
  history.push_back(trial_with_curve(4, TrialState::kRunning, {0.1, 0.1}));
  history.push_back(trial_with_curve(5, TrialState::kFailed, {0.1}));
  // With them the step-1 median would be that of {0.1, 0.1, 0.1, 0.9, 1.0, 1.2}, 0.5, and
  // 0.97 pruned; without, it is 1.0: keep.
  EXPECT_EQ(decisions(MedianPruner(startup(3)), history, {0.97}, Direction::kMinimize), (std::vector<bool>{false}));
  // Four complete trials needed, three exist: nothing is pruned however bad.
  EXPECT_EQ(decisions(MedianPruner(startup(4)), history, {5.0, 5.0}, Direction::kMinimize),
            (std::vector<bool>{false, false}));
  // No complete trial at all: nothing to compare with, even with startup_trials 0.
  EXPECT_EQ(decisions(MedianPruner(startup(0)), {}, {5.0}, Direction::kMinimize), (std::vector<bool>{false}));
}

TEST(MedianPruner, WarmupAndIntervalChooseTheCheckedSteps) {
  // A flat 0.95: worse than the median from step 2 on (0.8, 0.6, 0.5).
  const std::vector<double> flat = {0.95, 0.95, 0.95, 0.95};
  MedianPrunerOptions warmup = startup(3);
  warmup.warmup_steps = 3;  // steps 1 and 2 are below it: never pruned
  EXPECT_EQ(decisions(MedianPruner(warmup), loss_history(), flat, Direction::kMinimize),
            (std::vector<bool>{false, false, true, true}));

  MedianPrunerOptions interval = startup(3);
  interval.warmup_steps = 1;
  interval.interval_steps = 2;  // checks at steps 1, 3, 5, ...
  // step 1: 0.95 < 1.0 keep; step 2: no check; step 3: 0.95 > 0.6 prune; step 4: no check.
  EXPECT_EQ(decisions(MedianPruner(interval), loss_history(), flat, Direction::kMinimize),
            (std::vector<bool>{false, false, true, false}));

  // A trial that skips steps is checked at the first step it reports past a check point:
  // steps 1 then 4; at step 4 the latest check point is 3 and its previous step, 1, is
  // before it, so 4 is checked: best 0.55 > 0.5, prune.
  std::vector<TrialRecord> history = loss_history();
  TrialRecord skipping = trial_with_curve(3, TrialState::kRunning, {0.95});
  skipping.steps.push_back({4, 0.55, {}});
  history.push_back(skipping);
  EXPECT_TRUE(MedianPruner(interval).decide({"study", Direction::kMinimize, history}, history.back()).prune);
}

TEST(MedianPruner, MinTrialsCountsTheCompleteTrialsThatReachedTheStep) {
  std::vector<TrialRecord> history = loss_history();
  history.push_back(trial_with_curve(3, TrialState::kComplete, {1.0, 0.8}));  // stopped early
  MedianPrunerOptions options = startup(1);
  options.min_trials = 4;
  // Step 1: four values {1.0, 1.2, 0.9, 1.0}, median 1.0: 1.5 is worse, prune. Step 2: four
  // values {0.8, 0.9, 0.7, 0.8}, median 0.8: prune. Step 3: only three complete trials got
  // there, fewer than 4: keep, though 1.5 is far worse than their 0.6.
  EXPECT_EQ(decisions(MedianPruner(options), history, {1.5, 1.5, 1.5}, Direction::kMinimize),
            (std::vector<bool>{true, true, false}));
}

TEST(MedianPruner, NaNValues) {
  const double nan = std::nan("");
  const MedianPruner pruner(startup(3));
  // Nothing but NaN so far: prune.
  EXPECT_EQ(decisions(pruner, loss_history(), {nan}, Direction::kMinimize), (std::vector<bool>{true}));
  // A NaN after a good value: the best ignores it (0.9 < 1.0, then 0.9 > 0.8 prunes).
  EXPECT_EQ(decisions(pruner, loss_history(), {0.9, nan}, Direction::kMinimize), (std::vector<bool>{false, true}));
  // NaN in the complete trials is left out of the median: {1.0, NaN, 0.9} -> 0.95.
  std::vector<TrialRecord> history = loss_history();
  history[1].steps[0].value = nan;
  EXPECT_EQ(decisions(pruner, history, {0.97}, Direction::kMinimize), (std::vector<bool>{true}));
}

TEST(MedianPruner, RefusesBadSettings) {
  MedianPrunerOptions options;
  options.interval_steps = 0;
  EXPECT_THROW(MedianPruner{options}, std::invalid_argument);
  options = {};
  options.warmup_steps = -1;
  EXPECT_THROW(MedianPruner{options}, std::invalid_argument);
  options = {};
  options.min_trials = 0;
  EXPECT_THROW(MedianPruner{options}, std::invalid_argument);
}

}  // namespace
}  // namespace gpu_tune::search
