#pragma once
// A study's budget and how far it has got, counted the same way wherever it is shown or
// enforced (the runner, the service, `gpu_tune status`).
#include <cstdint>
#include <optional>
#include <vector>

#include "search/trial.h"

namespace gpu_tune::search {

// The error recorded for trials whose process stopped while they ran (killed, or stopped by
// Ctrl-C). They do not count against the budget: a resume runs them again.
inline constexpr const char* kInterruptedError = "interrupted: the process running this trial stopped";

struct StudyBudget {
  StudyBudget(int64_t trials = 64, std::optional<double> time_limit_seconds = std::nullopt,
              std::optional<double> target = std::nullopt)
      : trials(trials), time_limit_seconds(time_limit_seconds), target(target) {}
  int64_t trials = 64;
  std::optional<double> time_limit_seconds;  // no new trials start after this
  std::optional<double> target;              // no new trials start once the best value reaches it
};

struct StudyProgress {
  int64_t budget = 0;
  int64_t complete = 0, pruned = 0, failed = 0, running = 0;
  int64_t interrupted = 0;  // failed by a stopped process; not counted against the budget
  std::optional<double> best_value;
  int64_t best_trial = -1;
  double elapsed_seconds = 0;
  int64_t done() const { return complete + pruned + failed - interrupted; }
};

// Counts a study's trials the way the budget does.
StudyProgress summarize(const std::vector<TrialRecord>& trials, Direction direction);

}  // namespace gpu_tune::search
