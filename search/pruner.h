#pragma once
// A pruner decides, each time a running trial reports an intermediate value (an epoch's
// validation loss, say), whether to stop that trial now: Optuna's pruners. Like a sampler
// it reads the history handed to it and never touches storage; what it wants kept with
// the trial (successive halving's rung values) it returns, and the study runner stores it
// before the next decision, so the next call sees it in the history.
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "search/trial.h"

namespace gpu_tune::search {

// What a pruner sees of the study.
struct PruningContext {
  std::string_view study_name;  // Hyperband hashes it with the trial number
  Direction direction = Direction::kMinimize;
  // Every trial of the study as stored, the one being decided included (its steps end with
  // the value just reported).
  std::span<const TrialRecord> trials;
};

struct PruneDecision {
  bool prune = false;
  std::string reason;  // when pruned: why, for the study's log, e.g. "0.52 is worse than the median 0.41"
  // To merge into the trial's attributes, whatever the decision (a pruned trial's rung value
  // still counts against later trials).
  std::map<std::string, double> attributes;
};

class Pruner {
 public:
  virtual ~Pruner() = default;
  virtual std::string name() const = 0;
  // `trial` is the running trial, as it appears in context.trials. Given the same context,
  // the same decision: a pruner keeps no state between calls, so a resumed study prunes
  // exactly as an uninterrupted one would.
  virtual PruneDecision decide(const PruningContext& context, const TrialRecord& trial) const = 0;
};

// The largest step a trial has reported, if any (steps are kept in step order).
inline const StepRecord* last_step(const TrialRecord& trial) { return trial.steps.empty() ? nullptr : &trial.steps.back(); }

// a is strictly better than b in the study's direction; false when either is NaN.
inline bool is_better(double a, double b, Direction direction) {
  return direction == Direction::kMinimize ? a < b : a > b;
}

}  // namespace gpu_tune::search
