#include "apps/report_importance.h"

#include <gtest/gtest.h>

#include <cmath>

namespace gpu_tune::app {
namespace {

ReportParameter numeric(const std::string& name) {
  ReportParameter p;
  p.name = name;
  return p;
}

ReportParameter categorical(const std::string& name) {
  ReportParameter p;
  p.name = name;
  p.scale = AxisScale::kCategorical;
  return p;
}

search::TrialRecord trial(int64_t number, search::ParamMap params, double value,
                          search::TrialState state = search::TrialState::kComplete) {
  search::TrialRecord t;
  t.number = number;
  t.state = state;
  t.params = std::move(params);
  t.value = value;
  return t;
}

TEST(ReportImportance, AverageRanksShareTies) {
  EXPECT_EQ(average_ranks({3, 1, 3, 2}), (std::vector<double>{3.5, 1, 3.5, 2}));
  EXPECT_EQ(average_ranks({}), std::vector<double>{});
}

TEST(ReportImportance, QuantileBinsKeepTiesTogetherAndLeaveNoBinEmpty) {
  EXPECT_EQ(quantile_bins({8, 7, 6, 5, 4, 3, 2, 1}, 4), (std::vector<int>{3, 3, 2, 2, 1, 1, 0, 0}));
  EXPECT_EQ(quantile_bins({1, 1, 1, 2}, 2), (std::vector<int>{0, 0, 0, 1}));
  EXPECT_EQ(quantile_bins({5, 5, 5, 5}, 3), (std::vector<int>{0, 0, 0, 0}));
  EXPECT_EQ(quantile_bins({1, 2, 3}, 10), (std::vector<int>{0, 1, 2}));
}

TEST(ReportImportance, EpsilonSquaredIsTheBiasCorrectedShareOfVarianceExplained) {
  // SST 82, SSB 81, MSW (82 - 81) / (4 - 2): (81 - 0.5) / 82.
  EXPECT_NEAR(epsilon_squared({1, 2, 10, 11}, {0, 0, 1, 1}), 80.5 / 82, 1e-12);
  EXPECT_EQ(epsilon_squared({1, 2, 10, 11}, {0, 0, 0, 0}), 0);  // one group explains nothing
  EXPECT_EQ(epsilon_squared({3, 3, 3, 3}, {0, 0, 1, 1}), 0);    // nothing to explain
  EXPECT_EQ(epsilon_squared({1, 2, 3}, {0, 1, 2}), 0);          // no spread within groups to judge by
  // Group means no further apart than chance would put them: clamped at 0, never negative.
  EXPECT_EQ(epsilon_squared({1, 5, 2, 4, 3, 3}, {0, 0, 1, 1, 2, 2}), 0);
}

TEST(ReportImportance, TheParameterThatDecidesTheObjectiveGetsTheImportance) {
  std::vector<search::TrialRecord> trials;
  for (int i = 0; i < 40; ++i) {
    const double lr = std::pow(10.0, -4 + 3.0 * ((i * 7) % 40) / 40);  // spread over 1e-4 .. 1e-1
    const double noise = ((i * 13) % 40) / 40.0;                         // unrelated to the value
    trials.push_back(trial(i, {{"lr", lr}, {"noise", noise}}, std::abs(std::log10(lr) + 2.5)));
  }
  const ImportanceResult result = binned_variance_importance({numeric("lr"), numeric("noise")}, trials);
  ASSERT_EQ(result.parameters.size(), 2u);
  EXPECT_EQ(result.trials, 40);
  EXPECT_EQ(result.parameters[0].name, "lr");
  EXPECT_EQ(result.parameters[0].groups, 6);  // floor(sqrt(40))
  EXPECT_GT(result.parameters[0].variance_share, 0.8);
  EXPECT_GT(result.parameters[0].importance, 0.8);
  EXPECT_NEAR(result.parameters[0].importance + result.parameters[1].importance, 1, 1e-12);
}

TEST(ReportImportance, ChoicesAreGroupedByValueAndNestedParametersByTheTrialsThatUsedThem) {
  // The optimizer decides the value; the momentum (sgd's only) is unrelated to what is left.
  const double noise[] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8};
  std::vector<search::TrialRecord> trials;
  for (int i = 0; i < 12; ++i) {
    const bool sgd = i % 2 == 0;
    search::ParamMap params{{"optimizer", std::string(sgd ? "sgd" : "adam")}};
    if (sgd) params["momentum"] = 0.1 * i;
    trials.push_back(trial(i, params, (sgd ? 1.0 : 0.0) + 0.01 * noise[i]));
  }
  trials.push_back(trial(12, {{"optimizer", std::string("sgd")}, {"momentum", 0.5}}, 9, search::TrialState::kPruned));
  trials.push_back(trial(13, {{"optimizer", std::string("adam")}}, NAN));
  const ImportanceResult result =
      binned_variance_importance({categorical("optimizer"), numeric("momentum")}, trials);
  EXPECT_EQ(result.trials, 12);  // neither the pruned trial nor the NaN one
  EXPECT_EQ(result.parameters[0].trials, 12);
  EXPECT_EQ(result.parameters[0].groups, 2);
  EXPECT_GT(result.parameters[0].importance, 0.9);
  EXPECT_EQ(result.parameters[1].trials, 6);
  EXPECT_EQ(result.parameters[1].groups, 2);
  EXPECT_LT(result.parameters[1].importance, 0.1);
}

TEST(ReportImportance, TooFewTrialsGiveNoImportance) {
  std::vector<search::TrialRecord> trials;
  for (int i = 0; i < kMinimumImportanceTrials - 1; ++i) trials.push_back(trial(i, {{"x", 1.0 * i}}, i));
  const ImportanceResult result = binned_variance_importance({numeric("x")}, trials);
  EXPECT_EQ(result.parameters[0].trials, kMinimumImportanceTrials - 1);
  EXPECT_EQ(result.parameters[0].variance_share, 0);
  EXPECT_EQ(result.parameters[0].importance, 0);
}

}  // namespace
}  // namespace gpu_tune::app
