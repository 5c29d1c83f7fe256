#pragma once
// Everything that defines one candidate model's training run: a slot's hyperparameters.
#include <cstdint>
#include <optional>
#include <string>

#include "engine/learning_rate_schedule.h"
#include "engine/model_spec.h"
#include "kernels/optimizer_update.h"

namespace gpu_tune {

// Keras's EarlyStopping on validation loss: an epoch improves when its loss is below the
// best so far minus min_delta; training stops after `patience` epochs without improvement.
struct EarlyStoppingConfig {
  std::optional<int> patience;     // none: train all max_epochs
  double min_delta = 0.0;
  bool restore_best_weights = true;  // test metrics come from the best epoch's weights
};

struct TrainingConfig {
  std::string label;  // shown in output; defaults to the model and settings
  ModelSpec model = parse_model("mlp_small");
  kernels::OptimizerSettings optimizer;  // its learning rate is the schedule's base rate
  LearningRateSchedule schedule = LearningRateSchedule::kConstant;
  int batch_size = 64;
  float dropout = 0.0f;  // after every hidden activation
  uint64_t seed = 0;     // init, shuffling and dropout
  int max_epochs = 10;
  EarlyStoppingConfig early_stopping;

  // Throws std::invalid_argument naming the field, its value and the allowed range.
  void validate() const;
  std::string describe() const;
};

}  // namespace gpu_tune
