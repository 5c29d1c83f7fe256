#pragma once
// Runs a study: asks the sampler for a trial whenever an objective has a free slot,
// records every state change in storage the moment it happens, and stops asking when the
// budget (trials, time) is spent. Resuming a study continues it: trials left running by
// a process that died are marked failed (interrupted) and do not count against the budget.
// With a pruner, every intermediate value is put to it; a trial it stops is recorded as
// pruned by its objective and counts against the budget like a complete one.
//
// With several objectives (workers, one per device) each runs in its own thread, all
// asking one StudyService; with one, it runs in the calling thread, exactly as a
// single-device study always has (the same seed gives the same trials).
#include <functional>
#include <string>
#include <vector>

#include "search/objective.h"
#include "search/pruner.h"
#include "search/sampler.h"
#include "search/space.h"
#include "search/storage.h"
#include "search/study_progress.h"
#include "search/study_service.h"

namespace gpu_tune::search {

class StudyRunner final : public TrialReporter {
 public:
  using ProgressCallback = StudyService::ProgressCallback;

  // pruner: null for none (every trial runs to its own end); otherwise it must outlive run().
  // The storage is the runner's while it lives (StudyService): read the trials through
  // trials(), not from the storage.
  StudyRunner(Storage& storage, StudyInfo study, const SearchSpace& space, Sampler& sampler, StudyBudget budget,
              ProgressCallback on_progress = {}, const Pruner* pruner = nullptr);

  // Stop once `condition` is true (e.g. a signal arrived): no trial starts after it, the
  // running ones stop at their next step and are recorded as interrupted, and run()
  // returns. Cheap and thread-safe, as every worker asks it after every step.
  void set_stop_condition(std::function<bool()> condition) { service_.set_stop_condition(std::move(condition)); }
  // Trial ownership across workers (StudyService::set_heartbeat, set_retry_interrupted).
  void set_heartbeat(std::chrono::duration<double> interval, std::chrono::duration<double> grace) {
    service_.set_heartbeat(interval, grace);
  }
  void set_retry_interrupted(int max_retries) { service_.set_retry_interrupted(max_retries); }
  // Every event as data too (StudyService::set_event_listener).
  void set_event_listener(StudyService::EventListener listener) { service_.set_event_listener(std::move(listener)); }

  // Runs until the budget is spent and every started trial has finished, or until the stop
  // condition holds. Returns the final progress. If an objective throws, the others are
  // stopped, the unfinished trials are recorded as interrupted, and the first error is
  // rethrown.
  StudyProgress run(Objective& objective);
  StudyProgress run(const std::vector<Objective*>& workers);

  // Whether the last run() ended because the stop condition held (not the budget).
  bool stopped() const { return stopped_; }
  // The study's trials as the last run() left them (StudyService::trials).
  std::vector<TrialRecord> trials() const { return service_.trials(); }

  bool report(int64_t number, const StepRecord& step) override { return service_.report(number, step); }
  void finish(int64_t number, const TrialOutcome& outcome) override { service_.finish(number, outcome); }
  bool should_stop() const override { return service_.should_stop(); }
  void note(const std::string& event) override { service_.note(event); }

 private:
  void run_worker(Objective& objective);

  StudyService service_;
  bool stopped_ = false;
};

}  // namespace gpu_tune::search
