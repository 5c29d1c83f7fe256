#pragma once
// cuDNN as an alternate path for the convolution: the same problems and the same results as
// conv2d_cpu, computed by cuDNN's convolution routines one problem at a time. It is the
// yardstick for our implicit-GEMM kernels (conv2d_cuda.cu) and a fallback, not the engine's
// default path: it needs a handle, descriptors and a workspace, reads sizes on the host,
// and takes the filters in its own layout (KRSC), so the weights are transposed around it.
// Built only where CMake finds cuDNN (GPU_TUNE_WITH_CUDNN).
#include <memory>
#include <span>

#include "kernels/conv2d.h"

// As the CUDA and cuDNN headers declare them, so that this header needs neither.
typedef struct CUstream_st* cudaStream_t;
typedef struct cudnnContext* cudnnHandle_t;

namespace gpu_tune::kernels {

class CudnnConv2d {
 public:
  // Creates a cuDNN handle bound to `stream` on the current device. Throws
  // std::runtime_error when cuDNN or CUDA cannot be initialised (no GPU, no driver).
  explicit CudnnConv2d(cudaStream_t stream);
  ~CudnnConv2d();
  CudnnConv2d(const CudnnConv2d&) = delete;
  CudnnConv2d& operator=(const CudnnConv2d&) = delete;

  // The three passes of conv2d.h for every problem, as conv2d_*_cpu computes them;
  // device pointers, asynchronous on the stream. Conv2dBackwardWeight::workspace is not
  // used (cuDNN's workspace is this object's) and may be null.
  //
  // Precision: kFp32 restricts cuDNN to FMA kernels (CUDNN_FMA_MATH: its default math
  // would allow TF32 on Ampere and newer); kTf32 allows tensor cores (CUDNN_TENSOR_OP_MATH,
  // never a conversion to half precision). Algorithms are deterministic ones, chosen once
  // per geometry and image count (see conv2d_cudnn.cu).
  //
  // Run-time images (dynamic_images): cuDNN takes sizes on the host, so a call with such
  // problems reads their counts back first and waits for the stream to get there (one
  // small copy and a synchronisation per call). Problems without them cost no wait.
  //
  // CUDA-graph capture: a call may be captured only when everything it needs exists
  // already (descriptors, algorithms and buffers from an earlier call with the same
  // problems) and it has no run-time images; otherwise it throws std::logic_error rather
  // than allocate or synchronise inside the capture. CudaBackend does not capture steps
  // when it runs this path.
  //
  // Throws std::invalid_argument for a malformed problem (as the CUDA forms do, naming the
  // problem) before anything is queued; std::runtime_error for a CUDA or cuDNN error.
  void forward(std::span<const Conv2dForward> problems, GemmPrecision precision = GemmPrecision::kFp32);
  void backward_data(std::span<const Conv2dBackwardData> problems, GemmPrecision precision = GemmPrecision::kFp32);
  void backward_weight(std::span<const Conv2dBackwardWeight> problems,
                       GemmPrecision precision = GemmPrecision::kFp32);

  cudaStream_t stream() const;
  cudnnHandle_t handle() const;

 private:
  struct State;  // the handle, the descriptor cache, the buffers
  std::unique_ptr<State> state_;
};

}  // namespace gpu_tune::kernels
