// TPE's settings: their text forms (study files, benchmarks), the good-group size, the
// expected-improvement weights and the bandwidth-weighted density.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "search/parzen_estimator.h"
#include "search/tpe_options.h"
#include "search/tpe_sampler.h"

namespace gpu_tune::search {
namespace {

std::string error_of(TpeOptions& options, const std::string& name, const std::string& value) {
  try {
    set_tpe_option(options, name, value);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(TpeOptions, EveryNamedOptionCanBeSet) {
  TpeOptions options;
  set_tpe_option(options, "startup_trials", "4");
  set_tpe_option(options, "ei_candidates", "12");
  set_tpe_option(options, "multivariate", "false");
  set_tpe_option(options, "joint_max_running", "5");
  set_tpe_option(options, "prior_weight", "0.5");
  set_tpe_option(options, "consider_magic_clip", "false");
  set_tpe_option(options, "consider_endpoints", "true");
  set_tpe_option(options, "constant_liar", "false");
  set_tpe_option(options, "split", "sqrt");
  set_tpe_option(options, "gamma", "0.25");
  set_tpe_option(options, "gamma_cap", "0");
  set_tpe_option(options, "weights", "uniform");
  set_tpe_option(options, "bandwidth", "scott");
  set_tpe_option(options, "min_bandwidth", "0.01");
  set_tpe_option(options, "joint_min_bandwidth", "0.05");
  set_tpe_option(options, "bandwidth_weighted_density", "false");
  set_tpe_option(options, "seed", "9");
  EXPECT_EQ(options.startup_trials, 4);
  EXPECT_EQ(options.ei_candidates, 12);
  EXPECT_FALSE(options.multivariate);
  EXPECT_EQ(options.joint_max_running, 5);
  EXPECT_DOUBLE_EQ(options.prior_weight, 0.5);
  EXPECT_FALSE(options.consider_magic_clip);
  EXPECT_TRUE(options.consider_endpoints);
  EXPECT_FALSE(options.constant_liar);
  EXPECT_EQ(options.split, TpeSplit::kSqrt);
  EXPECT_DOUBLE_EQ(options.gamma, 0.25);
  EXPECT_EQ(options.gamma_cap, 0);
  EXPECT_EQ(options.weights, TpeWeights::kUniform);
  EXPECT_EQ(options.bandwidth, TpeBandwidth::kScott);
  EXPECT_DOUBLE_EQ(options.min_bandwidth, 0.01);
  EXPECT_DOUBLE_EQ(options.joint_min_bandwidth, 0.05);
  EXPECT_FALSE(options.bandwidth_weighted_density);
  EXPECT_EQ(options.seed, 9u);
  // Every name the docs list is one set_tpe_option knows.
  for (const std::string& name : tpe_option_names())
    EXPECT_EQ(error_of(options, name, "not-a-value").find("unknown tpe option"), std::string::npos) << name;
}

TEST(TpeOptions, BadNamesAndValuesSayWhichAndWhy) {
  TpeOptions options;
  EXPECT_NE(error_of(options, "gama", "0.1").find("unknown tpe option 'gama' (known: seed,"), std::string::npos);
  EXPECT_NE(error_of(options, "multivariate", "maybe").find("multivariate: 'maybe' is not true or false"), std::string::npos);
  EXPECT_NE(error_of(options, "ei_candidates", "12.5").find("is not an integer"), std::string::npos);
  EXPECT_NE(error_of(options, "gamma", "lots").find("is not a number"), std::string::npos);
  EXPECT_NE(error_of(options, "weights", "heavy").find("optuna, uniform or ei"), std::string::npos);
  EXPECT_NE(error_of(options, "ei_candidates", "0").find("at least 1"), std::string::npos);
  EXPECT_NE(error_of(options, "gamma", "0").find("gamma must be a positive number"), std::string::npos);
  EXPECT_NE(error_of(options, "min_bandwidth", "1").find("min_bandwidth must be in [0, 1)"), std::string::npos);
  EXPECT_NE(error_of(options, "joint_max_running", "-1").find("joint_max_running must not be negative"), std::string::npos);
  EXPECT_NE(error_of(options, "joint_min_bandwidth", "-0.1").find("joint_min_bandwidth must be in [0, 1)"),
            std::string::npos);
  EXPECT_NE(error_of(options, "seed", "-1").find("non-negative"), std::string::npos);
}

TEST(TpeOptions, GoodGroupSizeFollowsTheSplit) {
  TpeOptions linear;  // the default: ceil(0.15 n), at most 25
  EXPECT_EQ(tpe_good_count(linear, 0), 0);
  EXPECT_EQ(tpe_good_count(linear, 1), 1);
  EXPECT_EQ(tpe_good_count(linear, 7), 2);
  EXPECT_EQ(tpe_good_count(linear, 100), 15);
  EXPECT_EQ(tpe_good_count(linear, 1000), 25);
  linear.gamma_cap = 0;
  EXPECT_EQ(tpe_good_count(linear, 1000), 150);
  TpeOptions root;
  root.split = TpeSplit::kSqrt;
  root.gamma = 0.25;  // hyperopt's: ceil(0.25 sqrt(n))
  EXPECT_EQ(tpe_good_count(root, 16), 1);
  EXPECT_EQ(tpe_good_count(root, 17), 2);
  EXPECT_EQ(tpe_good_count(root, 400), 5);
  TpeOptions optuna;
  optuna.gamma = 0.1;  // Optuna's: ceil(0.1 n), at most 25
  for (int n = 1; n < 300; ++n) EXPECT_EQ(tpe_good_count(optuna, n), tpe_default_gamma(n)) << n;
}

TEST(TpeOptions, ExpectedImprovementWeightsFavourTheBestAndKeepAMeanOfOne) {
  const std::vector<double> losses = {0.5, 0.1, 0.9};
  const std::vector<double> w = tpe_expected_improvement_weights(losses, 1.0);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_GT(w[1], w[0]);
  EXPECT_GT(w[0], w[2]);
  EXPECT_NEAR(w[0] + w[1] + w[2], 3.0, 1e-12);
  EXPECT_NEAR(w[1] / w[2], 0.9 / 0.1, 1e-9);  // in proportion to the distance below the split
  // No order to give: every loss at the split.
  EXPECT_EQ(tpe_expected_improvement_weights(std::vector<double>{2, 2}, 2.0), std::vector<double>(2, 1.0));
}

TEST(TpeOptions, BandwidthWeightedDensityDropsEachKernelsOwnNormalisation) {
  // Bandwidth-weighted, a kernel's log density is log phi(z) - log(its mass on the range):
  // it no longer falls by log(sigma) as the kernel widens (Optuna's kernels before 3.5).
  const KernelSpace line = kernel_space(bounded(DistributionKind::kUniform, 0, 100));
  const std::vector<double> observed = {10, 11, 12, 60};
  const std::vector<double> weights(observed.size(), 1.0);
  ParzenOptions unclipped;
  unclipped.consider_magic_clip = false;  // else every kernel here gets the clip's width
  ParzenOptions weighted = unclipped;
  weighted.bandwidth_weighted_density = true;
  const ParzenEstimator plain({line}, {observed}, weights, unclipped);
  const ParzenEstimator flat({line}, {observed}, weights, weighted);
  std::vector<double> centres = observed;
  centres.push_back(50);  // the prior's
  const std::vector<double>& sigma = plain.bandwidths(0);
  ASSERT_EQ(sigma.size(), centres.size());
  ASSERT_LT(sigma[1], sigma[3]);  // the kernels differ in width
  const auto cdf = [](double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); };
  const auto reference = [&](double x, bool weigh_by_bandwidth) {
    double sum = 0;
    for (size_t k = 0; k < centres.size(); ++k) {
      const double z = (x - centres[k]) / sigma[k];
      const double mass = cdf((100 - centres[k]) / sigma[k]) - cdf((0 - centres[k]) / sigma[k]);
      const double peak = std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI) / mass;
      sum += (weigh_by_bandwidth ? peak : peak / sigma[k]) / static_cast<double>(centres.size());
    }
    return std::log(sum);
  };
  for (double x : {0.0, 11.0, 35.5, 60.0, 99.0}) {
    EXPECT_NEAR(plain.log_pdf({{x}})[0], reference(x, false), 1e-12) << x;
    EXPECT_NEAR(flat.log_pdf({{x}})[0], reference(x, true), 1e-12) << x;
  }
  // Sampling does not change.
  Rng a(3), b(3);
  EXPECT_EQ(plain.sample(a, 50), flat.sample(b, 50));
}

}  // namespace
}  // namespace gpu_tune::search
