#pragma once
// TPE's settings, their defaults, and how a study file or a benchmark names them.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gpu_tune::search {

// How many observations form the good group l(x) is fitted to: ceil(gamma * n) (linear, as
// Optuna) or ceil(gamma * sqrt(n)) (sqrt, as hyperopt), at most gamma_cap when that is > 0.
enum class TpeSplit { kLinear, kSqrt };
// The observations' weights in each group: Optuna's (old observations fade in linearly past
// 25), uniform, or ei for the good group (each good observation weighted by how far it lies
// below the split, as expected improvement would; the bad group keeps Optuna's).
enum class TpeWeights { kOptuna, kUniform, kExpectedImprovement };
// Kernel bandwidths in each numeric dimension: the larger gap to the neighbouring
// observations in that dimension (hyperopt, and Optuna for a parameter modelled alone), or
// Scott's rule, one width per dimension shrinking with n (Optuna's joint model).
enum class TpeBandwidth { kNeighbour, kScott };

struct TpeOptions {
  uint64_t seed = 0;
  int startup_trials = 10;      // usable observations before TPE takes over from the prior
  // Draws from l(x) scored per parameter (or per joint sample). 8, not Optuna's 24: with fewer
  // candidates the choice is less greedy, and on the quality benchmark's nine functions that
  // found better settings on eight (benchmarks/RESULTS.md).
  int ei_candidates = 8;
  // Model the parameters active in every trial jointly: it sees interactions (the best
  // learning rate depending on the optimizer). With more than joint_max_running trials
  // running, suggestions model one parameter at a time instead: the constant liar's running
  // values repel candidates on each axis there, where in a joint model a running trial
  // repels only the small box around itself, and with many running the suggestions bunch
  // up. Measured: the joint model is better with up to 3 trials running (4 in flight), the
  // one-parameter models with 7 (benchmarks/RESULTS.md, "How the defaults were chosen,
  // second round"). A number at or above the study's parallel keeps the joint model always.
  bool multivariate = true;
  int joint_max_running = 3;
  double prior_weight = 1.0;    // weight of the prior component in each estimator
  bool consider_magic_clip = true;
  bool consider_endpoints = false;
  bool constant_liar = true;    // running trials count as bad observations
  TpeSplit split = TpeSplit::kLinear;
  double gamma = 0.15;          // Watanabe (2023) found 0.10-0.15 best; 0.15 measured better here
  int gamma_cap = 25;           // 0: no cap
  TpeWeights weights = TpeWeights::kExpectedImprovement;
  TpeBandwidth bandwidth = TpeBandwidth::kNeighbour;
  double min_bandwidth = 0;     // smallest bandwidth as a fraction of the range; 0: the magic clip's
  // The same floor for a joint model that holds every parameter of the space (no
  // conditional ones), instead of min_bandwidth. The magic clip keeps a good group of 15
  // kernels at 1/16 of the range or wider; 3% lets the joint model settle on the best
  // combination (better on six of the nine benchmark functions, about level on three).
  // Where some parameters are modelled apart (conditional spaces), sharper joint kernels
  // lock the joint part onto values the good trials got for other reasons, so there it
  // does not apply (benchmarks/RESULTS.md, "How the defaults were chosen, second round").
  // 0: off.
  double joint_min_bandwidth = 0.03;
  // Score candidates with each continuous kernel weighted by its bandwidth (ParzenOptions);
  // for parameters modelled one at a time only (see tpe_sampler.cpp).
  // On by default: better on all nine benchmark functions but one, where it ties
  // (benchmarks/RESULTS.md). Optuna's kernels behaved so before 3.5.
  bool bandwidth_weighted_density = true;
};

// The option names set_tpe_option accepts, in the order the docs list them.
const std::vector<std::string>& tpe_option_names();
// Sets one option from its text form ("multivariate", "true"). Throws std::invalid_argument
// naming the option and the problem for an unknown name or a value out of range, and then
// leaves the options unchanged.
void set_tpe_option(TpeOptions& options, std::string_view name, std::string_view value);
// Throws std::invalid_argument naming the first option out of range.
void validate(const TpeOptions& options);

}  // namespace gpu_tune::search
