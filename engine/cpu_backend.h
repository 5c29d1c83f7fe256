#pragma once
// The CPU backend: plain host memory, CBLAS sgemm and OpenMP threads. It is the
// reference that every other backend is tested against, so it stays plain and exact.
#include "engine/backend.h"

namespace gpu_tune {

class CpuBackend final : public Backend {
 public:
  // kTf32 emulates the GPU's tensor-core arithmetic (operands rounded to TF32), so a
  // TF32 run can be reproduced without a GPU; it is slower than kFp32, not faster.
  explicit CpuBackend(kernels::GemmPrecision precision = kernels::GemmPrecision::kFp32) : precision_(precision) {}

  std::string name() const override { return "cpu"; }
  std::string device_description() const override;

  void* allocate_bytes(size_t bytes) override;
  void free_bytes(void* pointer) noexcept override;
  void copy_to_device(void* device_dst, const void* host_src, size_t bytes) override;
  void copy_to_host(void* host_dst, const void* device_src, size_t bytes) override;
  void copy_on_device(void* device_dst, const void* device_src, size_t bytes) override;
  void stage_to_device(void* device_dst, const void* host_src, size_t bytes) override {
    copy_to_device(device_dst, host_src, bytes);
  }

  void gather_batch(std::span<const kernels::GatherProblem> problems) override;
  void grouped_gemm(std::span<const kernels::GemmProblem> problems) override;
  void bias_activation_forward(std::span<const kernels::BiasActivationForward> problems) override;
  void bias_activation_backward(std::span<const kernels::BiasActivationBackward> problems) override;
  void softmax_cross_entropy(std::span<const kernels::SoftmaxCrossEntropyProblem> problems) override;
  void optimizer_update(std::span<const kernels::OptimizerProblem> problems) override;
  void conv2d_forward(std::span<const kernels::Conv2dForward> problems) override;
  void conv2d_backward_data(std::span<const kernels::Conv2dBackwardData> problems) override;
  void conv2d_backward_weight(std::span<const kernels::Conv2dBackwardWeight> problems) override;
  void max_pool_forward(std::span<const kernels::MaxPoolForward> problems) override;
  void max_pool_backward(std::span<const kernels::MaxPoolBackward> problems) override;
  void synchronize() override {}

 private:
  kernels::GemmPrecision precision_;
};

}  // namespace gpu_tune
