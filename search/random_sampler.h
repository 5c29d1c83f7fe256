#pragma once
// The baseline: every parameter drawn from its own prior, ignoring history. It is also what
// TPE does for its first trials, and the yardstick any smarter sampler must beat.
#include <cstdint>
#include <span>
#include <string>

#include "search/sampler.h"

namespace gpu_tune::search {

class RandomSampler final : public Sampler {
 public:
  explicit RandomSampler(uint64_t seed) : seed_(seed) {}
  std::string name() const override { return "random"; }
  // Draws from Rng(seed, trial_number), so a trial's parameters depend only on the seed and
  // its number: a resumed or parallel study gets the same trials as a sequential one.
  ParamMap sample(const SearchSpace& space, std::span<const TrialRecord> history, Direction direction,
                  int64_t trial_number) override;

 private:
  uint64_t seed_;
};

}  // namespace gpu_tune::search
