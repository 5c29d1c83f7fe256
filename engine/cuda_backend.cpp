#include "engine/cuda_backend.h"

#include <cuda_runtime_api.h>  // cudaMalloc, cudaMemcpyAsync, streams, device properties

#include <stdexcept>
#include <string>

#include "kernels/cuda_check.h"

namespace gpu_tune {

namespace {
std::string mib(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }
}  // namespace

CudaBackend::CudaBackend(int device) : device_(device) {
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
  description_ = std::string(props.name) + " (GPU " + std::to_string(device_) + ", sm_" + std::to_string(props.major) +
                 std::to_string(props.minor) + ", " + std::to_string(props.totalGlobalMem >> 30) + " GiB)";
  // Non-blocking: the legacy default stream, which other libraries may use, never
  // serialises with this backend's work.
  GPU_TUNE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}

CudaBackend::~CudaBackend() {
  // Nothing may throw here; errors at teardown have no one left to report to.
  if (cudaSetDevice(device_) == cudaSuccess && stream_ != nullptr) {
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }
  cudaGetLastError();
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
    throw std::runtime_error("cudaMalloc of " + std::to_string(bytes) + " bytes on " + description_ + " failed: " +
                             cudaGetErrorName(status) +
                             (known ? " (" + mib(free_bytes) + " free of " + mib(total_bytes) + ")" : std::string()));
  }
  return pointer;
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
  kernels::grouped_gemm_cuda(p, stream_);
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

}  // namespace gpu_tune
