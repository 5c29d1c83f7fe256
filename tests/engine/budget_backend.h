#pragma once
// A CPU backend with a device's memory limit: it counts the bytes allocated and not yet
// freed, and throws OutOfDeviceMemory, as a full GPU does, for an allocation that would take
// them past a budget. The tests of running out of memory and of slot sizes use it: no GPU
// needed, and the budget can be set exactly in bytes.
#include <cstddef>
#include <limits>
#include <string>
#include <unordered_map>

#include "engine/cpu_backend.h"

namespace gpu_tune::testing {

class BudgetBackend final : public Backend {
 public:
  explicit BudgetBackend(size_t budget = std::numeric_limits<size_t>::max()) : budget_(budget) {}

  void set_budget(size_t budget) { budget_ = budget; }
  size_t in_use() const { return in_use_; }        // bytes allocated and not freed
  int refusals() const { return refusals_; }       // allocations refused so far

  std::string name() const override { return "cpu-budget"; }
  std::string device_description() const override { return cpu_.device_description() + ", memory budget"; }

  void* allocate_bytes(size_t bytes) override {
    if (bytes > budget_ || in_use_ > budget_ - bytes) {
      refusals_ += 1;
      throw OutOfDeviceMemory("allocation of " + std::to_string(bytes) + " bytes exceeds the test budget (" +
                              std::to_string(in_use_) + " of " + std::to_string(budget_) + " in use)");
    }
    void* pointer = cpu_.allocate_bytes(bytes);
    sizes_[pointer] = bytes;
    in_use_ += bytes;
    return pointer;
  }
  void free_bytes(void* pointer) noexcept override {
    const auto found = sizes_.find(pointer);
    if (found != sizes_.end()) {
      in_use_ -= found->second;
      sizes_.erase(found);
    }
    cpu_.free_bytes(pointer);
  }
  std::optional<size_t> free_memory_bytes() const override { return in_use_ < budget_ ? budget_ - in_use_ : 0; }

  void copy_to_device(void* dst, const void* src, size_t bytes) override { cpu_.copy_to_device(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override { cpu_.copy_to_host(dst, src, bytes); }
  void copy_on_device(void* dst, const void* src, size_t bytes) override { cpu_.copy_on_device(dst, src, bytes); }
  void stage_to_device(void* dst, const void* src, size_t bytes) override { cpu_.stage_to_device(dst, src, bytes); }

  void gather_batch(std::span<const kernels::GatherProblem> p) override { cpu_.gather_batch(p); }
  void grouped_gemm(std::span<const kernels::GemmProblem> p) override { cpu_.grouped_gemm(p); }
  void bias_activation_forward(std::span<const kernels::BiasActivationForward> p) override {
    cpu_.bias_activation_forward(p);
  }
  void bias_activation_backward(std::span<const kernels::BiasActivationBackward> p) override {
    cpu_.bias_activation_backward(p);
  }
  void softmax_cross_entropy(std::span<const kernels::SoftmaxCrossEntropyProblem> p) override {
    cpu_.softmax_cross_entropy(p);
  }
  void optimizer_update(std::span<const kernels::OptimizerProblem> p) override { cpu_.optimizer_update(p); }
  void conv2d_forward(std::span<const kernels::Conv2dForward> p) override { cpu_.conv2d_forward(p); }
  void conv2d_backward_data(std::span<const kernels::Conv2dBackwardData> p) override { cpu_.conv2d_backward_data(p); }
  void conv2d_backward_weight(std::span<const kernels::Conv2dBackwardWeight> p) override {
    cpu_.conv2d_backward_weight(p);
  }
  void max_pool_forward(std::span<const kernels::MaxPoolForward> p) override { cpu_.max_pool_forward(p); }
  void max_pool_backward(std::span<const kernels::MaxPoolBackward> p) override { cpu_.max_pool_backward(p); }
  void synchronize() override { cpu_.synchronize(); }

 private:
  CpuBackend cpu_;
  size_t budget_;
  size_t in_use_ = 0;
  int refusals_ = 0;
  std::unordered_map<void*, size_t> sizes_;
};

}  // namespace gpu_tune::testing
