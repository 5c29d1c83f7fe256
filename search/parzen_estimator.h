#pragma once
// TPE's density model: a Parzen estimator, a weighted mixture with one component per
// observation plus one prior component. Numeric dimensions use truncated normal kernels
// in raw space (log space for log kinds); choices use smoothed one-hot kernels over the
// option indices. One estimator models one or several dimensions jointly (the
// multivariate mode samples a component and then every dimension from it).
#include <span>
#include <vector>

#include "search/rng.h"
#include "search/space.h"

namespace gpu_tune::search {

// --- The standard normal restricted to [a, b]; the bounds may be infinite. Masses and
// quantiles are computed in log space wherever a plain difference of CDFs would lose
// precision, so kernels far out in a tail (a narrow kernel at the edge of a wide range)
// keep their precision instead of collapsing to 0 or NaN.

// log Phi(z), accurate far into both tails.
double log_normal_cdf(double z);
// log(Phi(b) - Phi(a)) for a <= b; -infinity when a == b.
double log_normal_mass(double a, double b);
// Phi^-1(exp(log_p)) for log_p <= 0: the inverse taken in log space, so quantiles deep in the
// left tail stay exact.
double inverse_normal_cdf_of_log(double log_p);
// The p-quantile (p in [0, 1]) of the standard normal truncated to [a, b].
double truncated_normal_quantile(double p, double a, double b);
// The log density at x of N(mu, sigma) truncated to [low, high]; -infinity outside.
double truncated_normal_log_pdf(double x, double mu, double sigma, double low, double high);
// One draw of N(mu, sigma) truncated to [low, high], by the inverse CDF.
double sample_truncated_normal(Rng& rng, double mu, double sigma, double low, double high);

// --- How one parameter is modelled.
struct KernelSpace {
  bool categorical = false;
  int num_choices = 0;           // categorical only
  double low = 0, high = 0;      // kernel support in raw space; infinite for the normal family
  double step = 0;               // raw width each value covers (q and integer kinds), else 0
  double prior_mu = 0, prior_sigma = 1;
  double bandwidth_scale = 1;    // high - low for bounded kinds, the prior sigma otherwise
};

// The kernel space of a distribution. q and integer kinds widen their bounds by half a step,
// so the end values get a full step of mass. qlognormal is bounded below at log(q / 2): a
// smaller draw would round to 0, which a log distribution cannot hold.
KernelSpace kernel_space(const Distribution& distribution);

struct ParzenOptions {
  double prior_weight = 1.0;
  bool consider_magic_clip = true;   // bandwidths no smaller than scale / min(100, 1 + components)
  bool consider_endpoints = false;   // let the range ends widen the outermost kernels
  // Scott's rule (one bandwidth per dimension, 0.2 range n^(-1/(d+4)), as Optuna's joint
  // model) instead of each kernel as wide as the larger gap to its neighbours.
  bool scott_bandwidth = false;
  double min_bandwidth = 0;          // > 0: bandwidths no smaller than this fraction of the scale
                                     // (instead of the magic clip)
  // log_pdf weighs each continuous kernel by its bandwidth (its peak height no longer falls
  // as it widens), as Optuna's kernels did before 3.5. Sampling is unchanged.
  bool bandwidth_weighted_density = false;
};

// Points or observations by dimension: columns[d][i] is the raw value (option index for a
// choice) of point i in dimension d.
using RawColumns = std::vector<std::vector<double>>;

// The mixture model of one group of observations (TPE's l(x) or g(x)).
class ParzenEstimator {
 public:
  // observations: one column per dimension, all of one length n (n may be 0: then only the
  // prior remains). weights: n non-negative observation weights (before the prior's is added).
  // Throws std::invalid_argument for mismatched sizes.
  ParzenEstimator(std::vector<KernelSpace> dimensions, const RawColumns& observations,
                  std::span<const double> weights, const ParzenOptions& options);

  // `count` draws, each dimension continuous in raw space (a choice as its option index).
  // Discrete kinds are not yet rounded: the caller snaps them to values before log_pdf.
  RawColumns sample(Rng& rng, int count) const;
  // The log density of each point. Discrete dimensions (step > 0) count the mass of the raw
  // interval a value covers, so l and g compare probabilities of the same discrete event.
  std::vector<double> log_pdf(const RawColumns& points) const;

  // Mixture components; a one-dimensional model merges identical kernels, so this can be
  // fewer than observations + 1.
  int components() const { return static_cast<int>(log_weights_.size()); }
  // The bandwidth of each observation's kernel in numeric dimension `dimension`, in input
  // order, the prior's last (before any merging).
  const std::vector<double>& bandwidths(int dimension) const { return dimensions_.at(dimension).bandwidths; }

 private:
  struct Dimension {
    KernelSpace space;
    // Numeric: per component.
    std::vector<double> mu, sigma, inv_sigma, log_sigma;
    std::vector<double> bandwidths;        // sigma before merging
    std::vector<int> order_by_centre;      // components by mu (neighbour rule only)
    bool repeated_centres = false;         // some observations share a centre
    // Discrete dimensions of a joint model: kernels with equal centre and bandwidth share a
    // mass class (an index on the value grid), so each point computes that mass once; -1: own.
    std::vector<int> mass_class;
    size_t mass_classes = 0;
    std::vector<double> z_low, z_high;     // the support in standard units of each component
    std::vector<double> log_support_mass;  // log mass of [low, high] under each component
    std::vector<double> log_density_offset;  // continuous: -log sigma - log sqrt(2 pi) - log mass
    // Categorical: log probabilities, choice-major ([c * components + k]) for log_pdf, and
    // cumulative probabilities, component-major, for sampling.
    std::vector<double> log_prob, cumulative_prob;
  };

  void add_numeric_dimension(const KernelSpace& space, const std::vector<double>& observed, int dimensions);
  void add_categorical_dimension(const KernelSpace& space, const std::vector<double>& observed);
  void merge_identical_kernels();
  void precompute_kernel_constants(Dimension& d);
  void set_weights(std::vector<double> log_weights);
  static void assign_mass_classes(Dimension& d);
  std::vector<double> unique_log_pdf(const RawColumns& points) const;

  ParzenOptions options_;
  std::vector<Dimension> dimensions_;
  std::vector<double> log_weights_, cumulative_weights_;
  // One choice alone: the mixture's probability of each option, so log_pdf is a lookup.
  std::vector<double> single_choice_log_prob_;
};

}  // namespace gpu_tune::search
