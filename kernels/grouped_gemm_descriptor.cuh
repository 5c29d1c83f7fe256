#pragma once
// What the grouped GEMM kernels (FP32 and TF32) share: the per-problem descriptor they
// receive by value, and its construction from a GemmProblem.
#include <cstdint>

#include "kernels/cuda_problem_batch.cuh"
#include "kernels/grouped_gemm.h"

namespace gpu_tune::kernels::cuda_detail {

inline constexpr int kTransposeA = 1, kTransposeB = 2;

struct GemmDescriptor {
  const float* a;
  const float* b;
  float* c;
  const int32_t* dynamic_m;  // see GemmProblem; null when M is fixed
  const int32_t* dynamic_k;
  int m, n, k;               // upper bounds when dynamic
  int lda, ldb, ldc;
  float alpha, beta;
  int tiles_n;  // column tiles, to turn a block's tile number into (row tile, column tile)
  int flags;    // kTransposeA | kTransposeB
};

using GemmBatch = ProblemBatch<GemmDescriptor>;
static_assert(sizeof(GemmBatch) <= kKernelParameterBudget);

inline GemmDescriptor make_gemm_descriptor(const GemmProblem& q, int tile_n) {
  GemmDescriptor d{};
  d.a = q.a;
  d.b = q.b;
  d.c = q.c;
  d.dynamic_m = q.dynamic_m;
  d.dynamic_k = q.dynamic_k;
  d.m = q.m;
  d.n = q.n;
  d.k = q.k;
  d.lda = q.lda;
  d.ldb = q.ldb;
  d.ldc = q.ldc;
  d.alpha = q.alpha;
  d.beta = q.beta;
  d.tiles_n = static_cast<int>(ceil_div(q.n, tile_n));
  d.flags = (q.transpose_a ? kTransposeA : 0) | (q.transpose_b ? kTransposeB : 0);
  return d;
}

#ifdef __CUDACC__
// M and K as the problem has them now (the dynamic ones read from device memory).
__device__ __forceinline__ int run_time_m(const GemmDescriptor& p) {
  return p.dynamic_m != nullptr ? min(p.m, *p.dynamic_m) : p.m;
}
__device__ __forceinline__ int run_time_k(const GemmDescriptor& p) {
  return p.dynamic_k != nullptr ? min(p.k, *p.dynamic_k) : p.k;
}

// Element (row, col) of op(A) and of op(B) for row-major storage; callers check bounds.
__device__ __forceinline__ float load_op_a(const GemmDescriptor& p, int row, int col) {
  return (p.flags & kTransposeA) != 0 ? p.a[static_cast<int64_t>(col) * p.lda + row]
                                      : p.a[static_cast<int64_t>(row) * p.lda + col];
}
__device__ __forceinline__ float load_op_b(const GemmDescriptor& p, int row, int col) {
  return (p.flags & kTransposeB) != 0 ? p.b[static_cast<int64_t>(col) * p.ldb + row]
                                      : p.b[static_cast<int64_t>(row) * p.ldb + col];
}

// C = alpha * product + beta * C for one element. beta == 0 means C is output only: it is
// never read, so NaN or garbage there is ignored (as BLAS does). With K == 0 the product
// is empty: C = beta * C.
__device__ __forceinline__ void store_c(const GemmDescriptor& p, int k, int row, int col, float product) {
  float* c = p.c + static_cast<int64_t>(row) * p.ldc + col;
  float value = k > 0 ? p.alpha * product : 0.0f;
  if (p.beta != 0.0f) value += p.beta * *c;
  *c = value;
}
#endif

// The TF32 tensor-core form (grouped_gemm_tf32_cuda.cu); grouped_gemm_cuda dispatches to it.
// The problems are validated.
void launch_grouped_gemm_tf32(std::span<const GemmProblem> problems, cudaStream_t stream);

}  // namespace gpu_tune::kernels::cuda_detail
