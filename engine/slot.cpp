#include "engine/slot.h"

#include "engine/parameter_init.h"
#include "engine/random.h"

namespace gpu_tune {

namespace {
std::vector<float> zeros(size_t n) { return std::vector<float>(n, 0.0f); }
}  // namespace

Slot::Slot(Backend& backend, const TrainingConfig& cfg, uint64_t id, int64_t train_count, int eval_rows)
    : config(cfg), job_id(id) {
  const ModelSpec& model = config.model;
  const size_t n = static_cast<size_t>(model.storage_size());
  params = DeviceArray<float>(backend, n);
  grads = DeviceArray<float>(backend, n);
  first_moment = DeviceArray<float>(backend, n);
  second_moment = DeviceArray<float>(backend, n);
  best_params = DeviceArray<float>(backend, n);
  params.upload(initial_parameters(model, config.seed));
  first_moment.upload(zeros(n));
  second_moment.upload(zeros(n));
  grads.upload(zeros(n));

  const size_t batch = static_cast<size_t>(config.batch_size);
  input = DeviceArray<float>(backend, batch * model.inputs);
  labels = DeviceArray<int32_t>(backend, batch);
  for (int layer = 0; layer < model.layer_count(); ++layer) {
    const size_t width = static_cast<size_t>(model.layer_outputs(layer));
    pre_activation.emplace_back(backend, batch * width);
    output.emplace_back(backend, batch * width);
    output_grad.emplace_back(backend, batch * width);
  }

  int widest_output = model.outputs;
  for (int w : model.hidden) widest_output = std::max(widest_output, w);
  eval_input = DeviceArray<float>(backend, size_t(eval_rows) * model.inputs);
  eval_ping = DeviceArray<float>(backend, size_t(eval_rows) * widest_output);
  eval_pong = DeviceArray<float>(backend, size_t(eval_rows) * widest_output);
  eval_labels = DeviceArray<int32_t>(backend, eval_rows);
  epoch_order = DeviceArray<int32_t>(backend, train_count);
  train_sums = DeviceArray<kernels::MetricSums>(backend, 1);
  eval_sums = DeviceArray<kernels::MetricSums>(backend, 1);
  const kernels::MetricSums empty;
  train_sums.upload({&empty, 1});
  shuffle_for_epoch(train_count);
}

void Slot::shuffle_for_epoch(int64_t train_count) {
  const uint64_t seed = derive_seed(config.seed, RandomPurpose::kShuffle, static_cast<uint64_t>(epochs_done));
  epoch_order.upload(random_permutation(static_cast<int32_t>(train_count), seed));
  position = 0;
}

}  // namespace gpu_tune
