#pragma once
// The engine as a search objective: each trial is one slot of a bundle. Trial parameters
// are slot settings by name (lr, batch, model, dropout, optimizer, ...; see slot_spec.h),
// plus width1, width2, ... which replace the model's hidden widths (a `model` parameter
// then only names the branch that carries them).
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "apps/model_keeper.h"
#include "engine/backend.h"
#include "engine/data/dataset.h"
#include "apps/cpu_core_share.h"
#include "engine/trainer.h"
#include "search/objective.h"

namespace gpu_tune::app {

struct EngineObjectiveOptions {
  int capacity = 8;
  bool standardize = false;
  std::string metric = "validation_loss";  // or validation_accuracy: the trial's value at its best epoch
  std::vector<std::pair<std::string, std::string>> training_defaults;  // slot settings
  std::optional<int> max_epochs_override;  // a reduced budget caps every trial's epochs
  std::string device_label;                 // recorded with each trial, e.g. "cuda:1"; default: the backend's name
  // CPU threads for this worker's kernels, set in the thread that runs it (OpenMP's thread
  // count is per thread, so workers of one process can differ); none: OpenMP's default.
  std::optional<int> cpu_threads;
  // CPU workers of one study: the cores they share, and this worker's place among them. When
  // set, the worker's threads follow threads_for(core_share_index) before every step, and
  // it leaves the share once it has no more trials.
  std::shared_ptr<CpuCoreShare> core_share;
  int core_share_index = 0;
  RefillStrategy refill = RefillStrategy::kContinuous;  // --refill: waves only for comparison benchmarks
  // Where completed trials' models go (the study's `models:`); null: none is kept, and no
  // trial's weights are read back. Shared by every worker of the study.
  std::shared_ptr<ModelKeeper> model_keeper;
  std::string precision = "fp32";  // --precision, recorded with each model so evaluate computes alike
};

// The training configuration of a trial; throws std::invalid_argument naming the
// parameter and the problem.
TrainingConfig trial_training_config(const search::ParamMap& params, const EngineObjectiveOptions& options,
                                     int64_t trial_number);

class EngineObjective final : public search::Objective {
 public:
  EngineObjective(Backend& backend, const data::Dataset& dataset, EngineObjectiveOptions options);
  int capacity() const override { return options_.capacity; }
  std::string device() const override { return options_.device_label.empty() ? backend_.name() : options_.device_label; }
  void run(const std::function<std::optional<search::TrialRequest>(int slot)>& next_trial,
           search::TrialReporter& reporter) override;

 private:
  Backend& backend_;
  const data::Dataset& dataset_;
  EngineObjectiveOptions options_;
};

}  // namespace gpu_tune::app
