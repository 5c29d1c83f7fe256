#include "search/parzen_estimator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace gpu_tune::search {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kLogSqrtTwoPi = 0.91893853320467274178;  // log(sqrt(2 pi))
constexpr double kSqrtHalf = 0.70710678118654752440;
// A mixture component whose log term is this far below the best one changes the sum by
// less than components * e^-40, far below double precision: log_pdf may skip it.
constexpr double kNegligibleLogGap = 40.0;

double normal_cdf(double z) { return 0.5 * std::erfc(-z * kSqrtHalf); }

// log(exp(p) - exp(q)) for p >= q, without forming exp(p).
double log_difference(double log_p, double log_q) {
  if (log_q == -kInfinity) return log_p;
  if (log_q >= log_p) return -kInfinity;
  return log_p + std::log(-std::expm1(log_q - log_p));
}

double log_sum(double log_p, double log_q) {
  if (log_p == -kInfinity) return log_q;
  if (log_q == -kInfinity) return log_p;
  const double high = std::max(log_p, log_q);
  return high + std::log1p(std::exp(-std::abs(log_p - log_q)));
}

double log_sum_exp(const double* terms, size_t count) {
  double high = -kInfinity;
  for (size_t i = 0; i < count; ++i) high = std::max(high, terms[i]);
  if (high == -kInfinity || !std::isfinite(high)) return high;
  double sum = 0;
  const double cutoff = high - kNegligibleLogGap;
  for (size_t i = 0; i < count; ++i)
    if (terms[i] > cutoff) sum += std::exp(terms[i] - high);
  return high + std::log(sum);
}

// The upper-tail quantile of the standard normal to about 4.5e-4 (Abramowitz and Stegun
// 26.2.23): a starting point that Newton's method then makes exact.
double rough_upper_quantile(double log_tail) {
  const double t = std::sqrt(-2.0 * log_tail);
  return t - (2.515517 + t * (0.802853 + t * 0.010328)) / (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308)));
}

std::vector<double> normalized_log_weights(std::span<const double> weights, double prior_weight) {
  double total = prior_weight;
  for (double w : weights) {
    if (!(w >= 0) || !std::isfinite(w)) throw std::invalid_argument("Parzen estimator: observation weight " + std::to_string(w) + " is not a finite non-negative number");
    total += w;
  }
  if (!(total > 0) || !std::isfinite(total))
    throw std::invalid_argument("Parzen estimator: the weights (prior weight " + std::to_string(prior_weight) + " included) must sum to a positive number");
  std::vector<double> log_weights;
  log_weights.reserve(weights.size() + 1);
  for (double w : weights) log_weights.push_back(std::log(w / total));
  log_weights.push_back(std::log(prior_weight / total));
  return log_weights;
}

}  // namespace

double log_normal_cdf(double z) {
  if (std::isnan(z)) return z;
  if (z > 6.0) return std::log1p(-normal_cdf(-z));  // Phi(z) is 1 - tiny: keep the tiny part
  if (z > -20.0) return std::log(normal_cdf(z));
  if (z == -kInfinity) return -kInfinity;
  // Far left tail: Phi(z) = phi(z) / -z * (1 - 1/z^2 + 3/z^4 - 15/z^6 + ...), summed until
  // the terms fall below double precision (they shrink fast for z <= -20).
  const double inverse_square = 1.0 / (z * z);
  double series = 1.0, term = 1.0;
  for (int i = 1; i < 64; ++i) {
    term *= -(2.0 * i - 1.0) * inverse_square;
    series += term;
    if (std::abs(term) < 1e-17) break;
  }
  return -0.5 * z * z - std::log(-z) - kLogSqrtTwoPi + std::log(series);
}

namespace {

// log(Phi(b) - Phi(a)) for a < b <= 0. While both CDFs are normal doubles and the difference
// keeps at least a thousandth of Phi(b) (so cancellation costs under 1e-13 relative), the
// plain difference is as good as the log-space one and needs three fewer transcendentals.
double log_tail_mass(double a, double b) {
  if (a > -37.0) {
    const double upper = normal_cdf(b);
    const double mass = upper - normal_cdf(a);
    if (mass > 1e-3 * upper) return std::log(mass);
  }
  return log_difference(log_normal_cdf(b), log_normal_cdf(a));
}

bool is_narrow(double c, double h) { return h <= 0.1 && std::abs(c) * h <= 0.2 && std::abs(c) <= 1e6; }

// log1p, by its series where the argument is tiny (error below 2e-19 there).
double log1p_of_small(double x) {
  if (std::abs(x) >= 1e-3) return std::log1p(x);
  return x * (1 - x * (1.0 / 2 - x * (1.0 / 3 - x * (1.0 / 4 - x / 5))));
}

// log(Phi(c + h) - Phi(c - h)) for a narrow interval (is_narrow) from the Taylor series of
// Phi about c: 2 h phi(c) sum_m He_2m(c) h^2m / (2m + 1)!, He the Hermite polynomials. The
// first omitted term is below 3e-15 relative; no erfc needed. The caller passes log(2 h),
// which it often knows already.
double log_narrow_mass(double c, double h, double log_two_h) {
  const double c2 = c * c, h2 = h * h;
  const double he2 = c2 - 1;
  const double he4 = (c2 - 6) * c2 + 3;
  const double he6 = ((c2 - 15) * c2 + 45) * c2 - 15;
  const double he8 = (((c2 - 28) * c2 + 210) * c2 - 420) * c2 + 105;
  constexpr double k3 = 1.0 / 6, k5 = 1.0 / 120, k7 = 1.0 / 5040, k9 = 1.0 / 362880;  // 1 / (2m + 1)!
  const double correction = h2 * (he2 * k3 + h2 * (he4 * k5 + h2 * (he6 * k7 + h2 * he8 * k9)));
  return log_two_h - 0.5 * c2 - kLogSqrtTwoPi + log1p_of_small(correction);
}

}  // namespace

double log_normal_mass(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
  if (!(a < b)) return -kInfinity;
  if (const double h = 0.5 * (b - a), c = 0.5 * (a + b); is_narrow(c, h)) return log_narrow_mass(c, h, std::log(b - a));
  // Both ends beyond 9 standard deviations: the missing mass is below 2.3e-19, under the
  // rounding of any log density it enters, so skip the costly erfc calls.
  if (a < -9.0 && b > 9.0) return 0.0;
  // Differences of CDFs lose everything in the right tail, so work in the left one.
  if (b <= 0) return log_tail_mass(a, b);
  if (a > 0) return log_tail_mass(-b, -a);
  return std::log1p(-normal_cdf(a) - normal_cdf(-b));
}

double inverse_normal_cdf_of_log(double log_p) {
  if (std::isnan(log_p)) return log_p;
  if (log_p >= 0) return kInfinity;
  if (log_p == -kInfinity) return -kInfinity;
  // Start from a rough quantile of whichever tail holds the point, then refine by Newton's
  // method on log Phi(x) - log_p; log Phi is concave, so the iterates settle monotonically.
  constexpr double kLogHalf = -0.69314718055994530942;
  double x = log_p < kLogHalf ? -rough_upper_quantile(log_p) : rough_upper_quantile(std::log(-std::expm1(log_p)));
  for (int iteration = 0; iteration < 50; ++iteration) {
    const double log_cdf = log_normal_cdf(x);
    const double residual = log_cdf - log_p;
    if (residual == 0) break;
    const double slope = std::exp(-0.5 * x * x - kLogSqrtTwoPi - log_cdf);  // d log Phi / dx
    if (!(slope > 0) || !std::isfinite(slope)) break;
    const double step = residual / slope;
    x -= step;
    if (std::abs(step) <= 1e-15 * std::max(1.0, std::abs(x))) break;
  }
  return x;
}

double truncated_normal_quantile(double p, double a, double b) {
  if (!(a < b)) return std::numeric_limits<double>::quiet_NaN();
  if (p <= 0) return a;
  if (p >= 1) return b;
  const double log_mass = log_normal_mass(a, b);
  double x;
  // Phi(x) = Phi(a) + p * mass, solved on the side of zero that keeps the CDF small.
  if (a < 0) {
    x = inverse_normal_cdf_of_log(log_sum(log_normal_cdf(a), std::log(p) + log_mass));
  } else {
    x = -inverse_normal_cdf_of_log(log_sum(log_normal_cdf(-b), std::log1p(-p) + log_mass));
  }
  return std::clamp(x, a, b);
}

double truncated_normal_log_pdf(double x, double mu, double sigma, double low, double high) {
  if (!(sigma > 0)) throw std::invalid_argument("truncated normal: sigma must be positive, got " + std::to_string(sigma));
  if (!(low < high)) throw std::invalid_argument("truncated normal: low must be below high");
  if (x < low || x > high) return -kInfinity;
  const double z = (x - mu) / sigma;
  return -0.5 * z * z - kLogSqrtTwoPi - std::log(sigma) - log_normal_mass((low - mu) / sigma, (high - mu) / sigma);
}

double sample_truncated_normal(Rng& rng, double mu, double sigma, double low, double high) {
  double p = rng.uniform();
  if (p == 0) p = 0x1.0p-60;  // an exact 0 would return the bound itself, -infinity when unbounded
  const double x = mu + sigma * truncated_normal_quantile(p, (low - mu) / sigma, (high - mu) / sigma);
  return std::clamp(x, low, high);
}

KernelSpace kernel_space(const Distribution& d) {
  KernelSpace s;
  if (d.kind == DistributionKind::kChoice) {
    s.categorical = true;
    s.num_choices = static_cast<int>(d.options.size());
    return s;
  }
  if (!d.is_bounded()) {
    s.low = -kInfinity;
    s.high = kInfinity;
    if (d.kind == DistributionKind::kQLogNormal) s.low = std::log(0.5 * d.q);
    if (d.kind == DistributionKind::kQNormal) s.step = d.q;
    s.prior_mu = d.mu;
    s.prior_sigma = d.sigma;
    s.bandwidth_scale = d.sigma;
    return s;
  }
  switch (d.kind) {
    case DistributionKind::kUniform:
      s.low = d.low, s.high = d.high;
      break;
    case DistributionKind::kQUniform:
      s.low = d.low - 0.5 * d.q, s.high = d.high + 0.5 * d.q, s.step = d.q;
      break;
    case DistributionKind::kLogUniform:
      s.low = std::log(d.low), s.high = std::log(d.high);
      break;
    case DistributionKind::kQLogUniform:
      // Widened in value space where that stays positive; the density is taken in log space
      // (steps are not uniform there), as for Optuna's log-scaled integers.
      s.low = std::log(d.low - 0.5 * d.q > 0 ? d.low - 0.5 * d.q : d.low), s.high = std::log(d.high + 0.5 * d.q);
      break;
    case DistributionKind::kRandInt:
      s.low = d.low - 0.5, s.high = d.high - 0.5, s.step = 1;
      break;
    case DistributionKind::kUniformInt:
      s.low = d.low - 0.5, s.high = d.high + 0.5, s.step = 1;
      break;
    default:
      break;
  }
  s.prior_mu = 0.5 * (s.low + s.high);
  s.prior_sigma = s.high - s.low;
  s.bandwidth_scale = s.high - s.low;
  return s;
}

ParzenEstimator::ParzenEstimator(std::vector<KernelSpace> dimensions, const RawColumns& observations,
                                 std::span<const double> weights, const ParzenOptions& options)
    : options_(options) {
  if (dimensions.empty()) throw std::invalid_argument("Parzen estimator: no dimensions");
  if (observations.size() != dimensions.size())
    throw std::invalid_argument("Parzen estimator: " + std::to_string(observations.size()) + " observation columns for " +
                                std::to_string(dimensions.size()) + " dimensions");
  for (const auto& column : observations)
    if (column.size() != weights.size())
      throw std::invalid_argument("Parzen estimator: an observation column has " + std::to_string(column.size()) +
                                  " entries for " + std::to_string(weights.size()) + " weights");
  if (!(options.prior_weight > 0)) throw std::invalid_argument("Parzen estimator: prior weight must be positive");
  set_weights(normalized_log_weights(weights, options.prior_weight));

  const int count = static_cast<int>(dimensions.size());
  for (int d = 0; d < count; ++d) {
    if (dimensions[d].categorical) {
      add_categorical_dimension(dimensions[d], observations[d]);
    } else {
      add_numeric_dimension(dimensions[d], observations[d], count);
    }
  }
  if (count == 1 && dimensions_[0].repeated_centres) merge_identical_kernels();
  if (count > 1)
    for (Dimension& d : dimensions_)
      if (!d.space.categorical && d.space.step > 0) assign_mass_classes(d);
  if (count == 1 && dimensions_[0].space.categorical) {
    const Dimension& d = dimensions_[0];
    const size_t components = log_weights_.size();
    for (int c = 0; c < d.space.num_choices; ++c) {
      std::vector<double> terms(components);
      for (size_t k = 0; k < components; ++k) terms[k] = log_weights_[k] + d.log_prob[c * components + k];
      single_choice_log_prob_.push_back(log_sum_exp(terms.data(), components));
    }
  }
}

void ParzenEstimator::add_numeric_dimension(const KernelSpace& space, const std::vector<double>& observed, int dimensions) {
  if (!(space.low < space.high) || !(space.bandwidth_scale > 0) || !(space.prior_sigma > 0))
    throw std::invalid_argument("Parzen estimator: a numeric dimension needs low < high and positive scales");
  Dimension d;
  d.space = space;
  const size_t components = observed.size() + 1;
  d.mu.reserve(components);
  for (double x : observed) d.mu.push_back(std::clamp(x, space.low, space.high));
  d.mu.push_back(space.prior_mu);
  d.sigma.assign(components, 0.0);
  const double scale = space.bandwidth_scale;

  if (options_.scott_bandwidth) {
    // Scott's rule as BOHB and Optuna use it: one bandwidth per dimension, shrinking with n.
    const double n = std::max<double>(static_cast<double>(observed.size()), 1.0);
    std::fill(d.sigma.begin(), d.sigma.end(), 0.2 * std::pow(n, -1.0 / (dimensions + 4)) * scale);
  } else {
    // Each kernel as wide as the larger gap to its neighbours in sorted order (the prior's
    // centre included), so dense regions get sharp kernels and sparse ones broad kernels.
    std::vector<std::pair<double, int>> by_centre(components);
    for (size_t k = 0; k < components; ++k) by_centre[k] = {d.mu[k], static_cast<int>(k)};
    std::sort(by_centre.begin(), by_centre.end());  // ties by input order
    std::vector<int>& order = d.order_by_centre;
    order.resize(components);
    for (size_t p = 0; p < components; ++p) order[p] = by_centre[p].second;
    for (size_t p = 0; p < components; ++p) {
      const double x = d.mu[order[p]];
      const double left = p == 0 ? x - space.low : x - d.mu[order[p - 1]];
      const double right = p + 1 == components ? space.high - x : d.mu[order[p + 1]] - x;
      d.sigma[order[p]] = std::max(left, right);
      if (p > 0 && left == 0) d.repeated_centres = true;
    }
    if (!options_.consider_endpoints && components >= 2) {
      d.sigma[order.front()] = d.mu[order[1]] - d.mu[order.front()];
      d.sigma[order.back()] = d.mu[order.back()] - d.mu[order[components - 2]];
    }
  }
  // The magic clip keeps kernels from collapsing onto repeated values (integers, steps).
  const double min_sigma = options_.min_bandwidth > 0     ? options_.min_bandwidth * scale
                           : options_.consider_magic_clip ? scale / std::min(100.0, 1.0 + static_cast<double>(components))
                                                          : 1e-12;
  for (double& s : d.sigma) s = std::clamp(s, min_sigma, scale);
  d.sigma.back() = space.prior_sigma;
  d.bandwidths = d.sigma;
  precompute_kernel_constants(d);
  dimensions_.push_back(std::move(d));
}

void ParzenEstimator::precompute_kernel_constants(Dimension& d) {
  const size_t components = d.mu.size();
  d.inv_sigma.resize(components);
  d.log_sigma.resize(components);
  d.z_low.resize(components);
  d.z_high.resize(components);
  d.log_support_mass.resize(components);
  d.log_density_offset.resize(components);
  for (size_t k = 0; k < components; ++k) {
    d.inv_sigma[k] = 1.0 / d.sigma[k];
    d.log_sigma[k] = std::log(d.sigma[k]);
    d.z_low[k] = (d.space.low - d.mu[k]) * d.inv_sigma[k];
    d.z_high[k] = (d.space.high - d.mu[k]) * d.inv_sigma[k];
    d.log_support_mass[k] = log_normal_mass(d.z_low[k], d.z_high[k]);
    d.log_density_offset[k] =
        (options_.bandwidth_weighted_density ? 0.0 : -d.log_sigma[k]) - kLogSqrtTwoPi - d.log_support_mass[k];
  }
}

void ParzenEstimator::assign_mass_classes(Dimension& d) {
  const double steps = (d.space.high - d.space.low) / d.space.step;
  if (!std::isfinite(steps) || steps > 65536) return;  // unbounded or too fine: no grid
  const size_t grid = static_cast<size_t>(steps) + 2;
  std::vector<double> centre(grid, std::numeric_limits<double>::quiet_NaN()), width(grid);
  d.mass_class.assign(d.mu.size(), -1);
  for (size_t k = 0; k < d.mu.size(); ++k) {
    const double index = std::round((d.mu[k] - d.space.low) / d.space.step);
    if (!(index >= 0 && index < static_cast<double>(grid))) continue;
    const size_t slot = static_cast<size_t>(index);
    if (std::isnan(centre[slot])) centre[slot] = d.mu[k], width[slot] = d.sigma[k];
    if (centre[slot] == d.mu[k] && width[slot] == d.sigma[k]) d.mass_class[k] = static_cast<int>(slot);
  }
  d.mass_classes = grid;
}

void ParzenEstimator::set_weights(std::vector<double> log_weights) {
  log_weights_ = std::move(log_weights);
  cumulative_weights_.resize(log_weights_.size());
  double running = 0;
  for (size_t k = 0; k < log_weights_.size(); ++k) cumulative_weights_[k] = running += std::exp(log_weights_[k]);
}

// A one-dimensional mixture is a weighted sum of kernels, so kernels with the same centre
// and bandwidth (repeated integer or stepped values) can be one kernel with their summed
// weight: exact, and far fewer terms per density.
void ParzenEstimator::merge_identical_kernels() {
  Dimension& d = dimensions_[0];
  const size_t components = d.mu.size();
  // Within a run of equal centres (in sorted order) only a few bandwidths occur: the inner
  // kernels share the clipped one, the run's ends may differ.
  std::vector<double> mu, sigma, weight;
  size_t run_start = mu.size();
  for (size_t p = 0; p < components; ++p) {
    const int k = d.order_by_centre[p];
    const double w = std::exp(log_weights_[k]);
    if (mu.empty() || mu.back() != d.mu[k]) run_start = mu.size();
    size_t match = run_start;
    while (match < mu.size() && sigma[match] != d.sigma[k]) ++match;
    if (match < mu.size()) {
      weight[match] += w;
    } else {
      mu.push_back(d.mu[k]);
      sigma.push_back(d.sigma[k]);
      weight.push_back(w);
    }
  }
  d.mu = std::move(mu);
  d.sigma = std::move(sigma);
  precompute_kernel_constants(d);
  std::vector<double> log_weights;
  log_weights.reserve(weight.size());
  for (double w : weight) log_weights.push_back(std::log(w));
  set_weights(std::move(log_weights));
}

void ParzenEstimator::add_categorical_dimension(const KernelSpace& space, const std::vector<double>& observed) {
  if (space.num_choices < 1) throw std::invalid_argument("Parzen estimator: a choice needs at least one option");
  Dimension d;
  d.space = space;
  const size_t components = observed.size() + 1;
  const int choices = space.num_choices;
  // Each observation's kernel puts 1 on its own option plus prior_weight / components on
  // every option (Optuna's smoothing), normalised; the prior component is uniform.
  const double smoothing = options_.prior_weight / static_cast<double>(components);
  const double observed_total = 1.0 + smoothing * choices;
  d.log_prob.assign(static_cast<size_t>(choices) * components, 0.0);
  d.cumulative_prob.assign(static_cast<size_t>(choices) * components, 0.0);
  for (size_t k = 0; k < components; ++k) {
    const bool prior = k + 1 == components;
    const int own = prior ? -1 : static_cast<int>(std::clamp(std::round(observed[k]), 0.0, choices - 1.0));
    double running = 0;
    for (int c = 0; c < choices; ++c) {
      const double p = prior ? 1.0 / choices : (smoothing + (c == own ? 1.0 : 0.0)) / observed_total;
      d.log_prob[c * components + k] = std::log(p);
      d.cumulative_prob[k * choices + c] = running += p;
    }
  }
  dimensions_.push_back(std::move(d));
}

RawColumns ParzenEstimator::sample(Rng& rng, int count) const {
  RawColumns points(dimensions_.size(), std::vector<double>(std::max(count, 0)));
  const size_t components = log_weights_.size();
  for (int j = 0; j < count; ++j) {
    const double u = rng.uniform() * cumulative_weights_.back();
    const size_t k = std::min<size_t>(
        std::upper_bound(cumulative_weights_.begin(), cumulative_weights_.end(), u) - cumulative_weights_.begin(), components - 1);
    for (size_t dim = 0; dim < dimensions_.size(); ++dim) {
      const Dimension& d = dimensions_[dim];
      if (d.space.categorical) {
        const int choices = d.space.num_choices;
        const double* row = &d.cumulative_prob[k * choices];
        const double v = rng.uniform() * row[choices - 1];
        const int c = static_cast<int>(std::upper_bound(row, row + choices, v) - row);
        points[dim][j] = std::min(c, choices - 1);
      } else {
        double p = rng.uniform();
        if (p == 0) p = 0x1.0p-60;
        const double z = truncated_normal_quantile(p, d.z_low[k], d.z_high[k]);
        points[dim][j] = std::clamp(d.mu[k] + d.sigma[k] * z, d.space.low, d.space.high);
      }
    }
  }
  return points;
}

std::vector<double> ParzenEstimator::log_pdf(const RawColumns& points) const {
  if (points.size() != dimensions_.size())
    throw std::invalid_argument("Parzen estimator: points have " + std::to_string(points.size()) + " dimensions, the model " +
                                std::to_string(dimensions_.size()));
  const size_t count = points.empty() ? 0 : points[0].size();
  for (const auto& column : points)
    if (column.size() != count) throw std::invalid_argument("Parzen estimator: point columns differ in length");
  // Candidates of discrete parameters often repeat: evaluate each distinct point once.
  RawColumns unique(points.size());
  std::vector<size_t> unique_index(count);
  for (size_t j = 0; j < count; ++j) {
    size_t u = 0;
    const size_t known = unique.empty() ? 0 : unique[0].size();
    for (; u < known; ++u) {
      bool same = true;
      for (size_t dim = 0; dim < points.size() && same; ++dim) same = unique[dim][u] == points[dim][j];
      if (same) break;
    }
    if (u == known)
      for (size_t dim = 0; dim < points.size(); ++dim) unique[dim].push_back(points[dim][j]);
    unique_index[j] = u;
  }
  const std::vector<double> unique_result = unique_log_pdf(unique);
  std::vector<double> result(count);
  for (size_t j = 0; j < count; ++j) result[j] = unique_result[unique_index[j]];
  return result;
}

std::vector<double> ParzenEstimator::unique_log_pdf(const RawColumns& points) const {
  const size_t count = points.empty() ? 0 : points[0].size();
  std::vector<double> result(count);
  if (!single_choice_log_prob_.empty()) {
    const int choices = dimensions_[0].space.num_choices;
    for (size_t j = 0; j < count; ++j)
      result[j] = single_choice_log_prob_[static_cast<size_t>(std::clamp(std::round(points[0][j]), 0.0, choices - 1.0))];
    return result;
  }

  const size_t components = log_weights_.size();
  // A discrete value's exact mass under a kernel costs two erfc calls; a cheap upper bound,
  // min(1, width * the density's largest value on the interval), decides where it matters.
  struct Interval {
    const Dimension* d;
    double lo, hi, log_width;
    double* memo;  // log mass per mass class of the dimension, NaN until computed
    double log_bound(size_t k) const {
      const double za = (lo - d->mu[k]) * d->inv_sigma[k], zb = (hi - d->mu[k]) * d->inv_sigma[k];
      const double gap = za > 0 ? za : (zb < 0 ? -zb : 0.0);
      return std::min(log_width - d->log_sigma[k] - kLogSqrtTwoPi - 0.5 * gap * gap, 0.0);
    }
    double log_mass(size_t k) const {
      const int shared = d->mass_class.empty() ? -1 : d->mass_class[k];
      if (shared >= 0 && !std::isnan(memo[shared])) return memo[shared];
      const double za = (lo - d->mu[k]) * d->inv_sigma[k], zb = (hi - d->mu[k]) * d->inv_sigma[k];
      const double h = 0.5 * (zb - za), c = 0.5 * (za + zb);
      // log(2 h) = log(width / sigma), both logs known: the narrow series then costs no log.
      const double value = is_narrow(c, h) ? log_narrow_mass(c, h, log_width - d->log_sigma[k]) : log_normal_mass(za, zb);
      if (shared >= 0) memo[shared] = value;
      return value;
    }
  };
  std::vector<Interval> intervals;
  std::vector<std::vector<double>> memos(dimensions_.size());
  for (size_t dim = 0; dim < dimensions_.size(); ++dim) memos[dim].resize(dimensions_[dim].mass_classes);
  // row[k]: the log weight plus every dimension's log term under component k, exact for
  // continuous and categorical dimensions, the upper bound for discrete ones (whose sum is
  // kept in bound_sum, to be swapped for the exact masses where they matter).
  std::vector<double> row(components), bound_sum(components), exact_terms;
  for (size_t j = 0; j < count; ++j) {
    std::copy(log_weights_.begin(), log_weights_.end(), row.begin());
    std::fill(bound_sum.begin(), bound_sum.end(), 0.0);
    intervals.clear();
    bool outside = false;
    for (size_t dim = 0; dim < dimensions_.size() && !outside; ++dim) {
      const Dimension& d = dimensions_[dim];
      const double x = points[dim][j];
      if (d.space.categorical) {
        const size_t c = static_cast<size_t>(std::clamp(std::round(x), 0.0, d.space.num_choices - 1.0));
        const double* log_prob = &d.log_prob[c * components];
        for (size_t k = 0; k < components; ++k) row[k] += log_prob[k];
      } else if (d.space.step == 0) {
        const double v = std::clamp(x, d.space.low, d.space.high);
        for (size_t k = 0; k < components; ++k) {
          const double z = (v - d.mu[k]) * d.inv_sigma[k];
          row[k] += d.log_density_offset[k] - 0.5 * z * z;
        }
      } else {
        const double lo = std::max(x - 0.5 * d.space.step, d.space.low);
        const double hi = std::min(x + 0.5 * d.space.step, d.space.high);
        if (!(hi > lo)) {
          outside = true;
          break;
        }
        std::fill(memos[dim].begin(), memos[dim].end(), std::numeric_limits<double>::quiet_NaN());
        const Interval interval{&d, lo, hi, std::log(hi - lo), memos[dim].data()};
        for (size_t k = 0; k < components; ++k) {
          const double bound = interval.log_bound(k);
          row[k] += bound - d.log_support_mass[k];
          bound_sum[k] += bound;
        }
        intervals.push_back(interval);
      }
    }
    if (outside) {
      result[j] = -kInfinity;
    } else if (intervals.empty()) {
      result[j] = log_sum_exp(row.data(), components);
    } else {
      // The bound and the exact mass share the normalisation: swap one for the other.
      auto exact = [&](size_t k) {
        double term = row[k] - bound_sum[k];
        for (const Interval& interval : intervals) term += interval.log_mass(k);
        return term;
      };
      const size_t top = static_cast<size_t>(std::max_element(row.begin(), row.end()) - row.begin());
      if (row[top] == -kInfinity) {
        result[j] = -kInfinity;
        continue;
      }
      // A component whose bound lies the negligible gap below the top's exact term cannot matter.
      const double top_exact = exact(top);
      exact_terms.clear();
      exact_terms.push_back(top_exact);
      const double cutoff = top_exact - kNegligibleLogGap;
      for (size_t k = 0; k < components; ++k)
        if (k != top && row[k] > cutoff) exact_terms.push_back(exact(k));
      result[j] = log_sum_exp(exact_terms.data(), exact_terms.size());
    }
  }
  return result;
}

}  // namespace gpu_tune::search
