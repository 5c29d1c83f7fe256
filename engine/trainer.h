#pragma once
// The training loop over a bundle: fills free slots from a source of jobs, steps the
// bundle, and at each slot's epoch end computes its metrics, validates, applies early
// stopping and the observer's decision, and finishes the slot with its test metrics.
// A freed slot is refilled at once, so the bundle stays full while jobs remain (or, for
// comparison benchmarks, the bundle is refilled in waves: see RefillStrategy).
//
// A job whose model cannot be placed fails alone: the others go on. When the device runs
// out of memory placing it beside other slots, that is the device's limit, not the job's
// fault: the bundle runs as many slots as it held then, and the job waits for the next
// slot that frees.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/backend.h"
#include "engine/bundle.h"
#include "engine/data/dataset.h"
#include "engine/early_stopping.h"
#include "engine/training_config.h"

namespace gpu_tune {

struct EpochMetrics {
  int epoch = 0;  // from 1
  double train_loss = 0, train_accuracy = 0;
  double validation_loss = 0, validation_accuracy = 0;
  double seconds = 0;  // wall time of this epoch for this slot, validation included
  double learning_rate = 0;  // of the epoch's last update (the schedule's, else the base rate)
};

enum class SlotOutcome { kCompleted, kEarlyStopped, kStoppedByObserver, kFailed };
std::string_view outcome_name(SlotOutcome outcome);

struct SlotResult {
  uint64_t job_id = 0;
  TrainingConfig config;
  int slot = -1;  // where it ran; -1 for a job that never started (its model could not be placed)
  SlotOutcome outcome = SlotOutcome::kCompleted;
  std::string error;  // why it failed
  std::vector<EpochMetrics> history;
  int best_epoch = 0;  // 0 when no epoch finished
  double best_validation_loss = 0, best_validation_accuracy = 0;
  // Of the weights kept (the best epoch's when restored); NaN when stopped by the observer
  // (pruned: not tested) or failed.
  double test_loss = 0, test_accuracy = 0;
  // The weights the test metrics were measured with, in Bundle::parameters' layout, when
  // TrainerOptions::keep_parameters asks for them and the slot was tested; else empty.
  std::vector<float> parameters;
  double seconds = 0;
};

struct TrainingJob {
  uint64_t id = 0;
  TrainingConfig config;
};

class TrainingObserver {
 public:
  virtual ~TrainingObserver() = default;
  virtual void on_slot_started(const TrainingJob& job, int slot) {}
  // Return false to stop this slot now (a pruner's decision).
  virtual bool on_epoch_end(const TrainingJob& job, const EpochMetrics& metrics) { return true; }
  // Every job ends here, including one that failed before it started (no on_slot_started;
  // result.slot is -1).
  virtual void on_slot_finished(const SlotResult& result) {}
  // The device ran out of memory adding a slot beside the others: the bundle now runs at
  // most `capacity` slots. Once per reduction; `why` is the allocation's error.
  virtual void on_capacity_reduced(int capacity, const std::string& why) {}
  // The job that caused the reductions did not fit even alone, so they were its fault,
  // not the device's: the bundle runs up to `capacity` slots again. `why` says which job.
  virtual void on_capacity_restored(int capacity, const std::string& why) {}
};

// When freed slots take new jobs.
enum class RefillStrategy {
  kContinuous,  // at once: the bundle stays full while jobs remain (the default; fastest)
  kWaves,       // only once every slot is free, then all of them: static waves, the
                // baseline that continuous refill is measured against in benchmarks
};
std::optional<RefillStrategy> parse_refill_strategy(std::string_view text);  // "continuous", "waves"

struct TrainerOptions {
  BundleOptions bundle;
  // Steps between checks for a non-finite training loss (each check reads the per-slot
  // sums back to the host). Epoch ends are always checked.
  int divergence_check_interval = 32;
  // Asked before every bundle step; once true, run() returns at once, leaving the running
  // slots unfinished (no on_slot_finished): the caller records them as interrupted.
  std::function<bool()> stop_requested = {};
  // Called before every bundle step (for example to give the step the CPU cores that
  // other workers have left).
  std::function<void()> before_step = {};
  RefillStrategy refill = RefillStrategy::kContinuous;
  // Hand each tested slot's weights back in SlotResult::parameters (for saving the model):
  // read while the slot still holds them, since a finished slot is refilled at once.
  bool keep_parameters = false;
};

class Trainer {
 public:
  Trainer(Backend& backend, const data::Dataset& dataset, TrainerOptions options);

  // Runs until next_job returns nothing and every slot has finished. next_job(slot) is
  // asked whenever `slot` is free (with kWaves: when every slot is); the job it returns
  // goes there, unless the device's memory is full: the job then waits, and starts in the
  // next slot that frees, before next_job is asked again.
  void run(const std::function<std::optional<TrainingJob>(int slot)>& next_job, TrainingObserver& observer);
  // Trains all configs (job ids 0..n-1), at most the bundle's capacity at once; results in order.
  std::vector<SlotResult> train_all(const std::vector<TrainingConfig>& configs, TrainingObserver* observer = nullptr);

  const Bundle& bundle() const { return bundle_; }

 private:
  // What the trainer tracks for one occupied slot.
  struct Running {
    TrainingJob job;
    SlotResult result;
    EarlyStopping early_stopping;
    std::chrono::steady_clock::time_point started, epoch_started;
    kernels::MetricSums epoch_train_sums;  // read back so far this epoch
    std::optional<SlotOutcome> finishing;
  };
  // Starts jobs in free slots while the refill strategy allows: the waiting job first;
  // jobs_left turns false once next_job has nothing more.
  void fill(const std::function<std::optional<TrainingJob>(int slot)>& next_job, TrainingObserver& observer,
            bool& jobs_left);
  void start(const TrainingJob& job, TrainingObserver& observer);
  void out_of_memory(const TrainingJob& job, const OutOfDeviceMemory& error, TrainingObserver& observer);
  void fail_unstarted(const TrainingJob& job, const std::string& why, TrainingObserver& observer);
  void end_epochs(const std::vector<int>& slots, TrainingObserver& observer);
  void check_divergence(TrainingObserver& observer);
  void finish(std::vector<int> slots, TrainingObserver& observer);
  void fail(int slot, const std::string& why, TrainingObserver& observer);

  Bundle bundle_;
  TrainerOptions options_;
  std::vector<std::optional<Running>> running_;  // per slot
  // The job that did not fit beside the running ones; it goes first into the next free slot.
  std::optional<TrainingJob> waiting_;
  // The usable capacity before waiting_ first reduced it: given back should that job not
  // fit even alone.
  std::optional<int> capacity_before_waiting_;
};

}  // namespace gpu_tune
