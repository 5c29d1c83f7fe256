#pragma once
// Learning curves for the pruners' tests: trials built from a list of values at steps 1, 2,
// ... (epochs), and a study that plays curves one trial after another through a pruner the
// way the study runner does (decide after every step, keep the decision's attributes, stop
// at a prune).
#include <cstdint>
#include <string>
#include <vector>

#include "search/pruner.h"
#include "search/trial.h"

namespace gpu_tune::testing {

// A trial whose values at steps 1, 2, ... are `curve`; a finished one keeps its last value.
inline search::TrialRecord trial_with_curve(int64_t number, search::TrialState state, const std::vector<double>& curve) {
  search::TrialRecord trial;
  trial.number = number;
  trial.state = state;
  for (size_t i = 0; i < curve.size(); ++i) trial.steps.push_back({static_cast<int64_t>(i + 1), curve[i], {}});
  if (search::is_finished(state) && !curve.empty()) trial.value = curve.back();
  return trial;
}

class SequentialStudy {
 public:
  SequentialStudy(const search::Pruner& pruner, search::Direction direction, std::string name = "study")
      : pruner_(pruner), direction_(direction), name_(std::move(name)) {}

  // Runs the next trial over `curve`: returns the step it was pruned at, or 0 if it completed.
  int64_t run(const std::vector<double>& curve) {
    trials_.push_back(trial_with_curve(static_cast<int64_t>(trials_.size()), search::TrialState::kRunning, {}));
    for (size_t i = 0; i < curve.size(); ++i) {
      search::TrialRecord& trial = trials_.back();
      trial.steps.push_back({static_cast<int64_t>(i + 1), curve[i], {}});
      const search::PruneDecision decision = pruner_.decide({name_, direction_, trials_}, trial);
      for (const auto& [key, value] : decision.attributes) trial.attributes[key] = value;
      if (decision.prune) {
        trial.state = search::TrialState::kPruned;
        trial.value = curve[i];
        return static_cast<int64_t>(i + 1);
      }
    }
    trials_.back().state = search::TrialState::kComplete;
    if (!curve.empty()) trials_.back().value = curve.back();
    return 0;
  }

  const std::vector<search::TrialRecord>& trials() const { return trials_; }

 private:
  const search::Pruner& pruner_;
  search::Direction direction_;
  std::string name_;
  std::vector<search::TrialRecord> trials_;
};

}  // namespace gpu_tune::testing
