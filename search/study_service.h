#pragma once
// One study as a thread-safe service: workers (one per device, each in its own thread) ask
// it for trials and tell it their results. One sampler, one pruner and one storage
// connection serve every worker.
//
// What a worker's thread waits for, and what it does not:
// - The study's history is kept in memory (StudyHistory), updated by the service's own
//   writes; storage is read again only when another process changed the study. Asking for a
//   trial or a pruning decision reads no storage.
// - Steps, attributes and outcomes are committed by a writer thread (StorageWriter), many in
//   one commit; only a new trial's row is written at once, as its number comes from storage.
// - With set_prepared_suggestions(K), K suggestions are sampled ahead on a sampler thread
//   (SuggestionQueue), so a freed slot does not wait for TPE.
//
// Locks: every call takes the one mutex, so the budget check and the trial's creation
// happen together (no trial runs twice, the budget is met exactly). Training runs outside
// it; so does the wait for a suggestion still being sampled. Trials running anywhere, and
// suggestions about to run, are in the history the sampler sees, so TPE's constant liar
// keeps parallel workers off one point. should_stop() takes no lock.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "search/objective.h"
#include "search/pruner.h"
#include "search/sampler.h"
#include "search/space.h"
#include "search/storage.h"
#include "search/storage_writer.h"
#include "search/study_event.h"
#include "search/study_history.h"
#include "search/study_progress.h"
#include "search/suggestion_queue.h"

namespace gpu_tune::search {

class StudyService final : public TrialReporter {
 public:
  // event is one line such as "trial 7 complete: value 0.3123"; progress is after it. Called
  // from one thread at a time. A trial's end is told only once its result is committed
  // (from the storage writer's thread), so what was told finished is never lost.
  using ProgressCallback = std::function<void(const StudyProgress& progress, const std::string& event)>;

  // pruner: null for none; otherwise it must outlive the service, as must the rest. Reads
  // the study's trials from storage. The storage is the service's while it lives: its
  // heartbeat and writer threads use it at any moment, and a storage connection serves one
  // thread at a time, so nobody else may use that storage object meanwhile (read the
  // trials through trials()).
  StudyService(Storage& storage, StudyInfo study, const SearchSpace& space, Sampler& sampler, StudyBudget budget,
               ProgressCallback on_progress = {}, const Pruner* pruner = nullptr);
  ~StudyService() override;  // commits what is queued

  // Also stop once `condition` is true (e.g. a signal arrived). It is called often and from
  // every worker, so it must be cheap and thread-safe. Set it before workers start.
  void set_stop_condition(std::function<bool()> condition) { stop_condition_ = std::move(condition); }
  // Also tell `listener` every event as data (StudyEvent), with the progress after it. Called
  // from one thread at a time, as on_progress is. Set it before workers start.
  using EventListener = std::function<void(const StudyEvent& event, const StudyProgress& progress)>;
  void set_event_listener(EventListener listener) { event_listener_ = std::move(listener); }
    // Keep `count` suggestions sampled ahead (0, the default: sample when asked, knowing every
  // result so far; right for one trial at a time). Set it before workers start.
  void set_prepared_suggestions(int count);
  // Stops the study: no more trials start, and workers stop their running ones.
  void request_stop() { stop_requested_.store(true); }

  // Marks the trials a stopped worker left running as interrupted; returns how many. Call
  // once, before any worker asks. A trial counts as left when its worker is this storage
  // object, a process on this host that no longer exists, or silent for the grace period;
  // the live trials of other gpu_tune processes on the study are left alone.
  int recover_interrupted_trials();

  // While this service's trials run, their heartbeat is refreshed every `interval`, and
  // other workers' trials whose heartbeat is older than `grace` are marked interrupted (so
  // a worker that died on another node frees its trials). Defaults: 10 s and 60 s. Set them
  // before workers start.
  void set_heartbeat(std::chrono::duration<double> interval, std::chrono::duration<double> grace);
  // A trial marked interrupted because its worker stopped is run again, as a new trial with
  // the same parameters that any worker takes before sampling (attributes retry_of, the
  // trial it repeats, and retries, how many times these parameters were retried), at most
  // `max_retries` times (Optuna's RetryFailedTrialCallback). 0, the default: never.
  void set_retry_interrupted(int max_retries) { max_retries_ = std::max(max_retries, 0); }

  // The next trial, recorded as running on `device` in `slot`; nothing once the trial
  // budget or the time limit is spent, the target is reached or the study is stopping (and
  // then never again).
  std::optional<TrialRequest> ask(const std::string& device, int slot);

  // Records the step, then asks the pruner (if any); false when the trial should stop.
  bool report(int64_t number, const StepRecord& step) override;
  void finish(int64_t number, const TrialOutcome& outcome) override;
  bool should_stop() const override;
  void note(const std::string& event) override;

  // Records every trial this service started that no worker finished as interrupted (its
  // worker stopped, or failed); returns how many. Call once every worker has returned.
  int interrupt_unfinished_trials();
  // Returns once every change so far is committed; throws a storage error that came up.
  void flush();

  // Trials this service started that have not finished.
  int64_t in_flight() const;
  StudyProgress progress();
  // The study's trials as this service knows them: its own as written, the others' as of its
  // last read (the one progress() counts).
  std::vector<TrialRecord> trials() const;
  const StudyInfo& study() const { return study_; }

 private:
  // Callers hold mutex_.
  // Reads the study again if another writer changed it. Without `wait`, skipped while a
  // commit is under way (the next call looks again).
  void refresh_locked(bool wait = true);
  // Reads into the history what changed in storage since the last such read (at first, every
  // trial).
  void read_changes_locked();
  bool may_start_locked(const StudyProgress& progress);
  void prepare_locked();
  StudyProgress progress_locked();
  void publish_locked(const std::string& event);
  // Tells the event listener, if any.
  void emit_locked(const StudyEvent& event);
  // Records a trial's end (storage and history) and tells `text` and `event` once the
  // storage has committed it.
  void finish_locked(int64_t number, const TrialOutcome& outcome, std::string text, StudyEvent event);
  // A line about the study: published as text and told as a kNote event.
  void publish_note_locked(const std::string& text);

  void heartbeat_loop();
  void fail_stale(const std::function<bool(const std::string& worker)>& is_dead);
  // Enqueues the retries of these trials (stale, just marked interrupted) that may run
  // again; `before` holds their records from before they were marked. Caller holds mutex_.
  void retry_locked(const std::vector<TrialRecord>& before);

  const StudyInfo study_;
  const SearchSpace& space_;
  Sampler& sampler_;
  const StudyBudget budget_;
  const ProgressCallback on_progress_;
  const Pruner* const pruner_;
  const std::chrono::steady_clock::time_point started_;
  std::function<bool()> stop_condition_;
  EventListener event_listener_;
  int max_retries_ = 0;
  std::atomic<bool> stop_requested_{false};

  mutable std::mutex mutex_;
  std::mutex tell_mutex_;  // one listener call at a time; taken after mutex_, or alone
  StorageWriter writer_;   // after what its commit callbacks use
  std::string worker_id_;  // the storage's, read once
  StudyHistory history_;
  uint64_t others_version_ = 0;                   // of the history as read
  std::unique_ptr<SuggestionQueue> suggestions_;  // null: sampled when asked
  int prepared_ = 0;                              // suggestions to keep ready
  int64_t reserved_ = 0;                          // budget taken by asks waiting for a suggestion
  std::set<int64_t> in_flight_;                   // started here, not finished
  std::map<int64_t, std::string> prune_reasons_;  // trials told to stop, until they finish
  std::optional<std::string> closed_;             // why no more trials start, once that is so

  // The heartbeat thread's; guarded by beat_mutex_.
  std::mutex beat_mutex_;
  std::condition_variable beat_wake_;
  bool beat_stopping_ = false;
  std::chrono::duration<double> beat_interval_{10.0}, grace_{60.0};
  std::thread beat_thread_;  // last: started once the rest exists
};

}  // namespace gpu_tune::search
