#pragma once
// The median stopping rule (Optuna's MedianPruner): at a pruning check, a trial whose best
// value so far is worse than the median of the complete trials' values at the same step is
// stopped. Steps are compared as numbers (the engine's are epochs, from 1).
#include <cstdint>
#include <string>

#include "search/pruner.h"

namespace gpu_tune::search {

struct MedianPrunerOptions {
  int startup_trials = 5;      // no pruning until this many trials of the study are complete
  int64_t warmup_steps = 0;    // no pruning at a step below this
  int64_t interval_steps = 1;  // checks at steps warmup_steps, warmup_steps + interval_steps, ...
  int min_trials = 1;          // no pruning at a step fewer complete trials reported a value at
};

class MedianPruner final : public Pruner {
 public:
  // Throws std::invalid_argument for a negative count or an interval below 1.
  explicit MedianPruner(MedianPrunerOptions options);
  std::string name() const override { return "median"; }
  PruneDecision decide(const PruningContext& context, const TrialRecord& trial) const override;

 private:
  MedianPrunerOptions options_;
};

}  // namespace gpu_tune::search
