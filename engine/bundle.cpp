#include "engine/bundle.h"

#include <algorithm>
#include <atomic>
#include <numeric>
#include <stdexcept>
#include <string>

#include "engine/random.h"

namespace gpu_tune {

using kernels::BiasActivationBackward;
using kernels::BiasActivationForward;
using kernels::Conv2dBackwardData;
using kernels::Conv2dBackwardWeight;
using kernels::Conv2dForward;
using kernels::GemmProblem;
using kernels::MaxPoolBackward;
using kernels::MaxPoolForward;

// The buffers one slot uses for one forward pass: training (a minibatch, dropout on,
// everything kept for the backward pass) or evaluation (a chunk, ping-pong buffers).
struct Bundle::ForwardPass {
  Slot* slot = nullptr;
  int rows = 0;                            // the bound when dynamic_rows is set
  const int32_t* dynamic_rows = nullptr;   // training: the step's rows, read at run time
  const int32_t* dynamic_epilogue_rows = nullptr;  // training: StepValues::epilogue_rows
  const float* input = nullptr;
  std::vector<float*> pre_activation;  // per layer
  std::vector<float*> output;          // per layer; the last layer's holds the logits
  const uint64_t* dropout_base = nullptr;  // training with dropout: the step's dropout base
};

Bundle::Bundle(Backend& backend, const data::Dataset& dataset, BundleOptions options)
    : backend_(backend), options_(options) {
  if (options.capacity < 1) throw std::invalid_argument("bundle capacity must be at least 1, got " + std::to_string(options.capacity));
  if (options.eval_rows < 1) throw std::invalid_argument("evaluation chunk must be at least 1 row");
  features_ = dataset.train.features();
  image_rows_ = dataset.train.rows;
  image_cols_ = dataset.train.cols;
  classes_ = dataset.classes;
  if (options.normalization) {
    normalization_ = *options.normalization;
  } else if (options.standardize) {
    normalization_.scale = 1.0f / (255.0f * dataset.pixel_std);
    normalization_.shift = -dataset.pixel_mean / dataset.pixel_std;
  }
  upload_split(train_, dataset.train);
  upload_split(validation_, dataset.validation);
  upload_split(test_, dataset.test);
  std::vector<int32_t> identity(options.eval_rows);
  std::iota(identity.begin(), identity.end(), 0);
  identity_order_ = DeviceArray<int32_t>(backend, identity.size());
  identity_order_.upload(identity);
  slots_.resize(options.capacity);
  retired_.resize(options.capacity);
  usable_capacity_ = options.capacity;
  replays_ = backend.replays_steps();
  step_values_ = DeviceArray<StepValues>(backend, options.capacity);
  host_step_values_.resize(options.capacity);
}

void Bundle::upload_split(DeviceSplit& split, const data::ImageSet& set) {
  split.count = set.count;
  split.images = DeviceArray<uint8_t>(backend_, std::max<size_t>(set.images.size(), 1));
  split.labels = DeviceArray<uint8_t>(backend_, std::max<size_t>(set.labels.size(), 1));
  split.images.upload(set.images);
  split.labels.upload(set.labels);
}

const Bundle::DeviceSplit& Bundle::device_split(Split split) const {
  switch (split) {
    case Split::kTrain: return train_;
    case Split::kValidation: return validation_;
    case Split::kTest: return test_;
  }
  return test_;
}

std::vector<int> Bundle::occupied_slots() const {
  std::vector<int> occupied;
  for (int i = 0; i < capacity(); ++i)
    if (slots_[i]) occupied.push_back(i);
  return occupied;
}

bool Bundle::has_free_slot() const { return first_free_slot() >= 0; }

int Bundle::occupied_count() const {
  return static_cast<int>(std::count_if(slots_.begin(), slots_.end(), [](const auto& s) { return s != nullptr; }));
}

// A free slot that keeps memory first: the refill may reuse it (same shape), and under a
// capacity limit the slots kept are the ones refilled.
int Bundle::first_free_slot() const {
  if (occupied_count() >= usable_capacity_) return -1;
  int first = -1;
  for (int i = 0; i < capacity(); ++i) {
    if (slots_[i]) continue;
    if (retired_[i]) return i;
    if (first < 0) first = i;
  }
  return first;
}

void Bundle::limit_capacity(int slots) {
  if (slots < 1 || slots > capacity())
    throw std::invalid_argument("a bundle of " + std::to_string(capacity()) + " slots cannot be limited to " +
                                std::to_string(slots));
  usable_capacity_ = slots;
  release_unneeded_retired();
}

void Bundle::release_unneeded_retired() {
  if (usable_capacity_ == capacity()) return;  // every free slot may be refilled: keep all
  int refills = std::max(usable_capacity_ - occupied_count(), 0);
  for (int i = 0; i < capacity(); ++i) {
    if (slots_[i] || !retired_[i]) continue;
    if (refills > 0) {
      refills -= 1;  // first_free_slot picks this one first
    } else {
      retired_[i].reset();
    }
  }
}

int Bundle::eval_chunk_rows(const BundleOptions& options, const ModelSpec& model) {
  const int64_t fitting_rows = std::max<int64_t>(1, options.eval_buffer_floats / model.largest_activation());
  return static_cast<int>(std::min<int64_t>(options.eval_rows, fitting_rows));
}

int Bundle::add(const TrainingConfig& config, uint64_t job_id) {
  config.validate();
  const ModelSpec& model = config.model;
  if (model.input_features() != features_)
    throw std::invalid_argument("model " + model.describe() + " takes " + std::to_string(model.input_features()) +
                                " inputs but the dataset's images have " + std::to_string(features_) + " pixels");
  if (model.is_spatial() && (model.input.height != image_rows_ || model.input.width != image_cols_))
    throw std::invalid_argument("model " + model.describe() + " takes " + model.input.describe() +
                                " images but the dataset's are " + std::to_string(image_rows_) + "x" +
                                std::to_string(image_cols_) + "x1");
  if (model.outputs() != classes_)
    throw std::invalid_argument("model " + model.describe() + " has " + std::to_string(model.outputs()) +
                                " outputs but the dataset has " + std::to_string(classes_) + " classes");
  if (train_.count < 1) throw std::invalid_argument("the training split is empty");
  const int slot = first_free_slot();
  if (slot < 0) throw std::length_error("bundle is full (" + std::to_string(usable_capacity_) + " slots)");
  const int eval_rows = eval_chunk_rows(options_, model);
  // A refill with a model of the same shape reuses the memory of the slot's last model:
  // no allocation, and the same pointers for a captured step to be updated in place.
  std::unique_ptr<Slot>& retired = retired_[slot];
  if (retired && retired->can_take(config, eval_rows)) {
    retired->refill(config, job_id, train_.count);
    slots_[slot] = std::move(retired);
  } else {
    retired.reset();  // its memory goes back before the new model's is taken
    // Built aside and placed only once whole: a constructor that throws has released what
    // it took, and the slot stays free.
    std::unique_ptr<Slot> built;
    try {
      built = std::make_unique<Slot>(backend_, config, job_id, train_.count, eval_rows);
    } catch (const OutOfDeviceMemory&) {
      // Memory kept for refills of other free slots must not be what makes a model fail to
      // fit: release it and try once more, so that out of memory means "not beside the
      // occupied slots".
      bool released = false;
      for (std::unique_ptr<Slot>& kept : retired_) {
        released = released || kept != nullptr;
        kept.reset();
      }
      if (!released) throw;
      built = std::make_unique<Slot>(backend_, config, job_id, train_.count, eval_rows);
    }
    slots_[slot] = std::move(built);
  }
  renew_step_key();
  return slot;
}

void Bundle::remove(int slot) {
  retired_.at(slot) = std::move(slots_.at(slot));
  release_unneeded_retired();
  renew_step_key();
}

void Bundle::renew_step_key() {
  static std::atomic<uint64_t> next_key{1};
  step_key_ = next_key.fetch_add(1, std::memory_order_relaxed);
}

int Bundle::step_bound(const Slot& slot) const {
  return static_cast<int>(replays_ ? std::min<int64_t>(slot.config.batch_size, train_.count)
                                   : slot.rows_this_step(train_.count));
}

// One layer's epilogue: bias, activation and (hidden dense layers) dropout.
BiasActivationForward Bundle::forward_epilogue(const ForwardPass& p, int layer) const {
  const Slot& s = *p.slot;
  const ModelSpec& m = s.config.model;
  const Layer& l = m.layer(layer);
  const bool last = layer == m.layer_count() - 1;
  BiasActivationForward e;
  e.rows = static_cast<int>(p.rows * l.epilogue_rows_per_image());
  e.dynamic_rows = p.dynamic_epilogue_rows != nullptr ? p.dynamic_epilogue_rows + layer : nullptr;
  e.cols = l.weight_columns();
  e.z = p.pre_activation[layer];
  e.bias = s.params.data() + m.bias_offset(layer);
  e.out = p.output[layer];
  e.activation = last ? kernels::Activation::kIdentity : m.activation;
  if (p.dropout_base != nullptr && !last && l.kind == LayerKind::kDense && s.config.dropout > 0) {
    e.dropout.rate = s.config.dropout;
    e.dropout.dynamic_base = p.dropout_base;
    e.dropout.layer = static_cast<uint32_t>(layer);
  }
  return e;
}

// One layer's epilogue backward: the gradient through activation and dropout (the
// forward pass's mask, drawn again), and the bias gradient.
BiasActivationBackward Bundle::backward_epilogue(const ForwardPass& p, int layer) const {
  const Slot& s = *p.slot;
  const ModelSpec& m = s.config.model;
  const Layer& l = m.layer(layer);
  const bool last = layer == m.layer_count() - 1;
  BiasActivationBackward e;
  e.rows = static_cast<int>(p.rows * l.epilogue_rows_per_image());
  e.dynamic_rows = p.dynamic_epilogue_rows + layer;
  e.cols = l.weight_columns();
  e.grad = s.output_grad[layer].data();
  e.z = s.pre_activation[layer].data();
  e.activation = last ? kernels::Activation::kIdentity : m.activation;
  if (!last && l.kind == LayerKind::kDense && s.config.dropout > 0) {
    e.dropout.rate = s.config.dropout;
    e.dropout.dynamic_base = p.dropout_base;
    e.dropout.layer = static_cast<uint32_t>(layer);
  }
  e.bias_grad = s.grads.data() + m.bias_offset(layer);
  return e;
}

void Bundle::run_forward(std::span<const ForwardPass> passes) {
  int deepest = 0;
  for (const ForwardPass& p : passes) deepest = std::max(deepest, p.slot->config.model.layer_count());
  std::vector<GemmProblem> gemms;
  std::vector<Conv2dForward> convolutions;
  std::vector<MaxPoolForward> pools;
  std::vector<BiasActivationForward> epilogues;
  // Layer by layer: one call of each kind for every slot that has a layer of that kind at
  // this depth, then one fused epilogue for all of them.
  for (int layer = 0; layer < deepest; ++layer) {
    gemms.clear();
    convolutions.clear();
    pools.clear();
    epilogues.clear();
    for (const ForwardPass& p : passes) {
      const Slot& s = *p.slot;
      const ModelSpec& m = s.config.model;
      if (layer >= m.layer_count()) continue;
      const Layer& l = m.layer(layer);
      const float* in = layer == 0 ? p.input : p.output[layer - 1];
      const float* weights = s.params.data() + m.weight_offset(layer);
      switch (l.kind) {
        case LayerKind::kDense: {
          GemmProblem g;
          g.m = p.rows;
          g.dynamic_m = gemm_rows(p.dynamic_rows);
          g.n = l.weight_columns();
          g.k = static_cast<int>(l.weight_rows());
          g.a = in;
          g.lda = g.k;
          g.b = weights;
          g.ldb = g.n;
          g.c = p.pre_activation[layer];
          g.ldc = g.n;
          gemms.push_back(g);
          break;
        }
        case LayerKind::kConv: {
          Conv2dForward c;
          c.images = p.rows;
          c.dynamic_images = gemm_rows(p.dynamic_rows);
          c.geometry = l.conv_geometry();
          c.input = in;
          c.weights = weights;
          c.output = p.pre_activation[layer];
          convolutions.push_back(c);
          break;
        }
        case LayerKind::kMaxPool: {
          MaxPoolForward pool;
          pool.images = p.rows;
          pool.dynamic_images = p.dynamic_rows;
          pool.geometry = l.pool_geometry();
          pool.input = in;
          pool.output = p.output[layer];
          pools.push_back(pool);
          break;
        }
      }
      if (l.has_parameters()) epilogues.push_back(forward_epilogue(p, layer));
    }
    if (!convolutions.empty()) backend_.conv2d_forward(convolutions);
    if (!gemms.empty()) backend_.grouped_gemm(gemms);
    if (!epilogues.empty()) backend_.bias_activation_forward(epilogues);
    if (!pools.empty()) backend_.max_pool_forward(pools);
  }
}

std::vector<int> Bundle::step() {
  const std::vector<int> active = occupied_slots();
  if (active.empty()) return {};

  for (int index : active) {
    const Slot& s = *slots_[index];
    StepValues& v = host_step_values_[index];
    v.rows = static_cast<int32_t>(s.rows_this_step(train_.count));
    const ModelSpec& model = s.config.model;
    for (int layer = 0; layer < model.layer_count(); ++layer)
      v.epilogue_rows[layer] = static_cast<int32_t>(v.rows * model.layer(layer).epilogue_rows_per_image());
    v.inverse_rows = 1.0f / static_cast<float>(v.rows);
    v.position = s.position;
    v.dropout_base = kernels::dropout_base(derive_seed(s.config.seed, RandomPurpose::kDropout),
                                           static_cast<uint64_t>(s.steps));
    v.optimizer = kernels::optimizer_step_constants(s.config.optimizer, s.steps + 1, s.learning_rate(s.steps, train_.count));
  }
  backend_.stage_to_device(step_values_.data(), host_step_values_.data(), step_values_.bytes());
  // Without replay every step is issued afresh, so the key does not matter.
  backend_.issue_step(step_key_, [&] { issue_training_step(active); });

  std::vector<int> epoch_ended;
  for (int index : active) {
    Slot& s = *slots_[index];
    s.steps += 1;
    s.position += host_step_values_[index].rows;
    if (s.position >= train_.count) {
      s.epochs_done += 1;
      s.shuffle_for_epoch(train_.count);
      epoch_ended.push_back(index);
    }
  }
  return epoch_ended;
}

void Bundle::issue_training_step(std::span<const int> active) {
  std::vector<kernels::GatherProblem> gathers;
  std::vector<ForwardPass> passes;
  std::vector<const StepValues*> step_values;  // per pass; backend memory, never read here
  for (int index : active) {
    Slot& s = *slots_[index];
    const StepValues* values = step_values_.data() + index;
    step_values.push_back(values);
    kernels::GatherProblem g;
    g.rows = step_bound(s);
    g.dynamic_rows = &values->rows;
    g.features = features_;
    g.images = train_.images.data();
    g.labels = train_.labels.data();
    g.indices = s.epoch_order.data();
    g.dynamic_index_offset = &values->position;
    g.scale = normalization_.scale;
    g.shift = normalization_.shift;
    g.out = s.input.data();
    g.out_labels = s.labels.data();
    gathers.push_back(g);

    ForwardPass p;
    p.slot = &s;
    p.rows = g.rows;
    p.dynamic_rows = &values->rows;
    p.dynamic_epilogue_rows = values->epilogue_rows;
    p.input = s.input.data();
    for (int layer = 0; layer < s.config.model.layer_count(); ++layer) {
      p.pre_activation.push_back(s.pre_activation[layer].data());
      p.output.push_back(s.output[layer].data());
    }
    p.dropout_base = &values->dropout_base;
    passes.push_back(std::move(p));
  }
  backend_.gather_batch(gathers);
  run_forward(passes);

  std::vector<kernels::SoftmaxCrossEntropyProblem> losses;
  for (size_t i = 0; i < passes.size(); ++i) {
    const ForwardPass& p = passes[i];
    const Slot& s = *p.slot;
    const int last = s.config.model.layer_count() - 1;
    kernels::SoftmaxCrossEntropyProblem l;
    l.rows = p.rows;
    l.dynamic_rows = p.dynamic_rows;
    l.classes = classes_;
    l.logits = s.output[last].data();
    l.labels = s.labels.data();
    l.grad = s.output_grad[last].data();
    l.grad_scale = 1.0f / static_cast<float>(p.rows);
    l.dynamic_grad_scale = &step_values[i]->inverse_rows;
    l.sums = s.train_sums.data();
    losses.push_back(l);
  }
  backend_.softmax_cross_entropy(losses);

  // Backward, by distance from the output so slots of different depths share the calls:
  // first each layer's fused activation backward with its bias gradient, then the weight
  // gradients and the gradients of the layers below, one call of each kind.
  int deepest = 0;
  for (const ForwardPass& p : passes) deepest = std::max(deepest, p.slot->config.model.layer_count());
  std::vector<BiasActivationBackward> epilogues;
  std::vector<GemmProblem> gemms;
  std::vector<Conv2dBackwardWeight> conv_weight_grads;
  std::vector<Conv2dBackwardData> conv_input_grads;
  std::vector<MaxPoolBackward> pool_grads;
  for (int distance = 0; distance < deepest; ++distance) {
    epilogues.clear();
    gemms.clear();
    conv_weight_grads.clear();
    conv_input_grads.clear();
    pool_grads.clear();
    for (const ForwardPass& p : passes) {
      Slot& s = *p.slot;
      const ModelSpec& m = s.config.model;
      const int layer = m.layer_count() - 1 - distance;
      if (layer < 0) continue;
      const Layer& l = m.layer(layer);
      const float* layer_input = layer == 0 ? s.input.data() : s.output[layer - 1].data();
      float* input_grad = layer == 0 ? nullptr : s.output_grad[layer - 1].data();  // the input needs none
      if (l.has_parameters()) epilogues.push_back(backward_epilogue(p, layer));
      switch (l.kind) {
        case LayerKind::kDense: {
          const int in = static_cast<int>(l.weight_rows()), out = l.weight_columns();
          GemmProblem weight_grad;  // dW = X^T * dZ
          weight_grad.m = in;
          weight_grad.n = out;
          weight_grad.k = p.rows;
          weight_grad.dynamic_k = gemm_rows(p.dynamic_rows);
          weight_grad.a = layer_input;
          weight_grad.lda = in;
          weight_grad.transpose_a = true;
          weight_grad.b = s.output_grad[layer].data();
          weight_grad.ldb = out;
          weight_grad.c = s.grads.data() + m.weight_offset(layer);
          weight_grad.ldc = out;
          gemms.push_back(weight_grad);
          if (input_grad != nullptr) {  // dX = dZ * W^T
            GemmProblem g;
            g.m = p.rows;
            g.dynamic_m = gemm_rows(p.dynamic_rows);
            g.n = in;
            g.k = out;
            g.a = s.output_grad[layer].data();
            g.lda = out;
            g.b = s.params.data() + m.weight_offset(layer);
            g.ldb = out;
            g.transpose_b = true;
            g.c = input_grad;
            g.ldc = in;
            gemms.push_back(g);
          }
          break;
        }
        case LayerKind::kConv: {
          Conv2dBackwardWeight w;
          w.images = p.rows;
          w.dynamic_images = gemm_rows(p.dynamic_rows);
          w.geometry = l.conv_geometry();
          w.input = layer_input;
          w.output_grad = s.output_grad[layer].data();
          w.weight_grad = s.grads.data() + m.weight_offset(layer);
          w.workspace = s.conv_workspace[layer].data();
          conv_weight_grads.push_back(w);
          if (input_grad != nullptr) {
            Conv2dBackwardData d;
            d.images = p.rows;
            d.dynamic_images = gemm_rows(p.dynamic_rows);
            d.geometry = l.conv_geometry();
            d.output_grad = s.output_grad[layer].data();
            d.weights = s.params.data() + m.weight_offset(layer);
            d.input_grad = input_grad;
            conv_input_grads.push_back(d);
          }
          break;
        }
        case LayerKind::kMaxPool:
          if (input_grad != nullptr) {
            MaxPoolBackward pool;
            pool.images = p.rows;
            pool.dynamic_images = p.dynamic_rows;
            pool.geometry = l.pool_geometry();
            pool.input = layer_input;
            pool.output_grad = s.output_grad[layer].data();
            pool.input_grad = input_grad;
            pool_grads.push_back(pool);
          }
          break;
      }
    }
    if (!epilogues.empty()) backend_.bias_activation_backward(epilogues);
    if (!gemms.empty()) backend_.grouped_gemm(gemms);
    if (!conv_weight_grads.empty()) backend_.conv2d_backward_weight(conv_weight_grads);
    if (!conv_input_grads.empty()) backend_.conv2d_backward_data(conv_input_grads);
    if (!pool_grads.empty()) backend_.max_pool_backward(pool_grads);
  }

  std::vector<kernels::OptimizerProblem> updates;
  for (size_t i = 0; i < passes.size(); ++i) {
    const Slot& s = *passes[i].slot;
    kernels::OptimizerProblem u;
    u.count = static_cast<int64_t>(s.params.size());
    u.params = s.params.data();
    u.grads = s.grads.data();
    u.first_moment = s.first_moment.data();
    u.second_moment = s.second_moment.data();
    u.settings = s.config.optimizer;
    u.step = s.steps + 1;  // what the constants are for; the update reads them at run time
    u.dynamic_constants = &step_values[i]->optimizer;
    updates.push_back(u);
  }
  backend_.optimizer_update(updates);
}

kernels::MetricSums Bundle::take_train_sums(int slot) {
  Slot& s = *slots_.at(slot);
  kernels::MetricSums sums;
  backend_.copy_to_host(&sums, s.train_sums.data(), sizeof(sums));
  const kernels::MetricSums empty;
  s.train_sums.upload({&empty, 1});
  return sums;
}

void Bundle::forward_split(std::span<Slot* const> slots, const DeviceSplit& data,
                           const std::function<void(int64_t first_row, std::span<const ForwardPass> passes)>& use_chunk) {
  // Chunks as large as every slot's evaluation buffers hold.
  int chunk = options_.eval_rows;
  for (const Slot* s : slots) chunk = std::min(chunk, s->eval_rows);
  for (int64_t start = 0; start < data.count; start += chunk) {
    const int rows = static_cast<int>(std::min<int64_t>(chunk, data.count - start));
    std::vector<kernels::GatherProblem> gathers;
    std::vector<ForwardPass> passes;
    for (Slot* s : slots) {
      kernels::GatherProblem g;
      g.rows = rows;
      g.features = features_;
      g.images = data.images.data() + start * features_;
      g.labels = data.labels.data() + start;
      g.indices = identity_order_.data();
      g.scale = normalization_.scale;
      g.shift = normalization_.shift;
      g.out = s->eval_input.data();
      g.out_labels = s->eval_labels.data();
      gathers.push_back(g);
      ForwardPass p;
      p.slot = s;
      p.rows = rows;
      p.input = s->eval_input.data();
      // Layer l reads the buffer layer l-1 wrote; the epilogue works in place.
      for (int layer = 0; layer < s->config.model.layer_count(); ++layer) {
        float* buffer = (layer % 2 == 0) ? s->eval_ping.data() : s->eval_pong.data();
        p.pre_activation.push_back(buffer);
        p.output.push_back(buffer);
      }
      passes.push_back(std::move(p));
    }
    backend_.gather_batch(gathers);
    run_forward(passes);
    use_chunk(start, passes);
  }
}

std::vector<kernels::MetricSums> Bundle::evaluate(std::span<const int> slot_indices, Split split) {
  std::vector<Slot*> slots;
  for (int index : slot_indices) {
    Slot& s = *slots_.at(index);
    const kernels::MetricSums empty;
    s.eval_sums.upload({&empty, 1});
    slots.push_back(&s);
  }
  forward_split(slots, device_split(split), [&](int64_t, std::span<const ForwardPass> passes) {
    std::vector<kernels::SoftmaxCrossEntropyProblem> losses;
    for (const ForwardPass& p : passes) {
      kernels::SoftmaxCrossEntropyProblem l;
      l.rows = p.rows;
      l.classes = classes_;
      l.logits = p.output.back();
      l.labels = p.slot->eval_labels.data();
      l.sums = p.slot->eval_sums.data();
      losses.push_back(l);
    }
    backend_.softmax_cross_entropy(losses);
  });
  std::vector<kernels::MetricSums> results(slots.size());
  for (size_t i = 0; i < slots.size(); ++i) backend_.copy_to_host(&results[i], slots[i]->eval_sums.data(), sizeof(kernels::MetricSums));
  return results;
}

std::vector<int32_t> Bundle::predict(int slot, Split split) {
  Slot* const s = slots_.at(slot).get();
  const DeviceSplit& data = device_split(split);
  std::vector<int32_t> classes(static_cast<size_t>(data.count));
  std::vector<float> logits;
  forward_split({&s, 1}, data, [&](int64_t first_row, std::span<const ForwardPass> passes) {
    const ForwardPass& p = passes.front();
    logits.resize(static_cast<size_t>(p.rows) * classes_);
    backend_.copy_to_host(logits.data(), p.output.back(), logits.size() * sizeof(float));
    for (int r = 0; r < p.rows; ++r) {
      // The comparison softmax_cross_entropy_row makes, so that a class predicted here is
      // one the accuracy counts as predicted: strictly greater, the first of equals wins.
      const float* row = logits.data() + static_cast<size_t>(r) * classes_;
      int32_t best = 0;
      for (int c = 1; c < classes_; ++c)
        if (row[c] > row[best]) best = c;
      classes[static_cast<size_t>(first_row + r)] = best;
    }
  });
  return classes;
}

void Bundle::save_best_parameters(int slot) {
  Slot& s = *slots_.at(slot);
  backend_.copy_on_device(s.best_params.data(), s.params.data(), s.params.bytes());
}

void Bundle::restore_best_parameters(int slot) {
  Slot& s = *slots_.at(slot);
  backend_.copy_on_device(s.params.data(), s.best_params.data(), s.params.bytes());
}

void Bundle::load_parameters(int slot, std::span<const float> values) {
  Slot& s = *slots_.at(slot);
  if (values.size() != s.params.size())
    throw std::invalid_argument("model " + s.config.model.describe() + " takes " + std::to_string(s.params.size()) +
                                " parameters, got " + std::to_string(values.size()));
  s.params.upload(values);
}

}  // namespace gpu_tune
