#pragma once
// The samplers' random numbers: std::mt19937_64, whose output the standard fixes bit for
// bit, with our own conversions (the standard distributions are implementation-defined),
// so a seed gives the same suggestions on every platform.
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>

namespace gpu_tune::search {

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  // A stream for one (seed, trial) pair: a resumed study redraws the same numbers.
  Rng(uint64_t seed, uint64_t stream) : engine_(seed ^ (stream * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL)) {}

  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  uint64_t below(uint64_t bound) { return bound == 0 ? 0 : engine_() % bound; }
  double normal() {
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace gpu_tune::search
