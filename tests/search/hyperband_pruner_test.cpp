// Hyperband: the bracket arithmetic against Hyperband's formulas, the bracket of a trial
// against zlib's CRC-32 (Python: zlib.crc32(b"hb_0") == 2407493257), and a study played
// one trial after another whose every decision is worked out by hand in the comments.
#include "search/hyperband_pruner.h"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/search/pruner_fixtures.h"

namespace gpu_tune::search {
namespace {

using gpu_tune::testing::SequentialStudy;
using Attributes = std::map<std::string, double>;

HyperbandOptions hyperband(int64_t min_resource, std::optional<int64_t> max_resource, int reduction_factor) {
  HyperbandOptions options;
  options.min_resource = min_resource;
  options.max_resource = max_resource;
  options.reduction_factor = reduction_factor;
  return options;
}

TEST(HyperbandPruner, BracketCountIsFloorLogOfTheResourceRatioPlusOne) {
  EXPECT_EQ(HyperbandPruner::bracket_count(1, 81, 3), 5);  // 1, 3, 9, 27, 81
  EXPECT_EQ(HyperbandPruner::bracket_count(1, 80, 3), 4);
  // log(243) / log(3) is 4.999... in floating point; the count is exact here.
  EXPECT_EQ(HyperbandPruner::bracket_count(1, 243, 3), 6);
  EXPECT_EQ(HyperbandPruner::bracket_count(2, 50, 2), 5);  // 2, 4, 8, 16, 32
  EXPECT_EQ(HyperbandPruner::bracket_count(1, 1, 3), 1);
  EXPECT_EQ(HyperbandPruner::bracket_count(5, 1, 3), 1);  // at least one
}

TEST(HyperbandPruner, BracketSharesFollowHyperband) {
  // n brackets, s = n - 1 - b: ceil(n * eta^s / (s + 1)).
  // n = 4, eta = 3: ceil(4*27/4) = 27, ceil(4*9/3) = 12, ceil(4*3/2) = 6, ceil(4/1) = 4.
  EXPECT_EQ(HyperbandPruner::bracket_shares(4, 3), (std::vector<int64_t>{27, 12, 6, 4}));
  // n = 5, eta = 3: 81, ceil(135/4) = 34, 15, ceil(15/2) = 8, 5.
  EXPECT_EQ(HyperbandPruner::bracket_shares(5, 3), (std::vector<int64_t>{81, 34, 15, 8, 5}));
  // n = 3, eta = 2: ceil(12/3) = 4, ceil(6/2) = 3, 3.
  EXPECT_EQ(HyperbandPruner::bracket_shares(3, 2), (std::vector<int64_t>{4, 3, 3}));
}

TEST(HyperbandPruner, TrialsGoToBracketsByTheCrcOfStudyAndNumber) {
  // Shares {4, 3, 3}: CRC mod 10 in 0..3 is bracket 0, 4..6 bracket 1, 7..9 bracket 2.
  // zlib.crc32(b"hb_N") % 10 for N = 0..7: 7, 3, 5, 9, 8, 6, 6, 2.
  const std::vector<int64_t> shares = {4, 3, 3};
  const std::vector<int> expected = {2, 0, 1, 2, 2, 1, 1, 0};
  for (int64_t number = 0; number < 8; ++number)
    EXPECT_EQ(HyperbandPruner::bracket_of("hb", number, shares), expected[static_cast<size_t>(number)]) << number;
}

// min_resource 1, max_resource 4, reduction_factor 2: three brackets, with rungs at steps
// {1, 2, 4} (bracket 0), {2, 4} (bracket 1) and {4} (bracket 2). In study "hb" trials 0..7
// fall in brackets 2, 0, 1, 2, 2, 1, 1, 0.
void play_minimizing_study(SequentialStudy& study, double sign) {
  auto curve = [sign](std::vector<double> values) {
    for (double& v : values) v *= sign;
    return values;
  };
  // Trial 0 (bracket 2) alone at its one rung, step 4: complete.
  EXPECT_EQ(study.run(curve({0.9, 0.8, 0.7, 0.6})), 0);
  // Trial 1 (bracket 0) alone at rungs 1, 2, 4: complete.
  EXPECT_EQ(study.run(curve({0.9, 0.8, 0.7, 0.6})), 0);
  // Trial 2 (bracket 1): worse than both at every step, but its bracket is empty: rung 0
  // (step 2) holds only its 0.9, rung 1 (step 4) only its 0.7. Complete.
  EXPECT_EQ(study.run(curve({1.0, 0.9, 0.8, 0.7})), 0);
  // Trial 3 (bracket 2): steps 1-3 are never judged; rung 0 (step 4) {0.6, 0.65} keeps 0.6:
  // pruned at step 4.
  EXPECT_EQ(study.run(curve({1.0, 0.9, 0.8, 0.65})), 4);
  // Trial 4 (bracket 2): rung 0 {0.6, 0.65, 0.5} keeps 0.5, itself. Complete.
  EXPECT_EQ(study.run(curve({0.5, 0.5, 0.5, 0.5})), 0);
  // Trial 5 (bracket 1): rung 0 (step 2) {0.9, 0.95} keeps 0.9: pruned at step 2.
  EXPECT_EQ(study.run(curve({1.1, 0.95, 0.9, 0.85})), 2);
  // Trial 6 (bracket 1): rung 0 {0.9, 0.95, 0.85} keeps 0.85, itself; rung 1 (step 4)
  // {0.7, 0.75} keeps 0.7: pruned at step 4.
  EXPECT_EQ(study.run(curve({1.2, 0.85, 0.8, 0.75})), 4);
  // Trial 7 (bracket 0): rung 0 (step 1) {0.9, 0.95} keeps 0.9: pruned at step 1.
  EXPECT_EQ(study.run(curve({0.95, 0.5, 0.4, 0.3})), 1);
}

TEST(HyperbandPruner, TrialsCompeteOnlyWithinTheirBracket) {
  const HyperbandPruner pruner(hyperband(1, 4, 2));
  SequentialStudy study(pruner, Direction::kMinimize, "hb");
  play_minimizing_study(study, 1.0);
  const std::vector<TrialRecord>& trials = study.trials();
  EXPECT_EQ(trials[0].attributes, (Attributes{{"hyperband_bracket", 2}, {"rung_0", 0.6}}));
  EXPECT_EQ(trials[1].attributes, (Attributes{{"hyperband_bracket", 0}, {"rung_0", 0.9}, {"rung_1", 0.8}, {"rung_2", 0.6}}));
  EXPECT_EQ(trials[6].attributes, (Attributes{{"hyperband_bracket", 1}, {"rung_0", 0.85}, {"rung_1", 0.75}}));
}

TEST(HyperbandPruner, MaximizingMirrorsMinimizing) {
  // The same curves negated, maximized: every comparison flips exactly, so every decision
  // is the same as above.
  const HyperbandPruner pruner(hyperband(1, 4, 2));
  SequentialStudy study(pruner, Direction::kMaximize, "hb");
  play_minimizing_study(study, -1.0);
}

TEST(HyperbandPruner, AutomaticMaxResourceWaitsForTheFirstCompleteTrial) {
  const HyperbandPruner pruner(hyperband(1, std::nullopt, 2));
  SequentialStudy study(pruner, Direction::kMinimize, "hb");
  // No complete trial yet: nothing is decided, nothing recorded, however bad.
  EXPECT_EQ(study.run({9.0, 9.0, 9.0, 9.0}), 0);
  EXPECT_TRUE(study.trials()[0].attributes.empty());
  // Trial 0 completed with 4 steps: max_resource 4, the brackets above. Trial 1 (bracket 0)
  // is alone at its rungs (trial 0 recorded none): complete.
  EXPECT_EQ(study.run({0.9, 0.8, 0.7, 0.6}), 0);
  EXPECT_EQ(study.trials()[1].attributes.at("hyperband_bracket"), 0);
  // Trial 2 (bracket 1) is alone in its bracket too. Trial 3 (bracket 2) shares its bracket
  // only with trial 0, which recorded no rung value: alone at step 4. Both complete.
  EXPECT_EQ(study.run({1.0, 0.9, 0.8, 0.7}), 0);
  EXPECT_EQ(study.run({1.0, 0.9, 0.8, 0.65}), 0);
  // Trial 4 (bracket 2): rung 0 {0.65, 0.7} keeps 0.65: pruned at step 4.
  EXPECT_EQ(study.run({0.1, 0.1, 0.1, 0.7}), 4);
}

TEST(HyperbandPruner, RefusesBadSettings) {
  EXPECT_THROW(HyperbandPruner(hyperband(0, 4, 3)), std::invalid_argument);
  EXPECT_THROW(HyperbandPruner(hyperband(5, 4, 3)), std::invalid_argument);
  EXPECT_THROW(HyperbandPruner(hyperband(1, 4, 1)), std::invalid_argument);
  HyperbandOptions bootstrap_with_auto = hyperband(1, std::nullopt, 3);
  bootstrap_with_auto.bootstrap_count = 2;
  EXPECT_THROW(HyperbandPruner{bootstrap_with_auto}, std::invalid_argument);
}

}  // namespace
}  // namespace gpu_tune::search
