#include "search/tpe_sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "search/parzen_estimator.h"
#include "search/random_sampler.h"

namespace gpu_tune::search {
namespace {

using Objective = std::function<double(const ParamMap&)>;




// Every distribution kind, with a choice whose branches carry parameters of their own.
SearchSpace every_kind_space() {
  return SearchSpace({
      {"u", bounded(DistributionKind::kUniform, -1, 2)},
      {"qu", bounded(DistributionKind::kQUniform, 0, 10, 0.5)},
      {"lu", bounded(DistributionKind::kLogUniform, 1e-4, 1)},
      {"qlu", bounded(DistributionKind::kQLogUniform, 1, 100, 1)},
      {"n", unbounded(DistributionKind::kNormal, 0, 1)},
      {"qn", unbounded(DistributionKind::kQNormal, 0, 2, 0.5)},
      {"ln", unbounded(DistributionKind::kLogNormal, 0, 0.5)},
      // mu well above log(q) so the prior (startup) draws do not round to 0.
      {"qln", unbounded(DistributionKind::kQLogNormal, 2, 0.5, 1)},
      {"ri", bounded(DistributionKind::kRandInt, 0, 5)},
      {"ui", bounded(DistributionKind::kUniformInt, -3, 3)},
      {"branch", choice({{std::string("a"), {{"a_width", bounded(DistributionKind::kUniform, 0, 1)}}},
                              {std::string("b"),
                               {{"b_layers", bounded(DistributionKind::kUniformInt, 1, 4)},
                                {"b_act", choice({{std::string("relu"), {}}, {std::string("tanh"), {}}})}}},
                              {std::string("c"), {}}})},
      {"flag", choice({{true, {}}, {false, {}}})},
  });
}

SearchSpace uniform_cube(int dimensions) {
  std::vector<Parameter> parameters;
  for (int i = 0; i < dimensions; ++i) {
    std::string name = "x";
    name += std::to_string(i);  // not "x" + ...: GCC 12 warns falsely (-Wrestrict) on that form
    parameters.push_back({name, bounded(DistributionKind::kUniform, 0, 1)});
  }
  return SearchSpace(parameters);
}

double shifted_sphere(const ParamMap& params) {
  double sum = 0;
  for (const auto& [name, value] : params) sum += (to_double(value) - 0.3) * (to_double(value) - 0.3);
  return sum;
}

// Some deterministic value of any point of every_kind_space().
double every_kind_objective(const ParamMap& params) {
  double sum = 0;
  for (const auto& [name, value] : params) {
    if (std::holds_alternative<std::string>(value)) {
      sum += static_cast<double>(std::get<std::string>(value).size() + std::get<std::string>(value)[0] % 3);
    } else {
      const double x = to_double(value);
      sum += std::abs(std::sin(3 * x)) + 0.1 * std::abs(x);
    }
  }
  return sum;
}

TrialRecord complete_trial(int64_t number, ParamMap params, double value) {
  TrialRecord t;
  t.number = number;
  t.state = TrialState::kComplete;
  t.params = std::move(params);
  t.value = value;
  return t;
}

// A sequential study: ask, evaluate, record. Returns the whole history.
std::vector<TrialRecord> run_study(Sampler& sampler, const SearchSpace& space, const Objective& objective, int budget,
                                   Direction direction = Direction::kMinimize) {
  std::vector<TrialRecord> history;
  for (int n = 0; n < budget; ++n) {
    ParamMap params = sampler.sample(space, history, direction, n);
    std::string why;
    EXPECT_TRUE(space.contains(params, &why)) << "trial " << n << ": " << why;
    const double value = objective(params);
    history.push_back(complete_trial(n, std::move(params), value));
  }
  return history;
}

double best_value(const std::vector<TrialRecord>& history, Direction direction = Direction::kMinimize) {
  double best = direction == Direction::kMinimize ? INFINITY : -INFINITY;
  for (const TrialRecord& t : history)
    best = direction == Direction::kMinimize ? std::min(best, *t.value) : std::max(best, *t.value);
  return best;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

TpeOptions tpe_options(uint64_t seed, bool multivariate = false) {
  TpeOptions options;
  options.seed = seed;
  options.multivariate = multivariate;
  return options;
}

// Median over seeds of the best value that TPE and random sampling reach at the same budget.
std::pair<double, double> median_best_tpe_and_random(bool multivariate, Direction direction, const Objective& objective) {
  const SearchSpace space = uniform_cube(3);
  std::vector<double> tpe_best, random_best;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    TpeSampler tpe(tpe_options(seed, multivariate));
    RandomSampler random(seed);
    tpe_best.push_back(best_value(run_study(tpe, space, objective, 60, direction), direction));
    random_best.push_back(best_value(run_study(random, space, objective, 60, direction), direction));
  }
  return {median(tpe_best), median(random_best)};
}

// --- The truncated normal.

double integrate(const std::function<double(double)>& f, double low, double high, int intervals = 20000) {
  // Simpson's rule; the densities here are smooth on [low, high].
  const double h = (high - low) / intervals;
  double sum = f(low) + f(high);
  for (int i = 1; i < intervals; ++i) sum += f(low + i * h) * (i % 2 ? 4 : 2);
  return sum * h / 3;
}

TEST(TpeTruncatedNormal, LogPdfIntegratesToOne) {
  struct Case {
    double mu, sigma, low, high;
  };
  // Centred, off-centre, far outside the support (a kernel deep in a tail) and one-sided.
  for (const Case& c : {Case{0.5, 0.2, 0, 1}, Case{0.1, 0.05, 0, 1}, Case{-3, 0.5, 0, 1}, Case{30, 1, 0, 1},
                        Case{2, 1, -10, 2.5}, Case{0, 1, 0, 40}}) {
    const double total = integrate(
        [&](double x) { return std::exp(truncated_normal_log_pdf(x, c.mu, c.sigma, c.low, c.high)); }, c.low, c.high);
    EXPECT_NEAR(total, 1.0, 1e-6) << "mu " << c.mu << " sigma " << c.sigma << " on [" << c.low << ", " << c.high << "]";
  }
  EXPECT_EQ(truncated_normal_log_pdf(1.5, 0.5, 1, 0, 1), -INFINITY);
  EXPECT_THROW(truncated_normal_log_pdf(0.5, 0.5, 0, 0, 1), std::invalid_argument);
}

TEST(TpeTruncatedNormal, LogCdfMatchesErfcIntoTheFarTail) {
  for (double z : {-35.0, -30.0, -25.0, -20.5, -19.5, -5.0, -1.0, 0.0, 1.0, 5.0}) {
    const double direct = std::log(0.5 * std::erfc(-z / std::sqrt(2.0)));
    EXPECT_NEAR(log_normal_cdf(z), direct, 1e-12 * std::max(1.0, std::abs(direct))) << "z " << z;
  }
  // Deep in the right tail log Phi(z) is -Q(z), which 1 - Q would round away.
  EXPECT_NEAR(log_normal_cdf(10.0) / (-0.5 * std::erfc(10.0 / std::sqrt(2.0))), 1.0, 1e-12);
  EXPECT_EQ(log_normal_cdf(-INFINITY), -INFINITY);
  EXPECT_EQ(log_normal_cdf(INFINITY), 0.0);
}

TEST(TpeTruncatedNormal, InverseCdfOfLogRoundTrips) {
  for (double log_p : {-1e-14, -1e-6, -0.01, -0.5, -0.69, -0.7, -3.0, -50.0, -1000.0, -1e5}) {
    const double x = inverse_normal_cdf_of_log(log_p);
    EXPECT_NEAR(log_normal_cdf(x), log_p, 1e-11 * std::max(1.0, std::abs(log_p))) << "log p " << log_p;
  }
}

TEST(TpeTruncatedNormal, QuantileInvertsTheTruncatedCdfEvenInTails) {
  struct Case {
    double a, b;
  };
  for (const Case& c : {Case{-1, 1}, Case{-INFINITY, 0.5}, Case{2, INFINITY}, Case{30, 31}, Case{-41, -40}, Case{-0.1, 50}}) {
    const double log_total = log_normal_mass(c.a, c.b);
    for (double p : {1e-9, 0.01, 0.3, 0.5, 0.9, 0.999999}) {
      const double x = truncated_normal_quantile(p, c.a, c.b);
      ASSERT_GE(x, c.a);
      ASSERT_LE(x, c.b);
      EXPECT_NEAR(std::exp(log_normal_mass(c.a, x) - log_total), p, 1e-9) << "[" << c.a << ", " << c.b << "] p " << p;
    }
  }
}

TEST(TpeTruncatedNormal, IntervalMassMatchesALogSpaceReference) {
  // The reference works in the left tail by log-CDF differences (mirrored on the right);
  // the mass function takes shortcuts (a series for narrow intervals, plain differences
  // where safe) that must agree with it.
  auto reference = [](double a, double b) {
    if (a > 0) std::swap(a, b), a = -a, b = -b;
    if (b <= 0) return log_normal_cdf(b) + std::log(-std::expm1(log_normal_cdf(a) - log_normal_cdf(b)));
    return std::log(0.5 * std::erfc(-b / std::sqrt(2.0)) - 0.5 * std::erfc(-a / std::sqrt(2.0)));
  };
  for (double c = -15; c <= 15; c += 0.73) {
    for (double h : {0.01, 0.04, 0.1, 0.3, 1.0, 4.0}) {
      const double expected = reference(c - h, c + h);
      EXPECT_NEAR(log_normal_mass(c - h, c + h), expected, 1e-11 * std::max(1.0, std::abs(expected))) << "c " << c << " h " << h;
    }
  }
  EXPECT_NEAR(log_normal_mass(-INFINITY, INFINITY), 0.0, 1e-15);
  EXPECT_EQ(log_normal_mass(1.0, 1.0), -INFINITY);
}

TEST(TpeTruncatedNormal, SamplesRespectBoundsAndFollowTheDensity) {
  Rng rng(3);
  int below_mean = 0;
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) {
    const double x = sample_truncated_normal(rng, -0.5, 0.4, 0, 1);
    ASSERT_GE(x, 0.0);
    ASSERT_LE(x, 1.0);
    below_mean += x < 0.15;
  }
  // P(x < 0.15) for N(-0.5, 0.4) truncated to [0, 1].
  const double expected = std::exp(log_normal_mass(1.25, 1.625) - log_normal_mass(1.25, 3.75));
  EXPECT_NEAR(static_cast<double>(below_mean) / draws, expected, 0.015);
  for (int i = 0; i < 1000; ++i) {
    const double x = sample_truncated_normal(rng, 40, 1, 0, 1);  // the whole mass sits at the upper bound's tail
    ASSERT_TRUE(x >= 0 && x <= 1) << x;
  }
}

// --- The Parzen estimator.

TEST(TpeParzenEstimator, MagicClipKeepsRepeatedObservationsFromCollapsing) {
  const KernelSpace unit = kernel_space(bounded(DistributionKind::kUniform, 0, 1));
  const RawColumns repeated = {std::vector<double>(9, 0.5)};
  const std::vector<double> weights(9, 1.0);
  ParzenOptions clipped;
  ParzenOptions unclipped;
  unclipped.consider_magic_clip = false;
  const ParzenEstimator with_clip({unit}, repeated, weights, clipped);
  const ParzenEstimator without_clip({unit}, repeated, weights, unclipped);
  ASSERT_EQ(with_clip.bandwidths(0).size(), 10u);
  EXPECT_EQ(with_clip.components(), 2);  // nine identical kernels merge into one, beside the prior
  const double floor = 1.0 / std::min(100.0, 1.0 + 10);
  for (int k = 0; k < 9; ++k) {
    EXPECT_NEAR(with_clip.bandwidths(0)[k], floor, 1e-15);
    EXPECT_LT(without_clip.bandwidths(0)[k], 1e-9);
  }
  EXPECT_EQ(with_clip.bandwidths(0).back(), 1.0);  // the prior spans the range
  // The clipped density at the repeated point stays finite and moderate.
  const double peak = std::exp(with_clip.log_pdf({{0.5}})[0]);
  EXPECT_GT(peak, 1.0);
  EXPECT_LT(peak, 10.0);
}

TEST(TpeParzenEstimator, NeighbourBandwidthsFollowGaps) {
  const KernelSpace unit = kernel_space(bounded(DistributionKind::kUniform, 0, 10));
  const std::vector<double> weights(4, 1.0);
  // Sorted with the prior's centre (5): 1, 2, 5, 8, 9.5 -> gaps 1, 3, 3, 1.5.
  ParzenOptions unclipped;
  unclipped.consider_magic_clip = false;  // else no bandwidth falls below 10 / 6
  const ParzenEstimator model({unit}, {{8, 1, 9.5, 2}}, weights, unclipped);
  const std::vector<double>& s = model.bandwidths(0);
  EXPECT_DOUBLE_EQ(s[0], 3);    // 8: max(3, 1.5)
  EXPECT_DOUBLE_EQ(s[1], 1);    // 1: the lowest takes its right gap
  EXPECT_DOUBLE_EQ(s[2], 1.5);  // 9.5: the highest takes its left gap
  EXPECT_DOUBLE_EQ(s[3], 3);    // 2: max(1, 3)
  EXPECT_DOUBLE_EQ(s[4], 10);   // prior
}

TEST(TpeParzenEstimator, AJointModelTakesEachDimensionsGapsOrScottsRule) {
  const KernelSpace wide = kernel_space(bounded(DistributionKind::kUniform, 0, 10));
  const KernelSpace narrow = kernel_space(bounded(DistributionKind::kUniform, 0, 1));
  const std::vector<double> weights(4, 1.0);
  const RawColumns observed = {{8, 1, 9.5, 2}, {0.1, 0.2, 0.9, 0.35}};
  ParzenOptions unclipped;
  unclipped.consider_magic_clip = false;
  const ParzenEstimator neighbour({wide, narrow}, observed, weights, unclipped);
  // The first dimension as in NeighbourBandwidthsFollowGaps; the second from its own
  // order: 0.1, 0.2, 0.35, 0.5 (prior), 0.9 -> gaps 0.1, 0.15, 0.15, 0.4.
  EXPECT_DOUBLE_EQ(neighbour.bandwidths(0)[0], 3);
  EXPECT_DOUBLE_EQ(neighbour.bandwidths(0)[1], 1);
  const std::vector<double>& second = neighbour.bandwidths(1);
  EXPECT_DOUBLE_EQ(second[0], 0.1);   // 0.1: the lowest takes its right gap
  EXPECT_DOUBLE_EQ(second[1], 0.15);  // 0.2: max(0.1, 0.15)
  EXPECT_DOUBLE_EQ(second[2], 0.4);   // 0.9: the highest takes its left gap
  EXPECT_DOUBLE_EQ(second[3], 0.15);  // 0.35: max(0.15, 0.15)
  EXPECT_DOUBLE_EQ(second[4], 1);     // prior

  ParzenOptions scott = unclipped;
  scott.scott_bandwidth = true;
  const ParzenEstimator joint({wide, narrow}, observed, weights, scott);
  // 0.2 range n^(-1 / (d + 4)) with n = 4 observations and d = 2 dimensions, for every kernel.
  const double factor = 0.2 * std::pow(4.0, -1.0 / 6);
  for (int k = 0; k < 4; ++k) {
    EXPECT_NEAR(joint.bandwidths(0)[k], 10 * factor, 1e-12);
    EXPECT_NEAR(joint.bandwidths(1)[k], factor, 1e-12);
  }
}

TEST(TpeParzenEstimator, DensitiesAndMassesSumToOne) {
  const std::vector<double> weights = {1, 0.5, 2, 1, 1};
  // Continuous: integrate the mixture over its range.
  const KernelSpace unit = kernel_space(bounded(DistributionKind::kUniform, -1, 3));
  const ParzenEstimator continuous({unit}, {{-0.9, 0.2, 0.25, 2.9, 1.0}}, weights, ParzenOptions{});
  EXPECT_NEAR(integrate([&](double x) { return std::exp(continuous.log_pdf({{x}})[0]); }, -1, 3), 1.0, 1e-6);

  // Integer x choice, jointly (multivariate): the masses of every (value, option) pair.
  const Distribution integer = bounded(DistributionKind::kUniformInt, -2, 6);
  const Distribution letters = choice({{std::string("x"), {}}, {std::string("y"), {}}, {std::string("z"), {}}});
  const ParzenEstimator discrete({kernel_space(integer), kernel_space(letters)}, {{-2, 0, 0, 6, 3}, {0, 2, 2, 1, 0}}, weights,
                                 ParzenOptions{});
  RawColumns grid(2);
  for (int v = -2; v <= 6; ++v)
    for (int c = 0; c < 3; ++c) grid[0].push_back(v), grid[1].push_back(c);
  double total = 0;
  for (double log_mass : discrete.log_pdf(grid)) total += std::exp(log_mass);
  EXPECT_NEAR(total, 1.0, 1e-12);

  // One choice alone (the lookup path) and a q kind.
  const ParzenEstimator single({kernel_space(letters)}, {{0, 2, 2, 1, 0}}, weights, ParzenOptions{});
  double choice_total = 0;
  for (double log_mass : single.log_pdf({{0, 1, 2}})) choice_total += std::exp(log_mass);
  EXPECT_NEAR(choice_total, 1.0, 1e-12);
  const Distribution stepped = bounded(DistributionKind::kQUniform, 0, 5, 0.5);
  const ParzenEstimator quantized({kernel_space(stepped)}, {{0, 0.5, 0.5, 4, 5}}, weights, ParzenOptions{});
  RawColumns steps(1);
  for (int i = 0; i <= 10; ++i) steps[0].push_back(0.5 * i);
  double step_total = 0;
  for (double log_mass : quantized.log_pdf(steps)) step_total += std::exp(log_mass);
  EXPECT_NEAR(step_total, 1.0, 1e-12);
}

TEST(TpeParzenEstimator, MergingIdenticalKernelsKeepsTheDensity) {
  // A one-dimensional model merges kernels that share centre and bandwidth; a joint model
  // with a one-option choice beside it has the same density and merges nothing.
  const Distribution integer = bounded(DistributionKind::kUniformInt, 0, 9);
  const Distribution single = choice({{std::string("only"), {}}});
  const std::vector<double> observed = {3, 3, 3, 7, 0, 3, 9, 9, 5, 3, 3, 7, 1, 2, 3, 3, 8, 3, 3, 3, 4, 3, 3, 6, 3, 3, 3, 2};
  const std::vector<double> weights = tpe_default_weights(static_cast<int>(observed.size()));
  const ParzenEstimator merged({kernel_space(integer)}, {observed}, weights, ParzenOptions{});
  const ParzenEstimator joint({kernel_space(integer), kernel_space(single)}, {observed, std::vector<double>(observed.size(), 0)},
                              weights, ParzenOptions{});
  EXPECT_LT(merged.components(), joint.components());
  std::vector<double> values(10);
  std::iota(values.begin(), values.end(), 0.0);
  const std::vector<double> a = merged.log_pdf({values});
  const std::vector<double> b = joint.log_pdf({values, std::vector<double>(10, 0)});
  for (int v = 0; v < 10; ++v) EXPECT_NEAR(a[v], b[v], 1e-12) << "value " << v;
}

TEST(TpeParzenEstimator, RejectsMismatchedInput) {
  const KernelSpace unit = kernel_space(bounded(DistributionKind::kUniform, 0, 1));
  const std::vector<double> two = {1, 1};
  EXPECT_THROW(ParzenEstimator({unit}, {{0.1, 0.2, 0.3}}, two, ParzenOptions{}), std::invalid_argument);
  EXPECT_THROW(ParzenEstimator({unit, unit}, {{0.1, 0.2}}, two, ParzenOptions{}), std::invalid_argument);
  const std::vector<double> negative = {1, -1};
  EXPECT_THROW(ParzenEstimator({unit}, {{0.1, 0.2}}, negative, ParzenOptions{}), std::invalid_argument);
}

// --- The sampler.

TEST(TpeSampler, DefaultGammaAndWeightsFollowOptuna) {
  EXPECT_EQ(tpe_default_gamma(1), 1);
  EXPECT_EQ(tpe_default_gamma(10), 1);
  EXPECT_EQ(tpe_default_gamma(11), 2);
  EXPECT_EQ(tpe_default_gamma(1000), 25);
  EXPECT_EQ(tpe_default_weights(24), std::vector<double>(24, 1.0));
  const std::vector<double> w = tpe_default_weights(100);
  ASSERT_EQ(w.size(), 100u);
  EXPECT_DOUBLE_EQ(w[0], 0.01);
  EXPECT_DOUBLE_EQ(w[74], 1.0);
  EXPECT_TRUE(std::is_sorted(w.begin(), w.end()));
  EXPECT_EQ(std::count(w.begin(), w.end(), 1.0), 26);  // the ramp ends at 1, then 25 flat
}

TEST(TpeSampler, RejectsBadOptions) {
  TpeOptions options;
  options.ei_candidates = 0;
  EXPECT_THROW(TpeSampler{options}, std::invalid_argument);
  options = TpeOptions{};
  options.prior_weight = 0;
  EXPECT_THROW(TpeSampler{options}, std::invalid_argument);
  options = TpeOptions{};
  options.startup_trials = -1;
  EXPECT_THROW(TpeSampler{options}, std::invalid_argument);
}

TEST(TpeSampler, SamplesStayInsideEveryKindAndHonourTypesAndSteps) {
  const SearchSpace space = every_kind_space();
  for (bool multivariate : {false, true}) {
    TpeSampler sampler(tpe_options(5, multivariate));
    const std::vector<TrialRecord> history = run_study(sampler, space, every_kind_objective, 60);  // checks contains()
    int branch_b = 0;
    for (const TrialRecord& t : history) {
      for (const char* name : {"ri", "ui"}) EXPECT_TRUE(std::holds_alternative<int64_t>(t.params.at(name))) << name;
      for (const char* name : {"u", "qu", "lu", "qlu", "n", "qn", "ln", "qln"})
        EXPECT_TRUE(std::holds_alternative<double>(t.params.at(name))) << name;
      EXPECT_EQ(std::fmod(std::get<double>(t.params.at("qu")), 0.5), 0.0);
      EXPECT_EQ(std::fmod(std::get<double>(t.params.at("qln")), 1.0), 0.0);
      EXPECT_GT(std::get<double>(t.params.at("qln")), 0.0);
      EXPECT_TRUE(std::holds_alternative<bool>(t.params.at("flag")));
      branch_b += std::get<std::string>(t.params.at("branch")) == "b";
    }
    EXPECT_GT(branch_b, 0) << "the conditional branch was never sampled";
  }
}

TEST(TpeSampler, LogParametersAreModelledInLogSpace) {
  // The optimum 1e-4 lies in the first 0.01% of the range: only a model in log space can
  // concentrate around it (a linear one has kernels at least 1e-2 wide there).
  const SearchSpace space({{"lr", bounded(DistributionKind::kLogUniform, 1e-6, 1)}});
  TpeSampler sampler(tpe_options(11));
  const auto history =
      run_study(sampler, space, [](const ParamMap& p) { return std::abs(std::log10(std::get<double>(p.at("lr"))) + 4); }, 60);
  int near = 0;
  for (int n = 30; n < 60; ++n) {
    const double lr = std::get<double>(history[n].params.at("lr"));
    near += lr > 1e-5 && lr < 1e-3;
  }
  EXPECT_GE(near, 18) << "of 30 late suggestions within a decade of the optimum (random: about 10)";
}

TEST(TpeSampler, StartupTrialsDrawFromThePriorLikeRandomSampling) {
  const SearchSpace space = every_kind_space();
  TpeSampler tpe(tpe_options(42));
  RandomSampler random(42);
  std::vector<TrialRecord> history;
  for (int n = 0; n < 10; ++n) {
    const ParamMap params = tpe.sample(space, history, Direction::kMinimize, n);
    EXPECT_EQ(params, random.sample(space, history, Direction::kMinimize, n)) << "trial " << n;
    history.push_back(complete_trial(n, params, every_kind_objective(params)));
  }
  EXPECT_NE(tpe.sample(space, history, Direction::kMinimize, 10), random.sample(space, history, Direction::kMinimize, 10));
}

TEST(TpeSampler, PrunedTrialsWithAValueCountAsObservations) {
  const SearchSpace space = uniform_cube(2);
  RandomSampler random(1);
  std::vector<TrialRecord> history = run_study(random, space, shifted_sphere, 9);
  TrialRecord pruned = complete_trial(9, random.sample(space, history, Direction::kMinimize, 9), 5.0);
  pruned.state = TrialState::kPruned;
  pruned.steps = {{0, 7.0, {}}, {1, 5.0, {}}};
  pruned.value.reset();
  history.push_back(pruned);
  TpeSampler tpe(tpe_options(1));
  // Nine usable observations: still the prior.
  EXPECT_EQ(tpe.sample(space, history, Direction::kMinimize, 10), random.sample(space, history, Direction::kMinimize, 10));
  history.back().value = 5.0;  // now ten: TPE proper
  EXPECT_NE(tpe.sample(space, history, Direction::kMinimize, 10), random.sample(space, history, Direction::kMinimize, 10));
}

TEST(TpeSampler, DeterministicForSameSeedNumberAndHistory) {
  const SearchSpace space = every_kind_space();
  for (bool multivariate : {false, true}) {
    TpeSampler first(tpe_options(9, multivariate));
    const std::vector<TrialRecord> history = run_study(first, space, every_kind_objective, 30);
    const ParamMap a = first.sample(space, history, Direction::kMinimize, 30);
    const ParamMap b = first.sample(space, history, Direction::kMinimize, 30);
    TpeSampler fresh(tpe_options(9, multivariate));
    const ParamMap c = fresh.sample(space, history, Direction::kMinimize, 30);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a, c);
    TpeSampler other_seed(tpe_options(10, multivariate));
    EXPECT_NE(a, other_seed.sample(space, history, Direction::kMinimize, 30));
    EXPECT_NE(a, first.sample(space, history, Direction::kMinimize, 31));
  }
}

TEST(TpeSampler, ConstantLiarSpreadsConcurrentSuggestions) {
  const SearchSpace space = uniform_cube(3);
  RandomSampler random(2);
  const std::vector<TrialRecord> finished = run_study(random, space, shifted_sphere, 30);
  for (bool multivariate : {false, true}) {
    // One trial number for all eight: the same candidates every time, so only the liar can
    // spread the suggestions, and it needs more candidates than suggestions to spread over.
    TpeOptions options = tpe_options(4, multivariate);
    options.joint_max_running = 100;  // else past 3 running trials the models go one at a time
    options.ei_candidates = 24;
    TpeSampler tpe(options);
    std::vector<TrialRecord> history = finished;
    std::vector<ParamMap> suggestions;
    // Same seed and trial number every time: only the running trials differ.
    for (int k = 0; k < 8; ++k) {
      ParamMap params = tpe.sample(space, history, Direction::kMinimize, 100);
      suggestions.push_back(params);
      TrialRecord running;
      running.number = 30 + k;
      running.state = TrialState::kRunning;
      running.params = std::move(params);
      history.push_back(std::move(running));
    }
    for (size_t i = 0; i < suggestions.size(); ++i)
      for (size_t j = i + 1; j < suggestions.size(); ++j)
        EXPECT_NE(suggestions[i], suggestions[j]) << "suggestions " << i << " and " << j << (multivariate ? " (multivariate)" : "");

    // Without the liar, running trials are ignored and the suggestion repeats.
    TpeOptions no_liar = tpe_options(4, multivariate);
    no_liar.constant_liar = false;
    TpeSampler plain(no_liar);
    EXPECT_EQ(plain.sample(space, history, Direction::kMinimize, 100), plain.sample(space, finished, Direction::kMinimize, 100));
  }
}

TEST(TpeSampler, WithManyTrialsRunningAJointModelHandsOverToOneParameterAtATime) {
  const SearchSpace space = every_kind_space();
  RandomSampler random(8);
  std::vector<TrialRecord> history = run_study(random, space, every_kind_objective, 20);
  TpeOptions up_to_two = tpe_options(3, true);
  up_to_two.joint_max_running = 2;
  TpeSampler joint(up_to_two);
  TpeSampler independent(tpe_options(3, false));
  TpeOptions always_joint_options = tpe_options(3, true);
  always_joint_options.joint_max_running = 100;
  TpeSampler always_joint(always_joint_options);
  const auto add_running = [&](int number) {
    TrialRecord running;
    running.number = number;
    running.state = TrialState::kRunning;
    running.params = random.sample(space, history, Direction::kMinimize, number);
    history.push_back(running);
  };
  // Nothing running, then up to two: the joint model decides.
  for (int number = 20; number <= 22; ++number) {
    EXPECT_EQ(joint.sample(space, history, Direction::kMinimize, 30), always_joint.sample(space, history, Direction::kMinimize, 30));
    EXPECT_NE(joint.sample(space, history, Direction::kMinimize, 30), independent.sample(space, history, Direction::kMinimize, 30));
    if (number < 22) add_running(number);
  }
  // A third running: the per-parameter models decide.
  add_running(22);
  const ParamMap suggestion = joint.sample(space, history, Direction::kMinimize, 30);
  EXPECT_EQ(suggestion, independent.sample(space, history, Direction::kMinimize, 30));
  EXPECT_NE(suggestion, always_joint.sample(space, history, Direction::kMinimize, 30));
  // Without the liar a running trial is not an observation, and the joint model stays.
  TpeOptions no_liar = up_to_two;
  no_liar.constant_liar = false;
  TpeOptions no_liar_always_joint = no_liar;
  no_liar_always_joint.joint_max_running = 100;
  EXPECT_EQ(TpeSampler(no_liar).sample(space, history, Direction::kMinimize, 30),
            TpeSampler(no_liar_always_joint).sample(space, history, Direction::kMinimize, 30));
}

TEST(TpeSampler, TheJointFloorAppliesOnlyToAJointModelOfTheWholeSpace) {
  TpeOptions options;
  options.min_bandwidth = 0.002;
  options.joint_min_bandwidth = 0.04;
  EXPECT_EQ(tpe_parzen_options(options, true, true).min_bandwidth, 0.04);
  EXPECT_EQ(tpe_parzen_options(options, true, false).min_bandwidth, 0.002);
  EXPECT_EQ(tpe_parzen_options(options, false, false).min_bandwidth, 0.002);
  options.joint_min_bandwidth = 0;
  EXPECT_EQ(tpe_parzen_options(options, true, true).min_bandwidth, 0.002);

  // Through the sampler: on a space without conditional parameters the floor changes the
  // suggestion; on a conditional space (some parameters modelled apart) it does not.
  const auto suggestion = [](const SearchSpace& space, const Objective& objective, double floor) {
    TpeOptions o = tpe_options(12, true);
    o.joint_min_bandwidth = floor;
    RandomSampler random(12);
    const std::vector<TrialRecord> history = run_study(random, space, objective, 40);
    return TpeSampler(o).sample(space, history, Direction::kMinimize, 40);
  };
  const SearchSpace cube = uniform_cube(3);
  EXPECT_NE(suggestion(cube, shifted_sphere, 0.0), suggestion(cube, shifted_sphere, 0.04));
  const SearchSpace conditional = every_kind_space();  // "branch" has parameters of its own
  EXPECT_EQ(suggestion(conditional, every_kind_objective, 0.0), suggestion(conditional, every_kind_objective, 0.04));
}

TEST(TpeSampler, FailedAndWaitingTrialsAreIgnored) {
  const SearchSpace space = uniform_cube(3);
  RandomSampler random(3);
  std::vector<TrialRecord> history = run_study(random, space, shifted_sphere, 25);
  TpeSampler tpe(tpe_options(6));
  const ParamMap expected = tpe.sample(space, history, Direction::kMinimize, 40);
  for (int k = 0; k < 5; ++k) {
    TrialRecord failed = complete_trial(25 + k, random.sample(space, history, Direction::kMinimize, 25 + k), -100.0);
    failed.state = k % 2 ? TrialState::kFailed : TrialState::kWaiting;
    if (k == 0) failed.value.reset();
    history.push_back(std::move(failed));
  }
  EXPECT_EQ(tpe.sample(space, history, Direction::kMinimize, 40), expected);
}

TEST(TpeSampler, BeatsRandomSamplingIndependently) {
  const auto [tpe, random] = median_best_tpe_and_random(false, Direction::kMinimize, shifted_sphere);
  EXPECT_LT(tpe, 0.5 * random) << "median best: tpe " << tpe << ", random " << random;
}

TEST(TpeSampler, BeatsRandomSamplingMultivariately) {
  const auto [tpe, random] = median_best_tpe_and_random(true, Direction::kMinimize, shifted_sphere);
  EXPECT_LT(tpe, 0.5 * random) << "median best: tpe " << tpe << ", random " << random;
}

TEST(TpeSampler, MaximizeFlipsTheSign) {
  // Maximizing -f must suggest exactly what minimizing f does.
  const SearchSpace space = uniform_cube(3);
  TpeSampler minimizer(tpe_options(8)), maximizer(tpe_options(8));
  const auto minimized = run_study(minimizer, space, shifted_sphere, 40, Direction::kMinimize);
  const auto maximized =
      run_study(maximizer, space, [](const ParamMap& p) { return -shifted_sphere(p); }, 40, Direction::kMaximize);
  for (int n = 0; n < 40; ++n) ASSERT_EQ(minimized[n].params, maximized[n].params) << "trial " << n;

  const auto [tpe, random] =
      median_best_tpe_and_random(false, Direction::kMaximize, [](const ParamMap& p) { return -shifted_sphere(p); });
  EXPECT_GT(tpe, 0.5 * random) << "median best: tpe " << tpe << ", random " << random;  // both negative
}

}  // namespace
}  // namespace gpu_tune::search
