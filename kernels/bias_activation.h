#pragma once
// Fused epilogues of a dense layer.
//   forward:  z += bias (kept as the pre-activation), out = dropout(activation(z))
//   backward: grad = grad * dropout_factor * activation'(z) in place, and
//             bias_grad = column sums of the new grad (the reduction over the batch).
#include <cstdint>
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
  const int32_t* dynamic_rows = nullptr;  // run-time rows (see run_time_size); rows is the bound
};

struct BiasActivationBackward {
  int rows = 0, cols = 0;
  float* grad = nullptr;     // in: dL/d out; out: dL/dz
  const float* z = nullptr;  // pre-activation saved by the forward pass
  Activation activation = Activation::kIdentity;
  DropoutParams dropout;     // must equal the forward pass's
  float* bias_grad = nullptr;  // cols values, overwritten
  const int32_t* dynamic_rows = nullptr;  // run-time rows; rows is the bound
};

// The problem with its run-time values read now (for the CPU forms, which run at once).
inline DropoutParams with_run_time_values(DropoutParams d) {
  d.stream = run_time_stream(d);
  d.dynamic_base = nullptr;
  return d;
}
inline BiasActivationForward with_run_time_values(BiasActivationForward p) {
  p.rows = run_time_size(p.dynamic_rows, p.rows);
  p.dynamic_rows = nullptr;
  p.dropout = with_run_time_values(p.dropout);
  return p;
}
inline BiasActivationBackward with_run_time_values(BiasActivationBackward p) {
  p.rows = run_time_size(p.dynamic_rows, p.rows);
  p.dynamic_rows = nullptr;
  p.dropout = with_run_time_values(p.dropout);
  return p;
}

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
