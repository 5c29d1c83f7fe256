#include "engine/cuda_backend.h"

#include <cuda_runtime_api.h>  // cudaMalloc, cudaMemcpyAsync, streams, device properties

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/cuda_check.h"
#include "kernels/grouped_gemm_cublas.h"
#ifdef GPU_TUNE_WITH_CUDNN
#include "kernels/conv2d_cudnn.h"
#endif

namespace gpu_tune {

namespace {
std::string mib(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }
}  // namespace

CudaBackend::CudaBackend(int device, BackendOptions options) : device_(device), options_(options) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // no GPU is not a sticky error for later CUDA calls
    throw std::runtime_error(std::string("no usable GPU: CUDA reports ") + cudaGetErrorName(status) + " (" +
                             cudaGetErrorString(status) + ")");
  }
  if (device < 0 || device >= count)
    throw std::runtime_error("GPU " + std::to_string(device) + " does not exist (CUDA sees " + std::to_string(count) + ")");
  make_current();
  cudaDeviceProp props{};
  GPU_TUNE_CUDA_CHECK(cudaGetDeviceProperties(&props, device_));
  const std::string sm = "sm_" + std::to_string(props.major) + std::to_string(props.minor);
  if (options_.precision == kernels::GemmPrecision::kTf32 && options_.gemm == GemmLibrary::kOwn && props.major < 8)
    throw std::runtime_error(std::string("--precision tf32 needs tensor cores with TF32 (compute capability 8.0 or newer); ") +
                             props.name + " is " + sm);
#ifndef GPU_TUNE_WITH_CUDNN
  if (options_.conv == ConvLibrary::kCudnn)
    throw std::runtime_error("--conv cudnn: this build has no cuDNN (CMake did not find libcudnn with the CUDA toolkit)");
#endif
  // Replaying needs every GEMM and convolution to read its sizes on the device; cuBLAS and
  // cuDNN read them on the host (and the cuDNN path would read run-time image counts back,
  // which a replayed step cannot). Without replay each step's sizes are exact.
  graphs_ = options_.cuda_graphs && options_.gemm == GemmLibrary::kOwn && options_.conv == ConvLibrary::kOwn;
  description_ = std::string(props.name) + " (GPU " + std::to_string(device_) + ", " + sm + ", " +
                 std::to_string(props.totalGlobalMem >> 30) + " GiB; " +
                 std::string(kernels::precision_name(options_.precision)) +
                 (options_.gemm == GemmLibrary::kCublas ? ", cuBLAS GEMM" : "") +
                 (options_.conv == ConvLibrary::kCudnn ? ", cuDNN conv" : "") +
                 (graphs_ ? ", CUDA graphs" : ", no CUDA graphs") + ")";
  // Non-blocking: the legacy default stream, which other libraries may use, never
  // serialises with this backend's work.
  GPU_TUNE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  for (StagingBuffer& buffer : staging_)
    GPU_TUNE_CUDA_CHECK(cudaEventCreateWithFlags(&buffer.copied, cudaEventDisableTiming));
  if (options_.gemm == GemmLibrary::kCublas) cublas_ = std::make_unique<kernels::CublasGroupedGemm>(stream_);
#ifdef GPU_TUNE_WITH_CUDNN
  if (options_.conv == ConvLibrary::kCudnn) cudnn_ = std::make_unique<kernels::CudnnConv2d>(stream_);
#endif
}

CudaBackend::~CudaBackend() {
  // Nothing may throw here; errors at teardown have no one left to report to.
  if (cudaSetDevice(device_) == cudaSuccess && stream_ != nullptr) {
    cudaStreamSynchronize(stream_);
    cublas_.reset();
#ifdef GPU_TUNE_WITH_CUDNN
    cudnn_.reset();
#endif
    release_graphs();
    for (StagingBuffer& buffer : staging_) {
      if (buffer.copied != nullptr) cudaEventDestroy(buffer.copied);
      if (buffer.host != nullptr) cudaFreeHost(buffer.host);
    }
    cudaStreamDestroy(stream_);
  }
  cudaGetLastError();
}

void CudaBackend::release_graphs() noexcept {
  for (CachedStep& step : steps_)
    if (step.graph != nullptr) cudaGraphExecDestroy(step.graph);
  steps_.clear();
}

void CudaBackend::make_current() const { GPU_TUNE_CUDA_CHECK(cudaSetDevice(device_)); }

void* CudaBackend::allocate_bytes(size_t bytes) {
  make_current();
  void* pointer = nullptr;
  // At least one byte, so that every allocation is a distinct non-null pointer as on the CPU.
  const cudaError_t status = cudaMalloc(&pointer, bytes > 0 ? bytes : 1);
  if (status != cudaSuccess) {
    cudaGetLastError();  // an out-of-memory error is not sticky; the backend stays usable
    size_t free_bytes = 0, total_bytes = 0;
    const bool known = cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess;
    cudaGetLastError();
    const std::string message = "cudaMalloc of " + std::to_string(bytes) + " bytes on " + description_ + " failed: " +
                                cudaGetErrorName(status) +
                                (known ? " (" + mib(free_bytes) + " free of " + mib(total_bytes) + ")" : std::string());
    // Out of memory is the trainer's to handle (fewer slots); anything else is a fault.
    if (status == cudaErrorMemoryAllocation) throw OutOfDeviceMemory(message);
    throw std::runtime_error(message);
  }
  return pointer;
}

std::optional<size_t> CudaBackend::free_memory_bytes() const {
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaSetDevice(device_) != cudaSuccess || cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
    cudaGetLastError();  // unknown is an answer here, not an error
    return std::nullopt;
  }
  return free_bytes;
}

void CudaBackend::free_bytes(void* pointer) noexcept {
  if (pointer == nullptr) return;
  // cudaFree waits for the device, so work still queued on the buffer finishes first.
  if (cudaSetDevice(device_) == cudaSuccess) cudaFree(pointer);
  cudaGetLastError();
}

// The host buffer may be a temporary that dies when this returns, so the copy is complete
// (not merely staged) before returning.
void CudaBackend::copy_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  make_current();
  GPU_TUNE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
  GPU_TUNE_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  make_current();
  GPU_TUNE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  GPU_TUNE_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy_on_device(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  make_current();
  GPU_TUNE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::stage_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  make_current();
  StagingBuffer& buffer = staging_[next_staging_];
  next_staging_ = (next_staging_ + 1) % staging_.size();
  // The copy that last used this buffer must have read it; with several buffers in turn
  // that copy is long done unless the host runs far ahead of the GPU.
  GPU_TUNE_CUDA_CHECK(cudaEventSynchronize(buffer.copied));
  if (buffer.capacity < bytes) {
    if (buffer.host != nullptr) GPU_TUNE_CUDA_CHECK(cudaFreeHost(buffer.host));
    buffer.host = nullptr;
    buffer.capacity = 0;
    // Page-locked: a copy from pageable memory would wait for the device.
    GPU_TUNE_CUDA_CHECK(cudaMallocHost(&buffer.host, bytes));
    buffer.capacity = bytes;
  }
  std::memcpy(buffer.host, src, bytes);
  GPU_TUNE_CUDA_CHECK(cudaMemcpyAsync(dst, buffer.host, bytes, cudaMemcpyHostToDevice, stream_));
  GPU_TUNE_CUDA_CHECK(cudaEventRecord(buffer.copied, stream_));
}

// The first call with a key captures what `issue` queues on the stream into a graph; later
// calls with that key launch the graph. A few keys are kept (several bundles may take turns
// on one GPU); a new key beyond them takes the least recently used entry and, when the new
// graph has that one's shape (the usual case: a slot refilled with a model of the same
// depth), updates its executable graph in place instead of instantiating anew.
void CudaBackend::issue_step(uint64_t key, const std::function<void()>& issue) {
  if (!graphs_) {
    issue();
    return;
  }
  make_current();
  auto cached = std::find_if(steps_.begin(), steps_.end(), [key](const CachedStep& s) { return s.key == key; });
  CachedStep& step = cached != steps_.end() ? *cached : cache_step(key, capture(issue));
  step.last_use = ++step_uses_;
  GPU_TUNE_CUDA_CHECK(cudaGraphLaunch(step.graph, stream_));
}

cudaGraph_t CudaBackend::capture(const std::function<void()>& issue) {
  // Thread-local mode: other threads' CUDA calls (another backend, another GPU) are not
  // caught in this capture and are not made illegal by it.
  GPU_TUNE_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  cudaGraph_t graph = nullptr;
  try {
    issue();
  } catch (...) {
    cudaStreamEndCapture(stream_, &graph);  // leave the stream usable
    if (graph != nullptr) cudaGraphDestroy(graph);
    cudaGetLastError();
    throw;
  }
  GPU_TUNE_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
  graph_captures_ += 1;
  return graph;
}

CudaBackend::CachedStep& CudaBackend::cache_step(uint64_t key, cudaGraph_t graph) {
  CachedStep* step = nullptr;
  bool updated = false;
  if (steps_.size() < kCachedSteps) {
    step = &steps_.emplace_back();
  } else {
    step = &*std::min_element(steps_.begin(), steps_.end(),
                              [](const CachedStep& a, const CachedStep& b) { return a.last_use < b.last_use; });
    cudaGraphExecUpdateResultInfo info{};
    updated = cudaGraphExecUpdate(step->graph, graph, &info) == cudaSuccess;
    if (!updated) {
      cudaGetLastError();  // a different shape is not an error: instantiate anew
      cudaGraphExecDestroy(step->graph);
      step->graph = nullptr;
    }
  }
  const cudaError_t instantiated = updated ? cudaSuccess : cudaGraphInstantiate(&step->graph, graph, 0);
  cudaGraphDestroy(graph);
  if (instantiated != cudaSuccess) {
    steps_.erase(steps_.begin() + (step - steps_.data()));
    GPU_TUNE_CUDA_CHECK(instantiated);
  }
  step->key = key;
  return *step;
}

void CudaBackend::synchronize() {
  make_current();
  GPU_TUNE_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::gather_batch(std::span<const kernels::GatherProblem> p) {
  make_current();
  kernels::gather_batch_cuda(p, stream_);
}
void CudaBackend::grouped_gemm(std::span<const kernels::GemmProblem> p) {
  make_current();
  if (cublas_) {
    cublas_->run(p, options_.precision);
  } else {
    kernels::grouped_gemm_cuda(p, stream_, options_.precision);
  }
}
void CudaBackend::bias_activation_forward(std::span<const kernels::BiasActivationForward> p) {
  make_current();
  kernels::bias_activation_forward_cuda(p, stream_);
}
void CudaBackend::bias_activation_backward(std::span<const kernels::BiasActivationBackward> p) {
  make_current();
  kernels::bias_activation_backward_cuda(p, stream_);
}
void CudaBackend::softmax_cross_entropy(std::span<const kernels::SoftmaxCrossEntropyProblem> p) {
  make_current();
  kernels::softmax_cross_entropy_cuda(p, stream_);
}
void CudaBackend::optimizer_update(std::span<const kernels::OptimizerProblem> p) {
  make_current();
  kernels::optimizer_update_cuda(p, stream_);
}

// Empty spans return before make_current: a bundle whose models have no convolution
// issues these calls with nothing in them, every step. cudnn_ exists only in builds with
// cuDNN (the constructor refuses kCudnn otherwise).
void CudaBackend::conv2d_forward(std::span<const kernels::Conv2dForward> p) {
  if (p.empty()) return;
  make_current();
#ifdef GPU_TUNE_WITH_CUDNN
  if (cudnn_) return cudnn_->forward(p, options_.precision);
#endif
  kernels::conv2d_forward_cuda(p, stream_, options_.precision);
}
void CudaBackend::conv2d_backward_data(std::span<const kernels::Conv2dBackwardData> p) {
  if (p.empty()) return;
  make_current();
#ifdef GPU_TUNE_WITH_CUDNN
  if (cudnn_) return cudnn_->backward_data(p, options_.precision);
#endif
  kernels::conv2d_backward_data_cuda(p, stream_, options_.precision);
}
void CudaBackend::conv2d_backward_weight(std::span<const kernels::Conv2dBackwardWeight> p) {
  if (p.empty()) return;
  make_current();
#ifdef GPU_TUNE_WITH_CUDNN
  if (cudnn_) return cudnn_->backward_weight(p, options_.precision);
#endif
  kernels::conv2d_backward_weight_cuda(p, stream_, options_.precision);
}
void CudaBackend::max_pool_forward(std::span<const kernels::MaxPoolForward> p) {
  if (p.empty()) return;
  make_current();
  kernels::max_pool_forward_cuda(p, stream_);
}
void CudaBackend::max_pool_backward(std::span<const kernels::MaxPoolBackward> p) {
  if (p.empty()) return;
  make_current();
  kernels::max_pool_backward_cuda(p, stream_);
}

}  // namespace gpu_tune
