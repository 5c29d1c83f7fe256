// One suite that every sampler passes (Optuna's habit): suggestions stay inside the space
// and honour types, steps and log scale; they are determined by (seed, trial number,
// history); conditional parameters appear only with their branch.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "search/grid_sampler.h"
#include "search/random_sampler.h"
#include "search/tpe_sampler.h"

namespace gpu_tune::search {
namespace {


// Discrete enough for the grid sampler, varied enough to exercise every rule.
SearchSpace mixed_space() {
  Distribution optimizer;
  optimizer.kind = DistributionKind::kChoice;
  optimizer.options = {{std::string("adam"), {{"beta1", bounded(DistributionKind::kUniform, 0.8, 0.99)}}},
                       {std::string("sgd"), {{"momentum", bounded(DistributionKind::kQUniform, 0.0, 0.9, 0.3)}}}};
  Distribution batch;
  batch.kind = DistributionKind::kChoice;
  batch.options = {{int64_t{32}, {}}, {int64_t{64}, {}}, {int64_t{128}, {}}};
  return SearchSpace({{"lr", bounded(DistributionKind::kLogUniform, 1e-4, 1e-1)},
                      {"width", bounded(DistributionKind::kQLogUniform, 16, 512, 16)},
                      {"layers", bounded(DistributionKind::kUniformInt, 1, 3)},
                      {"batch", batch},
                      {"optimizer", optimizer}});
}

double objective(const ParamMap& p) {
  const double lr = std::get<double>(p.at("lr"));
  return std::pow(std::log10(lr) + 2.5, 2) + std::abs(std::get<int64_t>(p.at("layers")) - 2) +
         (std::get<std::string>(p.at("optimizer")) == "adam" ? 0.0 : 0.5);
}

template <typename T>
std::unique_ptr<Sampler> make(uint64_t seed);
template <>
std::unique_ptr<Sampler> make<RandomSampler>(uint64_t seed) { return std::make_unique<RandomSampler>(seed); }
template <>
std::unique_ptr<Sampler> make<GridSampler>(uint64_t seed) { return std::make_unique<GridSampler>(seed, 3); }
template <>
std::unique_ptr<Sampler> make<TpeSampler>(uint64_t seed) {
  TpeOptions options;
  options.seed = seed;
  options.startup_trials = 5;
  return std::make_unique<TpeSampler>(options);
}

template <typename T>
class EverySampler : public ::testing::Test {};
using Samplers = ::testing::Types<RandomSampler, GridSampler, TpeSampler>;
TYPED_TEST_SUITE(EverySampler, Samplers);

// A short study: each suggestion becomes a complete trial with the objective's value.
std::vector<TrialRecord> run_study(Sampler& sampler, const SearchSpace& space, int trials) {
  std::vector<TrialRecord> history;
  for (int n = 0; n < trials; ++n) {
    TrialRecord t;
    t.number = n;
    t.params = sampler.sample(space, history, Direction::kMinimize, n);
    t.state = TrialState::kComplete;
    t.value = objective(t.params);
    history.push_back(t);
  }
  return history;
}

TYPED_TEST(EverySampler, StaysInsideTheSpaceAndHonoursTypes) {
  const SearchSpace space = mixed_space();
  auto sampler = make<TypeParam>(11);
  for (const TrialRecord& t : run_study(*sampler, space, 40)) {
    std::string why;
    ASSERT_TRUE(space.contains(t.params, &why)) << sampler->name() << ": " << why;
    EXPECT_TRUE(std::holds_alternative<int64_t>(t.params.at("layers")));
    EXPECT_TRUE(std::holds_alternative<int64_t>(t.params.at("batch")));
    const double width = std::get<double>(t.params.at("width"));
    EXPECT_EQ(std::fmod(width, 16.0), 0.0) << width;
    const bool adam = std::get<std::string>(t.params.at("optimizer")) == "adam";
    EXPECT_EQ(t.params.count("beta1"), adam ? 1u : 0u);
    EXPECT_EQ(t.params.count("momentum"), adam ? 0u : 1u);
  }
}

TYPED_TEST(EverySampler, SameSeedNumberAndHistoryGiveTheSameSuggestion) {
  const SearchSpace space = mixed_space();
  auto first = make<TypeParam>(5);
  const std::vector<TrialRecord> history = run_study(*first, space, 12);
  auto fresh = make<TypeParam>(5);  // as after a resume: a new sampler object
  EXPECT_EQ(first->sample(space, history, Direction::kMinimize, 12), fresh->sample(space, history, Direction::kMinimize, 12));
  auto other_seed = make<TypeParam>(6);
  const std::vector<TrialRecord> other = run_study(*other_seed, space, 12);
  bool any_different = false;
  for (size_t i = 0; i < other.size(); ++i) any_different |= other[i].params != history[i].params;
  EXPECT_TRUE(any_different);
}

TYPED_TEST(EverySampler, LogScaleSpreadsOverDecades) {
  const SearchSpace space = mixed_space();
  auto sampler = make<TypeParam>(3);
  int low_decades = 0;
  const std::vector<TrialRecord> trials = run_study(*sampler, space, 30);
  for (const TrialRecord& t : trials) low_decades += std::get<double>(t.params.at("lr")) < 1e-2;
  // Uniform on a linear scale would put about 10% below 1e-2; on a log scale about 67%.
  EXPECT_GT(low_decades, 8) << sampler->name();
}

}  // namespace
}  // namespace gpu_tune::search
