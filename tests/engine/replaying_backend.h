#pragma once
// A CPU backend that replays steps as the CUDA backend does with CUDA graphs: the first
// issue_step with a key records the operations without running them (as a stream capture
// does), and every call runs the record, calling `issue` again only for a new key. Values
// baked into the problems are therefore stale on replay, exactly as in a CUDA graph, so a
// bundle that trains the same on this backend as on the plain CPU one reads everything
// that changes per step at run time.
#include <functional>
#include <stdexcept>
#include <vector>

#include "engine/cpu_backend.h"

namespace gpu_tune::testing {

class ReplayingCpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu-replaying"; }
  std::string device_description() const override { return cpu_.device_description() + ", steps replayed"; }

  void* allocate_bytes(size_t bytes) override { return cpu_.allocate_bytes(not_recording(bytes)); }
  void free_bytes(void* pointer) noexcept override { cpu_.free_bytes(pointer); }
  // Copies that wait for the device are illegal inside a CUDA capture; so they are here.
  void copy_to_device(void* dst, const void* src, size_t bytes) override { cpu_.copy_to_device(dst, src, not_recording(bytes)); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override { cpu_.copy_to_host(dst, src, not_recording(bytes)); }
  void copy_on_device(void* dst, const void* src, size_t bytes) override { cpu_.copy_on_device(dst, src, not_recording(bytes)); }
  void stage_to_device(void* dst, const void* src, size_t bytes) override { cpu_.stage_to_device(dst, src, not_recording(bytes)); }

  void gather_batch(std::span<const kernels::GatherProblem> p) override { run_or_record(p, &CpuBackend::gather_batch); }
  void grouped_gemm(std::span<const kernels::GemmProblem> p) override { run_or_record(p, &CpuBackend::grouped_gemm); }
  void bias_activation_forward(std::span<const kernels::BiasActivationForward> p) override {
    run_or_record(p, &CpuBackend::bias_activation_forward);
  }
  void bias_activation_backward(std::span<const kernels::BiasActivationBackward> p) override {
    run_or_record(p, &CpuBackend::bias_activation_backward);
  }
  void softmax_cross_entropy(std::span<const kernels::SoftmaxCrossEntropyProblem> p) override {
    run_or_record(p, &CpuBackend::softmax_cross_entropy);
  }
  void optimizer_update(std::span<const kernels::OptimizerProblem> p) override {
    run_or_record(p, &CpuBackend::optimizer_update);
  }
  void conv2d_forward(std::span<const kernels::Conv2dForward> p) override { run_or_record(p, &CpuBackend::conv2d_forward); }
  void conv2d_backward_data(std::span<const kernels::Conv2dBackwardData> p) override {
    run_or_record(p, &CpuBackend::conv2d_backward_data);
  }
  void conv2d_backward_weight(std::span<const kernels::Conv2dBackwardWeight> p) override {
    run_or_record(p, &CpuBackend::conv2d_backward_weight);
  }
  void max_pool_forward(std::span<const kernels::MaxPoolForward> p) override { run_or_record(p, &CpuBackend::max_pool_forward); }
  void max_pool_backward(std::span<const kernels::MaxPoolBackward> p) override {
    run_or_record(p, &CpuBackend::max_pool_backward);
  }
  void synchronize() override {}

  void issue_step(uint64_t key, const std::function<void()>& issue) override {
    if (!has_record_ || key != key_) {
      record_.clear();
      recording_ = true;
      issue();
      recording_ = false;
      has_record_ = true;
      key_ = key;
      captures_ += 1;
    }
    for (const auto& operation : record_) operation();
    steps_ += 1;
  }
  bool replays_steps() const override { return true; }

  int captures() const { return captures_; }
  int steps() const { return steps_; }

 private:
  size_t not_recording(size_t bytes) const {
    if (recording_) throw std::logic_error("a memory operation inside a recorded step");
    return bytes;
  }
  template <typename Problem>
  void run_or_record(std::span<const Problem> problems, void (CpuBackend::*operation)(std::span<const Problem>)) {
    if (!recording_) {
      (cpu_.*operation)(problems);
      return;
    }
    record_.push_back([this, operation, copy = std::vector<Problem>(problems.begin(), problems.end())] {
      (cpu_.*operation)(copy);
    });
  }

  CpuBackend cpu_;
  std::vector<std::function<void()>> record_;
  bool recording_ = false, has_record_ = false;
  uint64_t key_ = 0;
  int captures_ = 0, steps_ = 0;
};

}  // namespace gpu_tune::testing
