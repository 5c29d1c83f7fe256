#pragma once
// Shared by the kernel tests: seeded data, comparisons that can never pass on NaN, and a
// scoped OpenMP thread count.
#include <omp.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <ostream>
#include <vector>

#include "kernels/activation.h"

namespace gpu_tune::kernels {

// Found by GoogleTest through argument-dependent lookup, so parameterised tests print
// "gelu" instead of the enum's raw bytes.
inline void PrintTo(Activation activation, std::ostream* os) { *os << activation_name(activation); }

}  // namespace gpu_tune::kernels

namespace gpu_tune::kernels::test {

// Every test seeds its own generator with a constant, so a failure reproduces exactly.
using Rng = std::mt19937_64;

// Magnitudes in [lo, hi] with a random sign. Zeros are excluded on purpose: a zero input
// hides a skipped term, a forgotten scale factor or a read of the wrong element.
inline std::vector<float> random_nonzero(std::size_t n, Rng& rng, float lo = 0.1f, float hi = 1.0f) {
  std::uniform_real_distribution<float> magnitude(lo, hi);
  std::bernoulli_distribution negative(0.5);
  std::vector<float> values(n);
  for (float& v : values) v = negative(rng) ? -magnitude(rng) : magnitude(rng);
  return values;
}

inline std::vector<float> random_uniform(std::size_t n, Rng& rng, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

inline float quiet_nan() { return std::numeric_limits<float>::quiet_NaN(); }

// ||got - ref||_2 / ||ref||_2, or the absolute norm when ref is all zeros. Any non-finite
// value in got yields infinity, so an element left as NaN poison always fails.
inline double relative_l2_error(std::span<const float> got, std::span<const double> ref) {
  if (got.size() != ref.size()) return std::numeric_limits<double>::infinity();
  double diff = 0.0, norm = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return std::numeric_limits<double>::infinity();
    const double d = static_cast<double>(got[i]) - ref[i];
    diff += d * d;
    norm += ref[i] * ref[i];
  }
  return norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

// Bit patterns, not values: NaN payloads and the sign of zero count, as they would for
// a checksum of model weights.
inline bool bitwise_equal(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Lets a 2-core machine run the kernels with many more pieces than cores, which is where
// splitting mistakes (wrong offsets, overlapping ranges) show up.
class ScopedThreadCount {
 public:
  explicit ScopedThreadCount(int threads) : saved_(omp_get_max_threads()) { omp_set_num_threads(threads); }
  ~ScopedThreadCount() { omp_set_num_threads(saved_); }
  ScopedThreadCount(const ScopedThreadCount&) = delete;
  ScopedThreadCount& operator=(const ScopedThreadCount&) = delete;

 private:
  int saved_;
};

}  // namespace gpu_tune::kernels::test
