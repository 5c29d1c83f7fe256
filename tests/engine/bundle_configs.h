#pragma once
// Slot configurations and comparisons that the bundle tests on every backend share.
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/bundle.h"
#include "engine/model_spec.h"
#include "engine/training_config.h"

namespace gpu_tune::testing {

// A model of 4x4 images and 3 classes for the synthetic data of synthetic_data.h.
inline TrainingConfig make_config(const char* hidden, int batch, float lr, kernels::OptimizerKind kind, float dropout,
                                  uint64_t seed, kernels::Activation activation = kernels::Activation::kRelu) {
  TrainingConfig c;
  c.model = parse_model(hidden, TensorShape{4, 4, 1}, 3);
  c.model.activation = activation;
  c.batch_size = batch;
  c.optimizer.kind = kind;
  c.optimizer.learning_rate = lr;
  c.optimizer.momentum = kind == kernels::OptimizerKind::kSgd ? 0.9f : 0.0f;
  c.optimizer.weight_decay = kind == kernels::OptimizerKind::kAdamW ? 1e-2f : 0.0f;
  c.dropout = dropout;
  c.seed = seed;
  return c;
}

// A config whose learning rate follows a cosine over `epochs` epochs: short, so that the
// tests' few dozen steps see the rate fall well below its base.
inline TrainingConfig with_cosine(TrainingConfig c, int epochs) {
  c.schedule = LearningRateSchedule::kCosine;
  c.max_epochs = epochs;
  return c;
}

// Different widths, depths, batch sizes (partial last batches included on a 157-image
// training split), optimizers, learning-rate schedules, activations and dropout rates;
// CNNs beside MLPs.
inline std::vector<TrainingConfig> varied_configs() {
  using kernels::Activation;
  using kernels::OptimizerKind;
  return {
      make_config("100", 32, 1e-3f, OptimizerKind::kAdam, 0.0f, 1),
      make_config("33-17", 7, 3e-3f, OptimizerKind::kAdamW, 0.2f, 2, Activation::kTanh),
      with_cosine(make_config("64-48-20", 50, 5e-2f, OptimizerKind::kSgd, 0.0f, 3), 8),
      make_config("5", 1, 1e-2f, OptimizerKind::kAdam, 0.1f, 4, Activation::kGelu),
      make_config("257-65", 64, 1e-3f, OptimizerKind::kAdam, 0.3f, 5),
      make_config("7-7-7-7", 13, 2e-3f, OptimizerKind::kAdamW, 0.0f, 6, Activation::kGelu),
      with_cosine(make_config("c5-p-12", 9, 3e-3f, OptimizerKind::kAdam, 0.2f, 7), 2),
      make_config("c3v-c4k1-p-7", 20, 2e-2f, OptimizerKind::kSgd, 0.0f, 8, Activation::kTanh),
  };
}

// Relative L2 difference of got from ref; infinite when got holds a non-finite value.
inline double relative_difference(const std::vector<float>& got, const std::vector<float>& ref) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    diff += (double(got[i]) - ref[i]) * (double(got[i]) - ref[i]);
    norm += double(ref[i]) * ref[i];
  }
  return std::sqrt(diff / std::max(norm, 1e-300));
}

struct TrainingRun {
  std::vector<std::vector<float>> parameters;
  std::vector<kernels::MetricSums> train_sums;
};

// Trains the varied configs for `steps`, then replaces slot 1 and slot 4 with new models
// and trains `steps` more.
inline TrainingRun train_with_refill(Backend& backend, const data::Dataset& dataset, int steps) {
  const std::vector<TrainingConfig> configs = varied_configs();
  Bundle bundle(backend, dataset, BundleOptions{.capacity = static_cast<int>(configs.size())});
  for (size_t i = 0; i < configs.size(); ++i) bundle.add(configs[i], i);
  for (int s = 0; s < steps; ++s) bundle.step();
  bundle.remove(1);
  bundle.remove(4);
  bundle.add(testing::make_config("40-9", 24, 4e-3f, kernels::OptimizerKind::kAdamW, 0.25f, 11), 6);
  bundle.add(testing::make_config("3", 100, 1e-1f, kernels::OptimizerKind::kSgd, 0.0f, 12), 7);
  for (int s = 0; s < steps; ++s) bundle.step();
  TrainingRun run;
  for (int slot : bundle.occupied_slots()) {
    run.parameters.push_back(bundle.parameters(slot));
    run.train_sums.push_back(bundle.take_train_sums(slot));
  }
  return run;
}

}  // namespace gpu_tune::testing
