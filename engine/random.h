#pragma once
// Host-side randomness with results fixed by the seed alone (no implementation-defined
// standard distributions), so a slot's initial weights and shuffles are reproducible
// everywhere.
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "kernels/dropout.h"

namespace gpu_tune {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return kernels::mix64(state_);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  uint64_t below(uint64_t bound) {  // [0, bound), multiply-high mapping
    __extension__ typedef unsigned __int128 uint128;
    return static_cast<uint64_t>((static_cast<uint128>(next()) * bound) >> 64);
  }
  double normal() {  // Box-Muller
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  uint64_t state_;
};

// Independent streams for one slot's separate uses of its seed.
enum class RandomPurpose : uint64_t { kInit = 1, kShuffle = 2, kDropout = 3 };

inline uint64_t derive_seed(uint64_t seed, RandomPurpose purpose, uint64_t index = 0) {
  return kernels::mix64(kernels::mix64(seed + static_cast<uint64_t>(purpose) * 0xd1b54a32d192ed03ULL) + index);
}

// A uniformly random permutation of 0..n-1 (Fisher-Yates).
inline std::vector<int32_t> random_permutation(int32_t n, uint64_t seed) {
  std::vector<int32_t> order(n);
  for (int32_t i = 0; i < n; ++i) order[i] = i;
  SplitMix64 rng(seed);
  for (int32_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(uint64_t(i) + 1)]);
  return order;
}

}  // namespace gpu_tune
