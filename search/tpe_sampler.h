#pragma once
// The Tree-structured Parzen Estimator (Bergstra et al. 2011), with Optuna's defaults: the
// observations split into a good group (the best gamma(n) = min(ceil(n / 10), 25)) and a
// bad one, a Parzen estimator l(x) of the good and g(x) of the bad, and the next trial the
// best of ei_candidates draws from l by log l(x) - log g(x).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "search/sampler.h"

namespace gpu_tune::search {

struct TpeOptions {
  uint64_t seed = 0;
  int startup_trials = 10;      // usable observations before TPE takes over from the prior
  int ei_candidates = 24;       // draws from l(x) scored per parameter (or per joint sample)
  bool multivariate = false;    // model the parameters active in every trial jointly
  double prior_weight = 1.0;    // weight of the prior component in each estimator
  bool consider_magic_clip = true;
  bool consider_endpoints = false;
  bool constant_liar = true;    // running trials count as bad observations
};

class TpeSampler final : public Sampler {
 public:
  // Throws std::invalid_argument for a negative startup count, fewer than one candidate or
  // a prior weight that is not positive.
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

// Optuna's default split: the good group holds min(ceil(0.1 n), 25) of n observations.
int tpe_default_gamma(int observations);
// Optuna's default observation weights, oldest first: all 1 below 25 observations, else a
// ramp from 1/n to 1 over the older n - 25 and 1 for the newest 25.
std::vector<double> tpe_default_weights(int observations);

}  // namespace gpu_tune::search
