#pragma once
// The Tree-structured Parzen Estimator (Bergstra et al. 2011): the observations split into a
// good group (by default the best min(ceil(0.15 n), 25)) and a bad one, a Parzen
// estimator l(x) of the good and g(x) of the bad, and the next trial the best of
// ei_candidates draws from l by log l(x) - log g(x). The defaults differ from Optuna's in
// ways chosen by measurement (tpe_options.h, benchmarks/RESULTS.md).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "search/parzen_estimator.h"
#include "search/sampler.h"
#include "search/tpe_options.h"

namespace gpu_tune::search {

class TpeSampler final : public Sampler {
 public:
  // Throws std::invalid_argument for options out of range (see validate).
  explicit TpeSampler(TpeOptions options);
  std::string name() const override { return "tpe"; }
  // Draws from Rng(seed, trial_number) only, so the same seed, number and history give the
  // same parameters. Complete trials and pruned trials with a value are observations
  // (pruned ones rank behind every complete one, the longer-lived first); running trials
  // are bad observations when constant_liar is on; failed and waiting trials are ignored,
  // as is the record numbered trial_number itself.
  ParamMap sample(const SearchSpace& space, std::span<const TrialRecord> history, Direction direction,
                  int64_t trial_number) override;

  const TpeOptions& options() const { return options_; }

 private:
  TpeOptions options_;
};

// The estimators' settings for one model: a joint one (or a parameter alone), and whether
// the joint one holds every parameter of the space (joint_min_bandwidth applies only then).
ParzenOptions tpe_parzen_options(const TpeOptions& options, bool joint, bool whole_space);
// Optuna's default split: the good group holds min(ceil(0.1 n), 25) of n observations.
int tpe_default_gamma(int observations);
// The size of the good group among n usable observations under the options' split.
int tpe_good_count(const TpeOptions& options, int observations);
// Expected-improvement weights of the good group: each observation by how far its loss lies
// below split_loss (Watanabe 2023), scaled to a mean of 1 so the prior keeps its share of
// the mixture; all 1 where that gives no order (every loss at or above the split).
std::vector<double> tpe_expected_improvement_weights(std::span<const double> good_losses, double split_loss);
// Optuna's default observation weights, oldest first: all 1 below 25 observations, else a
// ramp from 1/n to 1 over the older n - 25 and 1 for the newest 25.
std::vector<double> tpe_default_weights(int observations);

}  // namespace gpu_tune::search
