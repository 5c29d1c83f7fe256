// The random and grid samplers: values inside the space with the right types and scale,
// determined by (seed, trial number, history), and a grid that visits every point once.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include "search/grid_sampler.h"
#include "search/random_sampler.h"

namespace gpu_tune::search {
namespace {




SearchSpace every_kind_space() {
  return SearchSpace({
      {"uniform", bounded(DistributionKind::kUniform, -1, 2)},
      {"quniform", bounded(DistributionKind::kQUniform, 0, 10, 2.5)},
      {"loguniform", bounded(DistributionKind::kLogUniform, 1e-4, 1e-1)},
      {"qloguniform", bounded(DistributionKind::kQLogUniform, 5, 1000, 5)},
      {"normal", unbounded(DistributionKind::kNormal, 0, 1)},
      {"qnormal", unbounded(DistributionKind::kQNormal, 5, 2, 0.5)},
      {"lognormal", unbounded(DistributionKind::kLogNormal, 0, 0.5)},
      {"qlognormal", unbounded(DistributionKind::kQLogNormal, 2, 0.5, 1)},
      {"randint", bounded(DistributionKind::kRandInt, -3, 4)},
      {"uniformint", bounded(DistributionKind::kUniformInt, 1, 6)},
      {"branch", choice({{std::string("a"), {{"a_child", bounded(DistributionKind::kUniformInt, 0, 2)}}},
                         {std::string("b"), {{"b_child", choice({{1.5, {}}, {2.5, {}}})}}},
                         {int64_t{3}, {}}})},
  });
}

bool is_multiple(double value, double q) { return std::abs(value / q - std::round(value / q)) < 1e-9; }

std::vector<ParamMap> random_draws(uint64_t seed, const SearchSpace& space, int count) {
  RandomSampler sampler(seed);
  std::vector<ParamMap> draws;
  for (int n = 0; n < count; ++n) draws.push_back(sampler.sample(space, {}, Direction::kMinimize, n));
  return draws;
}

TEST(RandomSampler, ValuesStayInsideTheSpaceWithTheirTypes) {
  const SearchSpace space = every_kind_space();
  EXPECT_EQ(RandomSampler(1).name(), "random");
  for (const ParamMap& p : random_draws(1, space, 400)) {
    std::string why;
    ASSERT_TRUE(space.contains(p, &why)) << why;
    EXPECT_TRUE(std::holds_alternative<int64_t>(p.at("randint")));
    EXPECT_TRUE(std::holds_alternative<int64_t>(p.at("uniformint")));
    EXPECT_TRUE(is_multiple(std::get<double>(p.at("quniform")), 2.5));
    EXPECT_TRUE(is_multiple(std::get<double>(p.at("qloguniform")), 5));
    EXPECT_TRUE(is_multiple(std::get<double>(p.at("qnormal")), 0.5));
    EXPECT_TRUE(is_multiple(std::get<double>(p.at("qlognormal")), 1));
    EXPECT_GT(std::get<double>(p.at("lognormal")), 0);
  }
}

TEST(RandomSampler, LogUniformSpreadsInLogSpace) {
  const SearchSpace space({{"lr", bounded(DistributionKind::kLogUniform, 1e-4, 1e-1)}});
  std::vector<double> draws;
  for (const ParamMap& p : random_draws(2, space, 2000)) draws.push_back(std::get<double>(p.at("lr")));
  std::nth_element(draws.begin(), draws.begin() + 1000, draws.end());
  const double median = draws[1000];
  const double log_midpoint = 1e-4 * std::pow(10.0, 1.5);  // a linear scale would put it near 0.05
  EXPECT_LT(median, log_midpoint * 1.5);
  EXPECT_GT(median, log_midpoint / 1.5);
}

TEST(RandomSampler, SameSeedAndTrialGiveTheSameParametersWhateverTheHistory) {
  const SearchSpace space = every_kind_space();
  RandomSampler first(9), second(9), other_seed(10);
  std::vector<TrialRecord> history;
  int differs_by_seed = 0, differs_by_trial = 0;
  for (int n = 0; n < 20; ++n) {
    const ParamMap p = first.sample(space, {}, Direction::kMinimize, n);
    EXPECT_EQ(p, second.sample(space, history, Direction::kMaximize, n)) << "trial " << n;
    differs_by_seed += p != other_seed.sample(space, {}, Direction::kMinimize, n);
    if (!history.empty()) differs_by_trial += p != history.back().params;
    TrialRecord t;
    t.number = n;
    t.params = p;
    t.state = TrialState::kComplete;
    t.value = n;
    history.push_back(t);
  }
  EXPECT_EQ(differs_by_seed, 20);
  EXPECT_EQ(differs_by_trial, 19);
}

TEST(RandomSampler, ChildrenAppearOnlyWithTheirBranch) {
  const SearchSpace space = every_kind_space();
  std::set<std::string> branches_seen;
  for (const ParamMap& p : random_draws(4, space, 200)) {
    const ParamValue& branch = p.at("branch");
    branches_seen.insert(to_string(branch));
    EXPECT_EQ(p.count("a_child"), branch == ParamValue(std::string("a")) ? 1u : 0u);
    EXPECT_EQ(p.count("b_child"), branch == ParamValue(std::string("b")) ? 1u : 0u);
  }
  EXPECT_EQ(branches_seen.size(), 3u);
}

// 3 learning rates (at 3 points) x 3 layer counts x 2 randint values x 4 widths x the
// optimizer's branches: adam with 3 beta1 points, sgd with 4 momentum steps, rmsprop alone.
constexpr int kPoints = 3;
constexpr int64_t kGridSize = 3 * 3 * 2 * 4 * (3 + 4 + 1);

SearchSpace grid_space() {
  return SearchSpace({
      {"lr", bounded(DistributionKind::kLogUniform, 1e-4, 1e-1)},
      {"layers", bounded(DistributionKind::kUniformInt, 1, 3)},
      {"flag", bounded(DistributionKind::kRandInt, 0, 2)},
      {"width", bounded(DistributionKind::kQUniform, 16, 64, 16)},
      {"optimizer", choice({{std::string("adam"), {{"beta1", bounded(DistributionKind::kUniform, 0.8, 0.99)}}},
                            {std::string("sgd"), {{"momentum", bounded(DistributionKind::kQUniform, 0, 0.9, 0.3)}}},
                            {std::string("rmsprop"), {}}})},
  });
}

TrialRecord running_trial(int64_t number, ParamMap params) {
  TrialRecord t;
  t.number = number;
  t.params = std::move(params);
  t.state = TrialState::kRunning;
  return t;
}

// Asks trials first..last-1 in turn, each seeing every earlier trial as history.
std::vector<ParamMap> grid_study(GridSampler& sampler, const SearchSpace& space, std::vector<TrialRecord>& history,
                                 int64_t first, int64_t last) {
  std::vector<ParamMap> asked;
  for (int64_t n = first; n < last; ++n) {
    asked.push_back(sampler.sample(space, history, Direction::kMinimize, n));
    history.push_back(running_trial(n, asked.back()));
  }
  return asked;
}

TEST(GridSampler, SizeCountsEveryCombinationOfTheConditionalTree) {
  EXPECT_EQ(GridSampler::grid_size(grid_space(), kPoints), kGridSize);
  EXPECT_EQ(GridSampler::grid_size(grid_space(), 5), 5 * 3 * 2 * 4 * (5 + 4 + 1));
  EXPECT_EQ(GridSampler(0).name(), "grid");
}

TEST(GridSampler, CoversEveryPointExactlyOnce) {
  const SearchSpace space = grid_space();
  GridSampler sampler(3, kPoints);
  std::vector<TrialRecord> history;
  std::set<ParamMap> seen;
  for (const ParamMap& p : grid_study(sampler, space, history, 0, kGridSize)) {
    std::string why;
    ASSERT_TRUE(space.contains(p, &why)) << why;
    EXPECT_TRUE(seen.insert(p).second) << "a point came twice";
  }
  EXPECT_EQ(static_cast<int64_t>(seen.size()), kGridSize);

  // Without history the order alone covers the grid: trial n takes the n-th point.
  std::set<ParamMap> seen_without_history;
  for (int64_t n = 0; n < kGridSize; ++n) seen_without_history.insert(sampler.sample(space, {}, Direction::kMinimize, n));
  EXPECT_EQ(seen_without_history, seen);

  // Once every point is taken, the grid starts over where trial n mod size would be.
  EXPECT_EQ(sampler.sample(space, history, Direction::kMinimize, kGridSize + 2),
            sampler.sample(space, {}, Direction::kMinimize, 2));
}

TEST(GridSampler, ValuesAreTheGridsOwn) {
  const SearchSpace space = grid_space();
  GridSampler sampler(1, 4);
  std::set<double> lrs, widths, momenta, betas;
  std::set<int64_t> layers, flags;
  for (int64_t n = 0; n < GridSampler::grid_size(space, 4); ++n) {
    const ParamMap p = sampler.sample(space, {}, Direction::kMinimize, n);
    lrs.insert(std::get<double>(p.at("lr")));
    widths.insert(std::get<double>(p.at("width")));
    layers.insert(std::get<int64_t>(p.at("layers")));
    flags.insert(std::get<int64_t>(p.at("flag")));
    if (p.count("momentum")) momenta.insert(std::get<double>(p.at("momentum")));
    if (p.count("beta1")) betas.insert(std::get<double>(p.at("beta1")));
  }
  auto near = [](const std::set<double>& got, const std::vector<double>& want) {
    if (got.size() != want.size()) return false;
    return std::equal(got.begin(), got.end(), want.begin(), [](double a, double b) { return std::abs(a - b) <= 1e-9 * std::abs(b) + 1e-15; });
  };
  EXPECT_TRUE(near(lrs, {1e-4, 1e-3, 1e-2, 1e-1}));  // log-spaced
  EXPECT_TRUE(near(betas, {0.8, 0.8 + 0.19 / 3, 0.8 + 2 * 0.19 / 3, 0.99}));  // evenly spaced
  EXPECT_TRUE(near(widths, {16, 32, 48, 64}));
  EXPECT_TRUE(near(momenta, {0, 0.3, 0.6, 0.9}));
  EXPECT_EQ(layers, (std::set<int64_t>{1, 2, 3}));
  EXPECT_EQ(flags, (std::set<int64_t>{0, 1}));
}

TEST(GridSampler, ResumedStudyTakesOnlyPointsNotYetTried) {
  const SearchSpace space = grid_space();
  // The first 100 trials came from another order (another seed), so their points are
  // scattered over this sampler's order.
  GridSampler earlier(77, kPoints), resumed(3, kPoints);
  std::vector<TrialRecord> history;
  const std::vector<ParamMap> before = grid_study(earlier, space, history, 0, 100);
  const std::vector<ParamMap> after = grid_study(resumed, space, history, 100, kGridSize);
  std::set<ParamMap> seen(before.begin(), before.end());
  for (const ParamMap& p : after) EXPECT_TRUE(seen.insert(p).second) << "a point came twice";
  EXPECT_EQ(static_cast<int64_t>(seen.size()), kGridSize);
}

TEST(GridSampler, OrderIsDeterminedBySeed) {
  const SearchSpace space = grid_space();
  GridSampler first(4, kPoints), again(4, kPoints), other(5, kPoints);
  std::vector<TrialRecord> history_first, history_again, history_other;
  const std::vector<ParamMap> a = grid_study(first, space, history_first, 0, 20);
  EXPECT_EQ(a, grid_study(again, space, history_again, 0, 20));
  EXPECT_NE(a, grid_study(other, space, history_other, 0, 20));
}

TEST(GridSampler, ChildrenAppearOnlyWithTheirBranch) {
  const SearchSpace space = grid_space();
  GridSampler sampler(2, kPoints);
  std::map<std::string, int> per_branch;
  for (int64_t n = 0; n < kGridSize; ++n) {
    const ParamMap p = sampler.sample(space, {}, Direction::kMinimize, n);
    const std::string optimizer = std::get<std::string>(p.at("optimizer"));
    ++per_branch[optimizer];
    EXPECT_EQ(p.count("beta1"), optimizer == "adam" ? 1u : 0u);
    EXPECT_EQ(p.count("momentum"), optimizer == "sgd" ? 1u : 0u);
  }
  const int64_t shared = kGridSize / (3 + 4 + 1);  // combinations of the other parameters
  EXPECT_EQ(per_branch["adam"], shared * 3);
  EXPECT_EQ(per_branch["sgd"], shared * 4);
  EXPECT_EQ(per_branch["rmsprop"], shared);
}

void expect_refused(const SearchSpace& space, const std::string& parameter) {
  try {
    GridSampler::grid_size(space, kPoints);
    ADD_FAILURE() << "no error for " << parameter;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'" + parameter + "'"), std::string::npos) << e.what();
  }
  GridSampler sampler(0, kPoints);
  EXPECT_THROW(sampler.sample(space, {}, Direction::kMinimize, 0), std::invalid_argument);
}

TEST(GridSampler, RefusesWhatItCannotEnumerate) {
  expect_refused(SearchSpace({{"dropout", unbounded(DistributionKind::kNormal, 0.1, 0.05)}}), "dropout");
  expect_refused(SearchSpace({{"steps", unbounded(DistributionKind::kQLogNormal, 2, 1, 1)}}), "steps");
  expect_refused(SearchSpace({{"seed", bounded(DistributionKind::kRandInt, 0, 20001)}}), "seed");
  expect_refused(SearchSpace({{"width", bounded(DistributionKind::kQUniform, 0, 1e6, 1)}}), "width");
  // Inside a branch too.
  expect_refused(SearchSpace({{"model", choice({{std::string("mlp"), {}},
                                                {std::string("custom"), {{"scale", unbounded(DistributionKind::kLogNormal, 0, 1)}}}})}}),
                 "scale");
  EXPECT_THROW(GridSampler(0, 0), std::invalid_argument);
}

}  // namespace
}  // namespace gpu_tune::search
