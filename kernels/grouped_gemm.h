#pragma once
// Grouped matrix multiply: one call computes every problem of a group, where each
// problem (one layer of one slot) has its own M, N, K and pointers.
//   C = alpha * op(A) * op(B) + beta * C, all matrices row-major.
// The engine uses three forms per dense layer:
//   forward         Z  = X  * W     (M=batch, N=out, K=in)
//   input gradient  dX = dZ * W^T   (M=batch, N=in,  K=out)
//   weight gradient dW = X^T * dZ   (M=in,    N=out, K=batch)
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

#include "kernels/host_device.h"

#ifdef GPU_TUNE_WITH_CUDA
typedef struct CUstream_st* cudaStream_t;  // as cuda_runtime_api.h declares it
#endif

namespace gpu_tune::kernels {

// How the products are computed. kFp32: full single precision. kTf32: both operands rounded
// to TF32 (10-bit mantissa, round to nearest, ties away from zero, as the GPU's cvt.rna
// does) and multiplied on tensor cores, sums kept in FP32. The CPU form emulates kTf32 by
// rounding the operands the same way, so it stays the reference for both.
enum class GemmPrecision : int { kFp32 = 0, kTf32 = 1 };

std::string_view precision_name(GemmPrecision precision);
std::optional<GemmPrecision> parse_precision(std::string_view text);

// x rounded to the nearest TF32 value, ties away from zero; infinities and NaN unchanged.
GPU_TUNE_HD float round_to_tf32(float x) {
  uint32_t bits;
  memcpy(&bits, &x, sizeof bits);
  if ((bits & 0x7f800000u) != 0x7f800000u) {  // finite: add half of the dropped 13 bits' weight
    bits += 0x1000u;
    bits &= 0xffffe000u;
  }
  memcpy(&x, &bits, sizeof bits);
  return x;
}

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
  // Optional run-time sizes in the backend's memory, read when the work runs rather than
  // when it is issued, so that a captured step replays with the next step's minibatch size:
  // M (K) is then min(m, *dynamic_m) (min(k, *dynamic_k)), and m (k) is the upper bound
  // the work is sized for. Null: m and k as given.
  const int32_t* dynamic_m = nullptr;
  const int32_t* dynamic_k = nullptr;
};

// The problem with its run-time sizes read now (for the CPU form, which runs at once).
inline GemmProblem with_run_time_values(GemmProblem p) {
  p.m = run_time_size(p.dynamic_m, p.m);
  p.k = run_time_size(p.dynamic_k, p.k);
  p.dynamic_m = p.dynamic_k = nullptr;
  return p;
}

// Throws std::invalid_argument naming the problem index when a problem is malformed.
void validate_gemm_problems(std::span<const GemmProblem> problems);

// CPU reference: CBLAS sgemm per problem, split into row blocks across threads.
// The split depends only on a problem's shape and the thread count, never on the
// other problems, so a slot computes the same bits alone as in any bundle.
// Deterministic run to run.
void grouped_gemm_cpu(std::span<const GemmProblem> problems, GemmPrecision precision = GemmPrecision::kFp32);

#ifdef GPU_TUNE_WITH_CUDA
// CUDA form: every problem in one launch (more when the span outgrows a kernel's parameter
// space), each element's sum over K in one thread or one warp in a fixed order (no
// split-K, no atomics): deterministic run to run. kFp32 runs on the CUDA cores, kTf32 on
// the tensor cores (compute capability 8.0 or newer). Pointers are device memory; the call
// is asynchronous on `stream`. Throws std::invalid_argument as validate_gemm_problems
// does, std::runtime_error for a CUDA error.
void grouped_gemm_cuda(std::span<const GemmProblem> problems, cudaStream_t stream,
                       GemmPrecision precision = GemmPrecision::kFp32);
#endif

}  // namespace gpu_tune::kernels
