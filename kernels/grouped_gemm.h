#pragma once
// Grouped matrix multiply: one call computes every problem of a group, where each
// problem (one layer of one slot) has its own M, N, K and pointers.
//   C = alpha * op(A) * op(B) + beta * C, all matrices row-major.
// The engine uses three forms per dense layer:
//   forward         Z  = X  * W     (M=batch, N=out, K=in)
//   input gradient  dX = dZ * W^T   (M=batch, N=in,  K=out)
//   weight gradient dW = X^T * dZ   (M=in,    N=out, K=batch)
#include <span>

#ifdef GPU_TUNE_WITH_CUDA
typedef struct CUstream_st* cudaStream_t;  // as cuda_runtime_api.h declares it
#endif

namespace gpu_tune::kernels {

struct GemmProblem {
  int m = 0, n = 0, k = 0;
  const float* a = nullptr;  // M x K, or K x M when transpose_a
  int lda = 0;
  bool transpose_a = false;
  const float* b = nullptr;  // K x N, or N x K when transpose_b
  int ldb = 0;
  bool transpose_b = false;
  float* c = nullptr;        // M x N
  int ldc = 0;
  float alpha = 1.0f;
  float beta = 0.0f;
};

// Throws std::invalid_argument naming the problem index when a problem is malformed.
void validate_gemm_problems(std::span<const GemmProblem> problems);

// CPU reference: CBLAS sgemm per problem, split into row blocks across threads.
// The split depends only on a problem's shape and the thread count, never on the
// other problems, so a slot computes the same bits alone as in any bundle.
// Deterministic run to run.
void grouped_gemm_cpu(std::span<const GemmProblem> problems);

#ifdef GPU_TUNE_WITH_CUDA
// CUDA form: every problem in one launch (more when the span outgrows a kernel's parameter
// space), FP32 on the CUDA cores, each element's sum over K in order in one thread (no
// split-K): deterministic run to run. Pointers are device memory; the call is
// asynchronous on `stream`. Throws std::invalid_argument as validate_gemm_problems does,
// std::runtime_error for a CUDA error.
void grouped_gemm_cuda(std::span<const GemmProblem> problems, cudaStream_t stream);
#endif

}  // namespace gpu_tune::kernels
