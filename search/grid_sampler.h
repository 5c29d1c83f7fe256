#pragma once
// Exhaustive search: every combination of every parameter's values, over the conditional
// tree (a branch's parameters combine only with their own option). Integer and q
// distributions give each of their values; a plain continuous one gives evenly spaced
// points (log-spaced for log kinds). Unbounded normal-family distributions cannot be
// enumerated and are refused.
#include <cstdint>
#include <span>
#include <string>

#include "search/sampler.h"

namespace gpu_tune::search {

class GridSampler final : public Sampler {
 public:
  // points_per_continuous: values of each plain continuous parameter, at least 1.
  GridSampler(uint64_t seed, int points_per_continuous = 5);
  std::string name() const override { return "grid"; }

  // The grid is visited in a seed-determined order: trial n takes the point at position
  // n mod grid_size, unless a trial in `history` already has it, in which case it takes the
  // next position no trial holds. So sequential, resumed and parallel studies all cover the
  // grid without repeats before every point has been tried once.
  ParamMap sample(const SearchSpace& space, std::span<const TrialRecord> history, Direction direction,
                  int64_t trial_number) override;

  // How many points the grid over `space` has. Throws std::invalid_argument naming the
  // parameter for an unbounded distribution or one with more than 10000 values.
  static int64_t grid_size(const SearchSpace& space, int points);

 private:
  uint64_t seed_;
  int points_;
};

}  // namespace gpu_tune::search
