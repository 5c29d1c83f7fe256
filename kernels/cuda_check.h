#pragma once
// Error checks for CUDA runtime calls and kernel launches. A failure throws
// std::runtime_error naming the call, the file and line, and CUDA's error name, so a
// failure far from the GPU (a test log, a user's terminal) still says where it happened.
//
// Kernel launches report most errors only at a later synchronisation. Building with
// GPU_TUNE_CUDA_SYNC_CHECK (CMake option of the same name) synchronises the stream after
// every launch, so a bad kernel is blamed at its own launch; it is a debugging aid and
// must stay off for timing. Launches being captured into a CUDA graph are not
// synchronised (that is illegal during capture).
#include <cuda_runtime_api.h>  // cudaError_t, cudaGetLastError, cudaStreamSynchronize

#include <stdexcept>
#include <string>

namespace gpu_tune::kernels::detail {

[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* what, const char* file, int line) {
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + what + " failed: " +
                           cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")");
}

inline void check_cuda(cudaError_t status, const char* what, const char* file, int line) {
  if (status != cudaSuccess) throw_cuda_error(status, what, file, line);
}

inline void check_launch(cudaStream_t stream, const char* kernel, const char* file, int line) {
  // cudaGetLastError also clears a launch error, so one bad launch is reported once.
  check_cuda(cudaGetLastError(), kernel, file, line);
#if defined(GPU_TUNE_CUDA_SYNC_CHECK)
  // Synchronising a stream that is being captured into a graph would end the capture:
  // captured launches are checked when the graph runs.
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  check_cuda(cudaStreamIsCapturing(stream, &capture), kernel, file, line);
  if (capture == cudaStreamCaptureStatusNone) check_cuda(cudaStreamSynchronize(stream), kernel, file, line);
#else
  (void)stream;
#endif
}

}  // namespace gpu_tune::kernels::detail

// Wraps one CUDA runtime call: GPU_TUNE_CUDA_CHECK(cudaMalloc(&p, bytes));
#define GPU_TUNE_CUDA_CHECK(call) ::gpu_tune::kernels::detail::check_cuda((call), #call, __FILE__, __LINE__)

// Right after a <<<...>>> launch on `stream`; `kernel` names the kernel in the message.
#define GPU_TUNE_CUDA_CHECK_LAUNCH(kernel, stream) \
  ::gpu_tune::kernels::detail::check_launch((stream), #kernel " launch", __FILE__, __LINE__)
