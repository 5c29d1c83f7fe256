#pragma once
// The CUDA backend: one GPU, one stream, plain device memory (cudaMalloc), and the CUDA
// forms of the kernels. Operations are queued on the stream and return at once; the
// calls that hand data to the host (copy_to_host, synchronize) wait for it. A bundle's
// training step is captured once as a CUDA graph and replayed (issue_step), so the host
// cost of a step is one small copy and one graph launch however many layers and slots.
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"

// As cuda_runtime_api.h declares them, so that this header needs none of CUDA's.
typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;
typedef struct CUgraph_st* cudaGraph_t;
typedef struct CUgraphExec_st* cudaGraphExec_t;

namespace gpu_tune::kernels {
class CublasGroupedGemm;
class CudnnConv2d;
}

namespace gpu_tune {

class CudaBackend final : public Backend {
 public:
  // Throws std::runtime_error when the device cannot be used (no GPU, bad index, no driver)
  // or cannot do what `options` ask (TF32 below compute capability 8.0, the cuDNN
  // convolution in a build without cuDNN).
  explicit CudaBackend(int device = 0, BackendOptions options = {});
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string name() const override { return "cuda"; }
  std::string device_description() const override { return description_; }
  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }

  void* allocate_bytes(size_t bytes) override;
  void free_bytes(void* pointer) noexcept override;
  std::optional<size_t> free_memory_bytes() const override;  // cudaMemGetInfo
  void copy_to_device(void* device_dst, const void* host_src, size_t bytes) override;
  void copy_to_host(void* host_dst, const void* device_src, size_t bytes) override;
  void copy_on_device(void* device_dst, const void* device_src, size_t bytes) override;
  void stage_to_device(void* device_dst, const void* host_src, size_t bytes) override;

  void gather_batch(std::span<const kernels::GatherProblem> problems) override;
  void grouped_gemm(std::span<const kernels::GemmProblem> problems) override;
  void bias_activation_forward(std::span<const kernels::BiasActivationForward> problems) override;
  void bias_activation_backward(std::span<const kernels::BiasActivationBackward> problems) override;
  void softmax_cross_entropy(std::span<const kernels::SoftmaxCrossEntropyProblem> problems) override;
  void optimizer_update(std::span<const kernels::OptimizerProblem> problems) override;
  // Convolution runs our kernels, or cuDNN when options_.conv is kCudnn (whatever the GEMM
  // library: cuBLAS has no convolution); pooling always runs ours.
  void conv2d_forward(std::span<const kernels::Conv2dForward> problems) override;
  void conv2d_backward_data(std::span<const kernels::Conv2dBackwardData> problems) override;
  void conv2d_backward_weight(std::span<const kernels::Conv2dBackwardWeight> problems) override;
  void max_pool_forward(std::span<const kernels::MaxPoolForward> problems) override;
  void max_pool_backward(std::span<const kernels::MaxPoolBackward> problems) override;
  void synchronize() override;
  void issue_step(uint64_t key, const std::function<void()>& issue) override;
  bool replays_steps() const override { return graphs_; }

  int graph_captures() const { return graph_captures_; }  // how often issue_step captured anew

 private:
  // A pinned host buffer that stage_to_device copies from, and the event that marks the
  // end of the last copy out of it. Several in turn, so staging rarely waits.
  struct StagingBuffer {
    void* host = nullptr;
    size_t capacity = 0;
    cudaEvent_t copied = nullptr;
  };

  // Makes this backend's GPU the calling thread's current device: several backends (one
  // per GPU) may be driven from one thread, and CUDA calls act on the current device.
  void make_current() const;

  // A captured step, by key, kept while it is among the most recently used.
  struct CachedStep {
    uint64_t key = 0;
    cudaGraphExec_t graph = nullptr;
    uint64_t last_use = 0;
  };
  static constexpr size_t kCachedSteps = 4;
  cudaGraph_t capture(const std::function<void()>& issue);
  CachedStep& cache_step(uint64_t key, cudaGraph_t graph);
  void release_graphs() noexcept;

  int device_ = 0;
  BackendOptions options_;
  cudaStream_t stream_ = nullptr;
  std::string description_;
  std::unique_ptr<kernels::CublasGroupedGemm> cublas_;  // when options_.gemm is kCublas
#ifdef GPU_TUNE_WITH_CUDNN  // defined with the kernels library for every user of it
  std::unique_ptr<kernels::CudnnConv2d> cudnn_;  // when options_.conv is kCudnn
#endif
  std::array<StagingBuffer, 4> staging_{};
  size_t next_staging_ = 0;
  bool graphs_ = false;
  std::vector<CachedStep> steps_;  // at most kCachedSteps
  uint64_t step_uses_ = 0;
  int graph_captures_ = 0;
};

}  // namespace gpu_tune
