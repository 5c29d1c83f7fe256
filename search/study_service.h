#pragma once
// One study as a thread-safe service: workers (one per device, each in its own thread) ask
// it for trials and tell it their results. One sampler, one pruner and one storage
// connection serve every worker.
//
// Threads and locks: every call takes the one mutex, so the sampler, the pruner, the storage
// connection and the progress callback are only ever used by one thread at a time, and the
// budget check and the trial's creation happen together (no trial runs twice, the budget
// is met exactly). Training itself runs outside the lock; a worker holds it only to ask, to
// report a step and to finish a trial. Trials running anywhere are in the history the
// sampler sees, so TPE's constant liar keeps parallel workers off one point.
// should_stop() takes no lock.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "search/objective.h"
#include "search/pruner.h"
#include "search/sampler.h"
#include "search/space.h"
#include "search/storage.h"
#include "search/study_progress.h"

namespace gpu_tune::search {

class StudyService final : public TrialReporter {
 public:
  // event is one line such as "trial 7 complete: value 0.3123"; progress is after it. Called
  // under the service's lock, so from one thread at a time.
  using ProgressCallback = std::function<void(const StudyProgress& progress, const std::string& event)>;

  // pruner: null for none; otherwise it must outlive the service, as must the rest.
  StudyService(Storage& storage, StudyInfo study, const SearchSpace& space, Sampler& sampler, StudyBudget budget,
               ProgressCallback on_progress = {}, const Pruner* pruner = nullptr);

  // Also stop once `condition` is true (e.g. a signal arrived). It is called often and from
  // every worker, so it must be cheap and thread-safe. Set it before workers start.
  void set_stop_condition(std::function<bool()> condition) { stop_condition_ = std::move(condition); }
  // Stops the study: no more trials start, and workers stop their running ones.
  void request_stop() { stop_requested_.store(true); }

  // Marks the trials a stopped process left running as interrupted; returns how many. Call
  // once, before any worker asks.
  int recover_interrupted_trials();

  // The next trial, recorded as running on `device` in `slot`; nothing once the trial
  // budget or the time limit is spent or the study is stopping (and then never again).
  std::optional<TrialRequest> ask(const std::string& device, int slot);

  // Records the step, then asks the pruner (if any); false when the trial should stop.
  bool report(int64_t number, const StepRecord& step) override;
  void finish(int64_t number, const TrialOutcome& outcome) override;
  bool should_stop() const override;

  // Records every trial this service started that no worker finished as interrupted (its
  // worker stopped, or failed); returns how many. Call once every worker has returned.
  int interrupt_unfinished_trials();

  // Trials this service started that have not finished.
  int64_t in_flight() const;
  StudyProgress progress();
  const StudyInfo& study() const { return study_; }

 private:
  // Callers hold mutex_.
  StudyProgress progress_locked();
  void publish_locked(const std::string& event);

  Storage& storage_;
  const StudyInfo study_;
  const SearchSpace& space_;
  Sampler& sampler_;
  const StudyBudget budget_;
  const ProgressCallback on_progress_;
  const Pruner* const pruner_;
  const std::chrono::steady_clock::time_point started_;
  std::function<bool()> stop_condition_;
  std::atomic<bool> stop_requested_{false};

  mutable std::mutex mutex_;
  std::set<int64_t> in_flight_;                   // started here, not finished
  std::map<int64_t, std::string> prune_reasons_;  // trials told to stop, until they finish
  bool out_of_time_ = false;
};

}  // namespace gpu_tune::search
