#pragma once
// The CUDA backend: one GPU, one stream, plain device memory (cudaMalloc), and the CUDA
// forms of the kernels. Operations are queued on the stream and return at once; the
// calls that hand data to the host (copy_to_host, synchronize) wait for it.
#include <string>

#include "engine/backend.h"

typedef struct CUstream_st* cudaStream_t;  // as cuda_runtime_api.h declares it

namespace gpu_tune {

class CudaBackend final : public Backend {
 public:
  // Throws std::runtime_error when the device cannot be used (no GPU, bad index, no driver).
  explicit CudaBackend(int device = 0);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string name() const override { return "cuda"; }
  std::string device_description() const override { return description_; }
  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }

  void* allocate_bytes(size_t bytes) override;
  void free_bytes(void* pointer) noexcept override;
  void copy_to_device(void* device_dst, const void* host_src, size_t bytes) override;
  void copy_to_host(void* host_dst, const void* device_src, size_t bytes) override;
  void copy_on_device(void* device_dst, const void* device_src, size_t bytes) override;

  void gather_batch(std::span<const kernels::GatherProblem> problems) override;
  void grouped_gemm(std::span<const kernels::GemmProblem> problems) override;
  void bias_activation_forward(std::span<const kernels::BiasActivationForward> problems) override;
  void bias_activation_backward(std::span<const kernels::BiasActivationBackward> problems) override;
  void softmax_cross_entropy(std::span<const kernels::SoftmaxCrossEntropyProblem> problems) override;
  void optimizer_update(std::span<const kernels::OptimizerProblem> problems) override;
  void synchronize() override;

 private:
  // Makes this backend's GPU the calling thread's current device: several backends (one
  // per GPU) may be driven from one thread, and CUDA calls act on the current device.
  void make_current() const;

  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  std::string description_;
};

}  // namespace gpu_tune
