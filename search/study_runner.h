#pragma once
// Runs a study: asks the sampler for a trial whenever the objective has a free slot,
// records every state change in storage the moment it happens, and stops asking when the
// budget (trials, time) is spent. Resuming a study continues it: trials left running by
// a process that died are marked failed (interrupted) and do not count against the budget.
// With a pruner, every intermediate value is put to it; a trial it stops is recorded as
// pruned by its objective and counts against the budget like a complete one.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "search/objective.h"
#include "search/pruner.h"
#include "search/sampler.h"
#include "search/space.h"
#include "search/storage.h"

namespace gpu_tune::search {

// The error recorded for trials whose process stopped while they ran.
inline constexpr const char* kInterruptedError = "interrupted: the process running this trial stopped";

struct StudyBudget {
  int64_t trials = 64;
  std::optional<double> time_limit_seconds;  // no new trials start after this
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

class StudyRunner final : public TrialReporter {
 public:
  // event is one line such as "trial 7 complete: value 0.3123"; progress is after it.
  using ProgressCallback = std::function<void(const StudyProgress& progress, const std::string& event)>;

  // pruner: null for none (every trial runs to its own end); otherwise it must outlive run().
  StudyRunner(Storage& storage, StudyInfo study, const SearchSpace& space, Sampler& sampler, StudyBudget budget,
              ProgressCallback on_progress = {}, const Pruner* pruner = nullptr);

  // Runs until the budget is spent and every started trial has finished. Returns the
  // final progress.
  StudyProgress run(Objective& objective);

  // Records the step, then asks the pruner (if any); false when the trial should stop.
  bool report(int64_t number, const StepRecord& step) override;
  void finish(int64_t number, const TrialOutcome& outcome) override;

 private:
  std::optional<TrialRequest> next_trial(int slot, const std::string& device);
  void publish(const std::string& event);

  Storage& storage_;
  StudyInfo study_;
  const SearchSpace& space_;
  Sampler& sampler_;
  StudyBudget budget_;
  ProgressCallback on_progress_;
  const Pruner* pruner_;
  std::map<int64_t, std::string> prune_reasons_;  // trials told to stop, until they finish
  std::chrono::steady_clock::time_point started_;
  int64_t started_this_run_ = 0;
  bool out_of_time_ = false;
};

}  // namespace gpu_tune::search
