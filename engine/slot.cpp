#include "engine/slot.h"

#include "engine/parameter_init.h"
#include "engine/random.h"

namespace gpu_tune {

namespace {
std::vector<float> zeros(size_t n) { return std::vector<float>(n, 0.0f); }
}  // namespace

Slot::Slot(Backend& backend, const TrainingConfig& cfg, uint64_t id, int64_t train_count, int eval_chunk_rows)
    : config(cfg), job_id(id) {
  const ModelSpec& model = config.model;
  const size_t n = static_cast<size_t>(model.storage_size());
  params = DeviceArray<float>(backend, n);
  grads = DeviceArray<float>(backend, n);
  first_moment = DeviceArray<float>(backend, n);
  second_moment = DeviceArray<float>(backend, n);
  best_params = DeviceArray<float>(backend, n);

  const size_t batch = static_cast<size_t>(config.batch_size);
  input = DeviceArray<float>(backend, batch * model.input_features());
  labels = DeviceArray<int32_t>(backend, batch);
  for (const Layer& layer : model.layers) {
    const size_t size = batch * static_cast<size_t>(layer.out.size());
    pre_activation.emplace_back(backend, layer.has_parameters() ? size : 0);
    output.emplace_back(backend, size);
    output_grad.emplace_back(backend, size);
    conv_workspace.emplace_back(
        backend, layer.kind == LayerKind::kConv
                     ? static_cast<size_t>(kernels::conv2d_weight_grad_workspace(layer.conv_geometry(), config.batch_size))
                     : 0);
  }

  eval_rows = eval_chunk_rows;
  const size_t largest = static_cast<size_t>(model.largest_activation());
  eval_input = DeviceArray<float>(backend, size_t(eval_rows) * model.input_features());
  eval_ping = DeviceArray<float>(backend, size_t(eval_rows) * largest);
  eval_pong = DeviceArray<float>(backend, size_t(eval_rows) * largest);
  eval_labels = DeviceArray<int32_t>(backend, eval_rows);
  epoch_order = DeviceArray<int32_t>(backend, train_count);
  train_sums = DeviceArray<kernels::MetricSums>(backend, 1);
  eval_sums = DeviceArray<kernels::MetricSums>(backend, 1);
  start_training(train_count);
}

size_t Slot::bytes_needed(const TrainingConfig& config, int64_t train_count, int eval_chunk_rows) {
  const ModelSpec& model = config.model;
  const size_t f = sizeof(float), i = sizeof(int32_t);
  const size_t batch = static_cast<size_t>(config.batch_size);
  const size_t eval_rows = static_cast<size_t>(eval_chunk_rows);
  // params, grads, both moments and best_params.
  size_t bytes = 5 * static_cast<size_t>(model.storage_size()) * f;
  bytes += batch * static_cast<size_t>(model.input_features()) * f + batch * i;  // input, labels
  for (const Layer& layer : model.layers) {
    const size_t size = batch * static_cast<size_t>(layer.out.size());
    bytes += (layer.has_parameters() ? size : 0) * f + 2 * size * f;  // pre_activation, output, output_grad
    if (layer.kind == LayerKind::kConv)
      bytes += static_cast<size_t>(kernels::conv2d_weight_grad_workspace(layer.conv_geometry(), config.batch_size)) * f;
  }
  bytes += eval_rows * static_cast<size_t>(model.input_features()) * f;           // eval_input
  bytes += 2 * eval_rows * static_cast<size_t>(model.largest_activation()) * f;   // eval_ping, eval_pong
  bytes += eval_rows * i + static_cast<size_t>(train_count) * i;                  // eval_labels, epoch_order
  bytes += 2 * sizeof(kernels::MetricSums);                                        // train_sums, eval_sums
  return bytes;
}

bool Slot::can_take(const TrainingConfig& other, int eval_chunk_rows) const {
  return other.model.input == config.model.input && other.model.layers == config.model.layers &&
         other.batch_size == config.batch_size && eval_chunk_rows == eval_rows;
}

void Slot::refill(const TrainingConfig& cfg, uint64_t id, int64_t train_count) {
  config = cfg;
  job_id = id;
  epochs_done = 0;
  steps = 0;
  start_training(train_count);
}

void Slot::start_training(int64_t train_count) {
  const size_t n = params.size();
  params.upload(initial_parameters(config.model, config.seed));
  first_moment.upload(zeros(n));
  second_moment.upload(zeros(n));
  grads.upload(zeros(n));
  const kernels::MetricSums empty;
  train_sums.upload({&empty, 1});
  shuffle_for_epoch(train_count);
}

void Slot::shuffle_for_epoch(int64_t train_count) {
  const uint64_t seed = derive_seed(config.seed, RandomPurpose::kShuffle, static_cast<uint64_t>(epochs_done));
  epoch_order.upload(random_permutation(static_cast<int32_t>(train_count), seed));
  position = 0;
}

float Slot::learning_rate(int64_t update, int64_t train_count) const {
  return scheduled_learning_rate(config.schedule, config.optimizer.learning_rate, update,
                                 planned_updates(train_count, config.batch_size, config.max_epochs));
}

}  // namespace gpu_tune
