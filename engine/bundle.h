#pragma once
// A bundle: up to `capacity` slots on one backend, trained together. One step moves every
// slot forward by one minibatch of its own batch size, in shared grouped calls: slots may
// differ in learning rate, batch size, width and depth. A slot's results never depend on
// its neighbours.
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "engine/backend.h"
#include "engine/data/dataset.h"
#include "engine/slot.h"
#include "kernels/optimizer_update.h"
#include "kernels/softmax_cross_entropy.h"

namespace gpu_tune {

enum class Split { kTrain, kValidation, kTest };

// How a pixel p (0..255) becomes a model's input: p * scale + shift, in float32.
struct InputNormalization {
  float scale = 1.0f / 255.0f;
  float shift = 0.0f;
  bool operator==(const InputNormalization&) const = default;
};

struct BundleOptions {
  int capacity = 8;
  bool standardize = false;  // (x - mean) / std with the training split's statistics; else x in [0, 1]
  // Given, it replaces what `standardize` would compute: a saved model's own, so that it
  // sees its inputs exactly as in training whatever data the bundle holds.
  std::optional<InputNormalization> normalization = std::nullopt;
  int eval_rows = 500;       // images per evaluation chunk (fewer for large activations, see add)
  // Floats each of a slot's two evaluation buffers may hold: a chunk of a convolutional
  // model's images is cut to fit, so a CNN's evaluation memory stays bounded.
  int64_t eval_buffer_floats = int64_t(4) << 20;
};

class Bundle {
 public:
  // Uploads the dataset to the backend once; every slot shares it.
  Bundle(Backend& backend, const data::Dataset& dataset, BundleOptions options);

  // Slot positions (indices 0..capacity-1); at most usable_capacity() of them hold a model.
  int capacity() const { return static_cast<int>(slots_.size()); }
  int usable_capacity() const { return usable_capacity_; }
  std::vector<int> occupied_slots() const;
  // Both honour usable_capacity(): no slot is free while that many are occupied.
  bool has_free_slot() const;
  // -1 when full; add() fills this one: a free slot that keeps memory for a refill first,
  // else the lowest free one.
  int first_free_slot() const;
  int64_t train_count() const { return train_.count; }

  // How many slots may hold a model at once from now on, 1..capacity() (raising it back is
  // allowed): the trainer's answer to a device that ran out of memory. A count, not an
  // index bound, since occupied slots cannot move (a captured step holds their pointers).
  // Slots already occupied beyond it run to their end. Memory kept for refills (see
  // remove) beyond the refills that can come is released, so that what the bundle holds
  // stays within the limit. Throws std::invalid_argument outside 1..capacity().
  void limit_capacity(int slots);

  // Places a model in a free slot and returns the slot's index. Throws std::invalid_argument
  // for an invalid config or a model whose input or output size does not fit the dataset,
  // std::length_error when the bundle is full, OutOfDeviceMemory when the slot's buffers do
  // not fit beside the occupied slots. On any exception the bundle is as before, except
  // that memory kept for refills may have been released to make room; the failed
  // attempt's own memory is released.
  int add(const TrainingConfig& config, uint64_t job_id);
  // Frees the slot. Its memory is kept for a refill with a model of the same shape, which
  // then reuses it; a model of another shape releases it first.
  void remove(int slot);

  // Images per evaluation chunk of a model in a bundle with these options (fewer than
  // options.eval_rows when its largest activation would overflow eval_buffer_floats).
  static int eval_chunk_rows(const BundleOptions& options, const ModelSpec& model);
  Slot& slot(int index) { return *slots_.at(index); }
  const Slot& slot(int index) const { return *slots_.at(index); }

  // One training step of every occupied slot. Returns the slots that completed an epoch
  // with it (their next epoch's order is already drawn). On a backend that replays steps
  // the operations are issued once per set of slots and replayed after that.
  std::vector<int> step();

  // Training loss and accuracy sums since the last take, reset to zero.
  kernels::MetricSums take_train_sums(int slot);
  // Forward pass over a whole split for the given slots, together; dropout off.
  std::vector<kernels::MetricSums> evaluate(std::span<const int> slots, Split split);

  // The predicted class of every image of a split, in order: the same forward pass as
  // evaluate, and the arg-max its accuracy counts (the first of equal logits).
  std::vector<int32_t> predict(int slot, Split split);

  void save_best_parameters(int slot);
  void restore_best_parameters(int slot);
  std::vector<float> parameters(int slot) const { return slots_.at(slot)->params.download(); }
  // Replaces the slot's parameters (the layout of parameters()); throws std::invalid_argument
  // when `values` is not ModelSpec::storage_size() long.
  void load_parameters(int slot, std::span<const float> values);
  InputNormalization input_normalization() const { return normalization_; }

 private:
  struct DeviceSplit {
    int64_t count = 0;
    DeviceArray<uint8_t> images, labels;
  };
  struct ForwardPass;  // one slot's buffers for one forward pass

  // What changes from one training step to the next for a slot, one per slot in the
  // backend's memory. The operations read these when they run (the problems' dynamic
  // fields), so one captured step serves every step until the set of slots changes.
  struct StepValues {
    int32_t rows = 0;            // this step's minibatch rows (the last of an epoch may be short)
    // Per layer, the rows of its bias-and-activation epilogue: rows times the layer's
    // output pixels (a convolution's image rows are images x height x width).
    int32_t epilogue_rows[ModelSpec::kMaxLayers] = {};
    float inverse_rows = 0.0f;   // gradient scale of the mean loss
    int64_t position = 0;        // first index into the slot's epoch order
    uint64_t dropout_base = 0;   // kernels::dropout_base(seed, step)
    kernels::OptimizerStepConstants optimizer;  // for the update this step makes
  };

  // The rows a slot's step buffers are sized and its operations issued for: the batch
  // size (capped by the data) when steps are replayed, since the work then reads the true
  // rows at run time; else exactly this step's rows.
  int step_bound(const Slot& slot) const;
  void issue_training_step(std::span<const int> active);
  void renew_step_key();  // see step_key_

  // Under a capacity limit, releases the memory kept for refills beyond the refills that
  // can come (usable capacity minus occupied slots).
  void release_unneeded_retired();
  int occupied_count() const;

  void upload_split(DeviceSplit& split, const data::ImageSet& set);
  const DeviceSplit& device_split(Split split) const;
  // The forward pass of evaluation over a whole split, in chunks as large as every slot's
  // evaluation buffers hold; after each chunk, `use_chunk(first_row, passes)` reads or
  // scores the logits (each pass's output.back()) before the next chunk overwrites them.
  void forward_split(std::span<Slot* const> slots, const DeviceSplit& data,
                     const std::function<void(int64_t first_row, std::span<const ForwardPass> passes)>& use_chunk);
  void run_forward(std::span<const ForwardPass> passes);
  kernels::BiasActivationForward forward_epilogue(const ForwardPass& pass, int layer) const;
  kernels::BiasActivationBackward backward_epilogue(const ForwardPass& pass, int layer) const;
  // A GEMM's or convolution's run-time rows: only when replaying. Otherwise sizes are
  // exact, as the cuBLAS and cuDNN paths (which read sizes on the host) need.
  const int32_t* gemm_rows(const int32_t* dynamic_rows) const { return replays_ ? dynamic_rows : nullptr; }

  Backend& backend_;
  BundleOptions options_;
  int features_ = 0, classes_ = 0;
  int image_rows_ = 0, image_cols_ = 0;
  InputNormalization normalization_;
  DeviceSplit train_, validation_, test_;
  DeviceArray<int32_t> identity_order_;  // 0..eval_rows-1, for gathering contiguous chunks
  std::vector<std::unique_ptr<Slot>> slots_;
  // Per slot, the model removed last: its memory waits for a refill of the same shape.
  std::vector<std::unique_ptr<Slot>> retired_;
  int usable_capacity_ = 0;  // see limit_capacity
  bool replays_ = false;
  DeviceArray<StepValues> step_values_;      // one per slot, in backend memory
  std::vector<StepValues> host_step_values_;  // staged to step_values_ before each step
  // The key of this bundle's current set of slots for Backend::issue_step: new whenever a
  // slot is added or removed, and unique in the process, so that two bundles sharing a
  // backend never replay each other's steps.
  uint64_t step_key_ = 0;
};

}  // namespace gpu_tune
