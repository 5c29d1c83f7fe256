#pragma once
// Order statistics for benchmark reports: the machines are shared and noisy, so figures
// are medians and quantiles, never means.
#include <algorithm>
#include <cstddef>
#include <vector>

namespace gpu_tune::benchmarks {

// Linear interpolation between closest ranks; q in [0, 1]. v must not be empty.
inline double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double position = q * static_cast<double>(v.size() - 1);
  const size_t below = static_cast<size_t>(position);
  const size_t above = std::min(below + 1, v.size() - 1);
  return v[below] + (v[above] - v[below]) * (position - static_cast<double>(below));
}

inline double median(std::vector<double> v) { return quantile(std::move(v), 0.5); }

}  // namespace gpu_tune::benchmarks
