// Asynchronous successive halving on recorded learning curves, played one trial after
// another; every decision is worked out by hand in the comments. With min_resource 1 and
// reduction_factor 2 the rungs sit at steps 1, 2, 4, 8; a trial reaching a rung goes on if
// its value is among the best max(n / 2, 1) of the n values recorded there, its own included.
#include "search/successive_halving_pruner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/search/pruner_fixtures.h"

namespace gpu_tune::search {
namespace {

using gpu_tune::testing::SequentialStudy;
using Attributes = std::map<std::string, double>;

SuccessiveHalvingOptions halving(int64_t min_resource, int reduction_factor, int min_early_stopping_rate = 0,
                                 int bootstrap_count = 0) {
  return {min_resource, reduction_factor, min_early_stopping_rate, bootstrap_count};
}

TEST(SuccessiveHalvingPruner, RungsSitAtPowersOfTheReductionFactor) {
  const SuccessiveHalvingPruner three(halving(1, 3));
  EXPECT_EQ(three.rung_step(0), 1);
  EXPECT_EQ(three.rung_step(1), 3);
  EXPECT_EQ(three.rung_step(3), 27);
  const SuccessiveHalvingPruner shifted(halving(2, 4, 1));  // 2 * 4^(1 + r)
  EXPECT_EQ(shifted.rung_step(0), 8);
  EXPECT_EQ(shifted.rung_step(1), 32);
  EXPECT_FALSE(three.rung_step(100).has_value());  // 3^100 is past any step
  EXPECT_EQ(SuccessiveHalvingPruner::rung_key(2), "rung_2");
}

TEST(SuccessiveHalvingPruner, MinimizingPromotesTheBestFractionAtEachRung) {
  const SuccessiveHalvingPruner pruner(halving(1, 2));
  SequentialStudy study(pruner, Direction::kMinimize);
  // Trial 0 is alone at every rung: promoted at 1 (0.9), 2 (0.8) and 4 (0.6). Complete.
  EXPECT_EQ(study.run({0.9, 0.8, 0.7, 0.6}), 0);
  // Trial 1, rung 0: {0.9, 1.0}, keep the best 1 -> 0.9; 1.0 is not: pruned at step 1.
  EXPECT_EQ(study.run({1.0, 0.7, 0.6, 0.5}), 1);
  // Trial 2, rung 0: {0.9, 1.0, 0.8} -> best 1 is 0.8: itself, promoted (a tie would be too).
  // Rung 1 (step 2): {0.8, 0.75} -> 0.75, promoted. Rung 2 (step 4): {0.6, 0.55}, promoted.
  EXPECT_EQ(study.run({0.8, 0.75, 0.65, 0.55}), 0);
  // Trial 3, rung 0: {0.9, 1.0, 0.8, 0.95}: n = 4 keeps the best 2, {0.8, 0.9}; 0.95 is out,
  // pruned at step 1 though its later values would have been the best (ASHA's bet).
  EXPECT_EQ(study.run({0.95, 0.6, 0.5, 0.4}), 1);
  // Trial 4, rung 0: {0.9, 1.0, 0.8, 0.95, 0.85}: best 2 are {0.8, 0.85}, promoted. Rung 1:
  // {0.8, 0.75, 0.9}: n = 3 keeps 1, 0.75; 0.9 is out: pruned at step 2.
  EXPECT_EQ(study.run({0.85, 0.9, 0.3, 0.2}), 2);

  // Every value recorded at a rung stays with its trial, pruned ones included.
  const std::vector<TrialRecord>& trials = study.trials();
  EXPECT_EQ(trials[0].attributes, (Attributes{{"rung_0", 0.9}, {"rung_1", 0.8}, {"rung_2", 0.6}}));
  EXPECT_EQ(trials[1].attributes, (Attributes{{"rung_0", 1.0}}));
  EXPECT_EQ(trials[3].attributes, (Attributes{{"rung_0", 0.95}}));
  EXPECT_EQ(trials[4].attributes, (Attributes{{"rung_0", 0.85}, {"rung_1", 0.9}}));
}

TEST(SuccessiveHalvingPruner, MaximizingPromotesTheHighestValues) {
  const SuccessiveHalvingPruner pruner(halving(1, 2));
  SequentialStudy study(pruner, Direction::kMaximize);
  // Accuracies. Trial 0 alone everywhere: complete.
  EXPECT_EQ(study.run({0.1, 0.2, 0.3, 0.4}), 0);
  // Rung 0: {0.1, 0.0} keeps 0.1: pruned at step 1.
  EXPECT_EQ(study.run({0.0, 0.3, 0.4, 0.5}), 1);
  // Rung 0: {0.1, 0.0, 0.2} keeps 0.2, itself. Rung 1: {0.2, 0.25} keeps 0.25, itself. Rung 2:
  // {0.4, 0.45} keeps 0.45, itself. Complete.
  EXPECT_EQ(study.run({0.2, 0.25, 0.35, 0.45}), 0);
  // Rung 0: {0.1, 0.0, 0.2, 0.05} keeps the top 2, {0.2, 0.1}: 0.05 pruned at step 1.
  EXPECT_EQ(study.run({0.05, 0.4, 0.5, 0.6}), 1);
  // Rung 0: {0.1, 0.0, 0.2, 0.05, 0.15} keeps {0.2, 0.15}: promoted. Rung 1: {0.2, 0.25, 0.1}
  // keeps 0.25: pruned at step 2.
  EXPECT_EQ(study.run({0.15, 0.1, 0.7, 0.8}), 2);
}

TEST(SuccessiveHalvingPruner, MinResourceAndEarlyStoppingRateMoveTheRungsUp) {
  // Rungs at 2 * 2^0 = 2 and 4 (min_resource 2), or at 1 * 2^(1 + r) = 2 and 4 (rate 1):
  // the same study either way.
  for (const SuccessiveHalvingOptions& options : {halving(2, 2), halving(1, 2, 1)}) {
    const SuccessiveHalvingPruner pruner(options);
    SequentialStudy study(pruner, Direction::kMinimize);
    // Trial 0 alone: rung 0 records its step-2 value 0.8, rung 1 its step-4 value 0.6.
    EXPECT_EQ(study.run({0.9, 0.8, 0.7, 0.6}), 0);
    // Trial 1 would fall at step 1 with rungs from 1 (1.0 > 0.9); here step 1 is no rung.
    // Rung 0 (step 2): {0.8, 0.7} keeps 0.7, itself. Rung 1 (step 4): {0.6, 0.5}, itself.
    EXPECT_EQ(study.run({1.0, 0.7, 0.6, 0.5}), 0);
    // Rung 0 (step 2): {0.8, 0.7, 0.85} keeps 0.7: pruned at step 2.
    EXPECT_EQ(study.run({0.1, 0.85, 0.1, 0.1}), 2);
    EXPECT_EQ(study.trials()[0].attributes, (Attributes{{"rung_0", 0.8}, {"rung_1", 0.6}}));
  }
}

TEST(SuccessiveHalvingPruner, BootstrapCountPrunesUntilARungHoldsEnoughValues) {
  const SuccessiveHalvingPruner pruner(halving(1, 2, 0, 2));
  SequentialStudy study(pruner, Direction::kMinimize);
  // Rung 0 holds {0.9}: 1 value, not more than 2: pruned at step 1, value kept at the rung.
  EXPECT_EQ(study.run({0.9, 0.8}), 1);
  // {0.9, 1.0}: 2 values: pruned at step 1.
  EXPECT_EQ(study.run({1.0, 0.7}), 1);
  // {0.9, 1.0, 0.8}: 3 values, keeps the best 1, 0.8: promoted. Rung 1 holds only its own
  // 0.75 (the others stopped at step 1): pruned at step 2.
  EXPECT_EQ(study.run({0.8, 0.75}), 2);
}

TEST(SuccessiveHalvingPruner, AReportPastSeveralRungsIsJudgedAtEachInTurn) {
  const SuccessiveHalvingPruner pruner(halving(1, 2));
  SequentialStudy study(pruner, Direction::kMinimize);
  study.run({0.9, 0.8, 0.7, 0.6});  // rung_0 0.9, rung_1 0.8, rung_2 0.6
  std::vector<TrialRecord> trials = study.trials();

  // Steps 1 then 4: at step 1, rung 0 {0.9, 0.85} keeps 0.85. At step 4, rung 1 (step 2)
  // {0.8, 0.5} keeps 0.5 and rung 2 (step 4) {0.6, 0.5} keeps 0.5: both with the step-4 value.
  TrialRecord skipping = testing::trial_with_curve(1, TrialState::kRunning, {0.85});
  skipping.attributes = {{"rung_0", 0.85}};
  skipping.steps.push_back({4, 0.5, {}});
  trials.push_back(skipping);
  PruneDecision decision = pruner.decide({"study", Direction::kMinimize, trials}, trials.back());
  EXPECT_FALSE(decision.prune);
  EXPECT_EQ(decision.attributes, (Attributes{{"rung_1", 0.5}, {"rung_2", 0.5}}));

  // With 0.7 at step 4: rung 1 {0.8, 0.7} keeps 0.7, but rung 2 {0.6, 0.7} keeps 0.6: pruned,
  // and both rung values are still recorded.
  trials.back().steps.back().value = 0.7;
  decision = pruner.decide({"study", Direction::kMinimize, trials}, trials.back());
  EXPECT_TRUE(decision.prune);
  EXPECT_EQ(decision.attributes, (Attributes{{"rung_1", 0.7}, {"rung_2", 0.7}}));
  EXPECT_NE(decision.reason.find("rung 2"), std::string::npos) << decision.reason;
}

TEST(SuccessiveHalvingPruner, NaNAtARungPrunesWithoutRecordingIt) {
  const SuccessiveHalvingPruner pruner(halving(1, 2));
  SequentialStudy study(pruner, Direction::kMinimize);
  EXPECT_EQ(study.run({std::nan("")}), 1);
  EXPECT_TRUE(study.trials()[0].attributes.empty());
  // Between rungs a NaN is not judged: step 3 is no rung.
  EXPECT_EQ(study.run({0.5, 0.4, std::nan("")}), 0);
}

TEST(SuccessiveHalvingPruner, RefusesBadSettings) {
  EXPECT_THROW(SuccessiveHalvingPruner(halving(0, 2)), std::invalid_argument);
  EXPECT_THROW(SuccessiveHalvingPruner(halving(1, 1)), std::invalid_argument);
  EXPECT_THROW(SuccessiveHalvingPruner(halving(1, 2, -1)), std::invalid_argument);
  EXPECT_THROW(SuccessiveHalvingPruner(halving(1, 2, 0, -1)), std::invalid_argument);
}

}  // namespace
}  // namespace gpu_tune::search
