#pragma once
// One model in training inside a bundle: its configuration, its buffers in the backend's
// memory, and its own place in its own shuffled pass over the training data.
#include <cstdint>
#include <vector>

#include "engine/backend.h"
#include "engine/training_config.h"
#include "kernels/softmax_cross_entropy.h"

namespace gpu_tune {

struct Slot {
  // Allocates every buffer; on an allocation failure (OutOfDeviceMemory) those already
  // taken go back as the exception leaves, so a failed construction holds nothing.
  Slot(Backend& backend, const TrainingConfig& config, uint64_t job_id, int64_t train_count, int eval_chunk_rows);

  // The bytes the constructor asks the backend for with these arguments, exactly (the
  // backend may round each up): for sizing a bundle to a device's free memory before any
  // slot exists. Keep it in step with the constructor; a test compares the two.
  static size_t bytes_needed(const TrainingConfig& config, int64_t train_count, int eval_chunk_rows);

  // Whether this slot's memory fits another model: the same layers and batch size, so
  // refill can reuse every buffer (and a captured step keeps its pointers).
  bool can_take(const TrainingConfig& other, int eval_chunk_rows) const;
  // Starts training another model in this slot's memory; can_take must hold.
  void refill(const TrainingConfig& config, uint64_t job_id, int64_t train_count);

  // Draws this epoch's order of the training images and uploads it.
  void shuffle_for_epoch(int64_t train_count);
  int64_t rows_this_step(int64_t train_count) const { return std::min<int64_t>(config.batch_size, train_count - position); }
  // The learning rate of update `update` (0-based) under the config's schedule, over the
  // updates its max_epochs make on `train_count` images.
  float learning_rate(int64_t update, int64_t train_count) const;

  TrainingConfig config;
  uint64_t job_id;

  // Flat per-slot vectors: parameters (layer after layer, W then bias), their gradients,
  // optimizer state, and the best epoch's parameters for restore_best_weights.
  DeviceArray<float> params, grads, first_moment, second_moment, best_params;
  // Training buffers for one minibatch: the gathered input and labels, and per layer the
  // pre-activation z (layers with parameters), the output after activation and dropout,
  // the gradient of that output, and a convolution's weight-gradient workspace.
  DeviceArray<float> input;
  DeviceArray<int32_t> labels;
  std::vector<DeviceArray<float>> pre_activation, output, output_grad, conv_workspace;
  // Evaluation buffers: one chunk of eval_rows images, and two ping-pong layer buffers.
  int eval_rows = 0;
  DeviceArray<float> eval_input, eval_ping, eval_pong;
  DeviceArray<int32_t> eval_labels;
  DeviceArray<int32_t> epoch_order;
  DeviceArray<kernels::MetricSums> train_sums, eval_sums;

  int epochs_done = 0;
  int64_t position = 0;  // images of the current epoch already trained on
  int64_t steps = 0;     // optimizer updates so far

 private:
  void start_training(int64_t train_count);  // fresh parameters, optimizer state and order
};

}  // namespace gpu_tune
