#include "apps/engine_objective.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

#include <omp.h>  // per-thread thread counts for CPU workers

#include "apps/core_handover_check.h"
#include "apps/slot_spec.h"
#include "engine/model_file.h"
#include "kernels/cpu_parallel.h"

namespace gpu_tune::app {

TrainingConfig trial_training_config(const search::ParamMap& params, const EngineObjectiveOptions& options,
                                     int64_t trial_number) {
  TrainingConfig config;
  for (const auto& [key, value] : options.training_defaults) {
    try {
      apply_slot_setting(config, key, value);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("training default: ") + e.what());
    }
  }
  // Every trial gets its own initialisation and shuffles unless the space sets a seed.
  config.seed += static_cast<uint64_t>(trial_number);
  // A model built from parts: convN is the Nth convolution block's channels (a
  // convolution of `kernel` size, 3 by default, then 2x2 pooling), widthN the Nth hidden
  // dense layer's width.
  auto numbered = [](const std::string& name, std::string_view prefix) {
    return name.size() > prefix.size() && name.starts_with(prefix) &&
           std::isdigit(static_cast<unsigned char>(name[prefix.size()]));
  };
  auto is_part = [&](const std::string& name) { return numbered(name, "width") || numbered(name, "conv") || name == "kernel"; };
  const bool has_parts = std::any_of(params.begin(), params.end(), [&](const auto& p) { return is_part(p.first); });
  std::map<int, int> widths, channels;
  int kernel = 3;
  bool has_kernel = false;
  for (const auto& [name, value] : params) {
    // With parts given, `model` only names the branch that carries them (e.g. "custom").
    if (name == "model" && has_parts) continue;
    if (is_part(name)) {
      const double v = search::to_double(value);
      if (v < 1 || v != std::floor(v))
        throw std::invalid_argument("parameter " + name + " = " + search::to_string(value) + " is not a positive whole number");
      if (name == "kernel") {
        kernel = static_cast<int>(v);
        has_kernel = true;
      } else if (name.starts_with("width")) {
        widths[std::stoi(name.substr(5))] = static_cast<int>(v);
      } else {
        channels[std::stoi(name.substr(4))] = static_cast<int>(v);
      }
      continue;
    }
    try {
      apply_slot_setting(config, name, search::to_string(value));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("parameter " + name + ": " + e.what());
    }
  }
  if (has_kernel && channels.empty())
    throw std::invalid_argument("parameter kernel sets the convolutions' kernel, but the space has no conv1, conv2, ...");
  if (has_parts) {
    std::string text;
    for (const auto& [index, c] : channels)
      text += (text.empty() ? "" : "-") + std::string("c") + std::to_string(c) + "k" + std::to_string(kernel) + "-p";
    for (const auto& [index, w] : widths) text += (text.empty() ? "" : "-") + std::string("d") + std::to_string(w);
    if (widths.empty() && channels.empty()) text = config.model.name;
    try {
      apply_slot_setting(config, "model", text);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("parameters conv*/width*/kernel: ") + e.what());
    }
  }
  if (options.max_epochs_override) config.max_epochs = std::min(config.max_epochs, *options.max_epochs_override);
  config.validate();
  config.label = "trial " + std::to_string(trial_number) + ": " + config.describe();
  return config;
}

namespace {

// Saves a completed trial's model: the trial's result and its value.
using ModelSaver = std::function<void(const SlotResult& result, double value)>;

// Translates the trainer's events into the search's reports, and the device's changes of
// capacity into lines of the study's log (`device` names it there).
class ReportingObserver final : public TrainingObserver {
 public:
  // epoch_cap: the cap a reduced budget or --epochs put on every trial, recorded with each
  // so that trials of different caps in one study are told apart (`gpu_tune trials`).
  // save_model: null when no model is kept.
  ReportingObserver(search::TrialReporter& reporter, const std::string& metric, std::string device,
                    std::optional<int> epoch_cap, ModelSaver save_model)
      : reporter_(reporter),
        metric_(metric),
        device_(std::move(device)),
        epoch_cap_(epoch_cap),
        save_model_(std::move(save_model)) {}

  void on_capacity_reduced(int capacity, const std::string&) override {
    reporter_.note(device_ + ": out of memory adding a slot; this device now runs " + slots(capacity));
  }
  void on_capacity_restored(int capacity, const std::string&) override {
    // The trial that did not fit even alone has failed with its own message.
    reporter_.note(device_ + ": a trial that does not fit in memory even alone had cost slots; this device runs " +
                   slots(capacity) + " again");
  }

  bool on_epoch_end(const TrainingJob& job, const EpochMetrics& m) override {
    search::StepRecord step;
    step.step = m.epoch;
    step.value = metric_value(m.validation_loss, m.validation_accuracy);
    step.metrics = {{"train_loss", m.train_loss},           {"train_accuracy", m.train_accuracy},
                    {"validation_loss", m.validation_loss}, {"validation_accuracy", m.validation_accuracy},
                    {"seconds", m.seconds}};
    last_value_[job.id] = step.value;
    return reporter_.report(static_cast<int64_t>(job.id), step);
  }

  void on_slot_finished(const SlotResult& r) override {
    search::TrialOutcome outcome;
    outcome.metrics = {{"epochs", static_cast<double>(r.history.size())},
                       {"best_epoch", static_cast<double>(r.best_epoch)},
                       {"seconds", r.seconds}};
    if (epoch_cap_) outcome.metrics["epoch_cap"] = *epoch_cap_;
    if (r.outcome == SlotOutcome::kFailed) {
      outcome.state = search::TrialState::kFailed;
      outcome.error = r.error;
    } else {
      outcome.state = r.outcome == SlotOutcome::kStoppedByObserver ? search::TrialState::kPruned : search::TrialState::kComplete;
      outcome.value = outcome.state == search::TrialState::kPruned ? last_value_[r.job_id]
                                                                   : metric_value(r.best_validation_loss, r.best_validation_accuracy);
      outcome.metrics["best_validation_loss"] = r.best_validation_loss;
      outcome.metrics["best_validation_accuracy"] = r.best_validation_accuracy;
      if (outcome.state == search::TrialState::kComplete) {  // a pruned trial is not tested
        outcome.metrics["test_loss"] = r.test_loss;
        outcome.metrics["test_accuracy"] = r.test_accuracy;
        // Before the trial is recorded complete, so that a completed trial's model is there
        // to be found. A model that cannot be saved costs the trial nothing but the file.
        if (save_model_ && !r.parameters.empty()) {
          try {
            save_model_(r, *outcome.value);
          } catch (const std::exception& e) {
            reporter_.note("trial " + std::to_string(r.job_id) + ": its model was not saved: " + e.what());
          }
        }
      }
    }
    last_value_.erase(r.job_id);
    reporter_.finish(static_cast<int64_t>(r.job_id), outcome);
  }

 private:
  double metric_value(double loss, double accuracy) const { return metric_ == "validation_accuracy" ? accuracy : loss; }
  static std::string slots(int n) { return std::to_string(n) + (n == 1 ? " slot" : " slots"); }
  search::TrialReporter& reporter_;
  std::string metric_;
  std::string device_;
  std::optional<int> epoch_cap_;
  ModelSaver save_model_;
  std::map<uint64_t, double> last_value_;
};

}  // namespace

EngineObjective::EngineObjective(Backend& backend, const data::Dataset& dataset, EngineObjectiveOptions options)
    : backend_(backend), dataset_(dataset), options_(std::move(options)) {
  if (options_.metric != "validation_loss" && options_.metric != "validation_accuracy")
    throw std::invalid_argument("metric '" + options_.metric + "' is not validation_loss or validation_accuracy");
}

void EngineObjective::run(const std::function<std::optional<search::TrialRequest>(int slot)>& next_trial,
                          search::TrialReporter& reporter) {
  if (options_.cpu_threads) {
    omp_set_num_threads(*options_.cpu_threads);
    // Our threads split the work; a threaded BLAS inside each worker would oversubscribe.
    kernels::use_single_threaded_blas();
  }
  TrainerOptions trainer_options;
  trainer_options.bundle.capacity = options_.capacity;
  trainer_options.bundle.standardize = options_.standardize;
  trainer_options.refill = options_.refill;
  // Between bundle steps: a stopping study leaves its running trials to be recorded as
  // interrupted.
  trainer_options.stop_requested = [&reporter] { return reporter.should_stop(); };
  // Once this returns (no more trials, the study stops, or an error), this worker's cores
  // go to the others.
  struct LeaveShare {
    CpuCoreShare* share;
    int index;
    ~LeaveShare() {
      if (share) share->leave(index);
    }
  } const leave_share{options_.core_share.get(), options_.core_share_index};
  int threads_now = options_.cpu_threads.value_or(0);
  // Starts on the worker's own share: only cores handed over later are checked.
  CoreHandoverCheck handover(options_.core_share ? options_.core_share->threads_for(options_.core_share_index) : 1);
  if (options_.core_share) {
    trainer_options.before_step = [this, &threads_now, &handover] {
      const double now = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
      const int threads = handover.before_step(now, options_.core_share->threads_for(options_.core_share_index));
      if (threads != threads_now) omp_set_num_threads(threads);
      threads_now = threads;
    };
  }
  // Every tested trial's weights are read back when models are kept, not only those of
  // trials that will rank among the best k: a trial's rank is known only once its value is,
  // and the read is one copy of a model of at most a few million floats, against epochs of
  // training.
  trainer_options.keep_parameters = options_.model_keeper != nullptr;
  Trainer trainer(backend_, dataset_, trainer_options);
  ModelSaver save_model;
  if (options_.model_keeper) {
    save_model = [this, &trainer](const SlotResult& r, double value) {
      ModelOrigin origin;
      origin.trial = static_cast<int64_t>(r.job_id);
      origin.dataset = dataset_.name;
      origin.device = device();
      origin.metric = options_.metric;
      origin.value = value;
      origin.best_epoch = r.best_epoch;
      origin.test_accuracy = r.test_accuracy;
      origin.test_loss = r.test_loss;
      origin.test_count = dataset_.test.count;
      origin.description = r.config.describe();
      SavedModel model = saved_model_from(r.config, r.parameters, trainer.bundle().input_normalization(),
                                          options_.standardize, std::move(origin));
      model.precision = options_.precision;
      options_.model_keeper->offer(std::move(model));
    };
  }
  ReportingObserver observer(reporter, options_.metric, device(), options_.max_epochs_override, std::move(save_model));
  trainer.run(
      [&](int slot) -> std::optional<TrainingJob> {
        // A trial whose parameters make no valid model fails on its own; the study goes on.
        for (;;) {
          std::optional<search::TrialRequest> request = next_trial(slot);
          if (!request) return std::nullopt;
          try {
            return TrainingJob{static_cast<uint64_t>(request->number),
                               trial_training_config(request->params, options_, request->number)};
          } catch (const std::invalid_argument& e) {
            reporter.finish(request->number, {search::TrialState::kFailed, std::nullopt, {}, e.what()});
          }
        }
      },
      observer);
}

}  // namespace gpu_tune::app
