#include "engine/cpu_backend.h"

#include <cstdlib>
#include <cstring>
#include <thread>

#include "kernels/cpu_parallel.h"

namespace gpu_tune {

std::string CpuBackend::device_description() const {
  return "CPU, " + std::to_string(kernels::cpu_thread_count()) + " threads" +
         (precision_ == kernels::GemmPrecision::kTf32 ? ", TF32 emulated" : "");
}

void* CpuBackend::allocate_bytes(size_t bytes) {
  // 64-byte alignment keeps every row start friendly to vector loads.
  void* pointer = std::aligned_alloc(64, ((bytes + 63) / 64) * 64 + 64);
  // Never std::bad_alloc: the trainer tells out-of-memory apart by OutOfDeviceMemory.
  if (pointer == nullptr) throw OutOfDeviceMemory("aligned_alloc of " + std::to_string(bytes) + " bytes failed");
  return pointer;
}

void CpuBackend::free_bytes(void* pointer) noexcept { std::free(pointer); }

// An empty copy may come with null pointers (an empty split), which memcpy does not allow.
void CpuBackend::copy_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes > 0) std::memcpy(dst, src, bytes);
}
void CpuBackend::copy_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes > 0) std::memcpy(dst, src, bytes);
}
void CpuBackend::copy_on_device(void* dst, const void* src, size_t bytes) {
  if (bytes > 0) std::memcpy(dst, src, bytes);
}

void CpuBackend::gather_batch(std::span<const kernels::GatherProblem> p) { kernels::gather_batch_cpu(p); }
void CpuBackend::grouped_gemm(std::span<const kernels::GemmProblem> p) { kernels::grouped_gemm_cpu(p, precision_); }
void CpuBackend::bias_activation_forward(std::span<const kernels::BiasActivationForward> p) {
  kernels::bias_activation_forward_cpu(p);
}
void CpuBackend::bias_activation_backward(std::span<const kernels::BiasActivationBackward> p) {
  kernels::bias_activation_backward_cpu(p);
}
void CpuBackend::softmax_cross_entropy(std::span<const kernels::SoftmaxCrossEntropyProblem> p) {
  kernels::softmax_cross_entropy_cpu(p);
}
void CpuBackend::optimizer_update(std::span<const kernels::OptimizerProblem> p) { kernels::optimizer_update_cpu(p); }
void CpuBackend::conv2d_forward(std::span<const kernels::Conv2dForward> p) { kernels::conv2d_forward_cpu(p, precision_); }
void CpuBackend::conv2d_backward_data(std::span<const kernels::Conv2dBackwardData> p) {
  kernels::conv2d_backward_data_cpu(p, precision_);
}
void CpuBackend::conv2d_backward_weight(std::span<const kernels::Conv2dBackwardWeight> p) {
  kernels::conv2d_backward_weight_cpu(p, precision_);
}
void CpuBackend::max_pool_forward(std::span<const kernels::MaxPoolForward> p) { kernels::max_pool_forward_cpu(p); }
void CpuBackend::max_pool_backward(std::span<const kernels::MaxPoolBackward> p) { kernels::max_pool_backward_cpu(p); }

}  // namespace gpu_tune
