#pragma once
// Fused epilogues of a dense layer.
//   forward:  z += bias (kept as the pre-activation), out = dropout(activation(z))
//   backward: grad = grad * dropout_factor * activation'(z) in place, and
//             bias_grad = column sums of the new grad (the reduction over the batch).
#include <span>

#include "kernels/activation.h"
#include "kernels/dropout.h"

#ifdef GPU_TUNE_WITH_CUDA
typedef struct CUstream_st* cudaStream_t;  // as cuda_runtime_api.h declares it
#endif

namespace gpu_tune::kernels {

struct BiasActivationForward {
  int rows = 0, cols = 0;  // batch x width, row-major, leading dimension = cols
  float* z = nullptr;      // in: X*W; out: X*W + bias
  const float* bias = nullptr;
  float* out = nullptr;    // may equal z for kIdentity without dropout
  Activation activation = Activation::kIdentity;
  DropoutParams dropout;
};

struct BiasActivationBackward {
  int rows = 0, cols = 0;
  float* grad = nullptr;     // in: dL/d out; out: dL/dz
  const float* z = nullptr;  // pre-activation saved by the forward pass
  Activation activation = Activation::kIdentity;
  DropoutParams dropout;     // must equal the forward pass's
  float* bias_grad = nullptr;  // cols values, overwritten
};

// CPU reference. The bias gradient sums rows in order: deterministic.
void bias_activation_forward_cpu(std::span<const BiasActivationForward> problems);
void bias_activation_backward_cpu(std::span<const BiasActivationBackward> problems);

#ifdef GPU_TUNE_WITH_CUDA
// CUDA forms, asynchronous on `stream`, device pointers. The bias gradient is a fixed-order
// column reduction (no atomics): deterministic run to run. Throw std::invalid_argument
// naming the problem for a malformed one.
void bias_activation_forward_cuda(std::span<const BiasActivationForward> problems, cudaStream_t stream);
void bias_activation_backward_cuda(std::span<const BiasActivationBackward> problems, cudaStream_t stream);
#endif

}  // namespace gpu_tune::kernels
