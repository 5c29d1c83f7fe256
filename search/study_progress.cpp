#include "search/study_progress.h"

#include <cmath>

namespace gpu_tune::search {

StudyProgress summarize(const std::vector<TrialRecord>& trials, Direction direction) {
  StudyProgress p;
  for (const TrialRecord& t : trials) {
    switch (t.state) {
      case TrialState::kComplete: ++p.complete; break;
      case TrialState::kPruned: ++p.pruned; break;
      case TrialState::kFailed:
        ++p.failed;
        if (t.error == kInterruptedError) ++p.interrupted;
        break;
      case TrialState::kRunning: ++p.running; break;
      case TrialState::kWaiting: break;
    }
    if (t.state == TrialState::kComplete && t.value && std::isfinite(*t.value)) {
      const bool better = !p.best_value || (direction == Direction::kMinimize ? *t.value < *p.best_value
                                                                               : *t.value > *p.best_value);
      if (better) {
        p.best_value = t.value;
        p.best_trial = t.number;
      }
    }
  }
  return p;
}

}  // namespace gpu_tune::search
