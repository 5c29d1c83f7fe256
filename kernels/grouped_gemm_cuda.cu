// Grouped FP32 GEMM on the CUDA cores: one launch covers every problem of the span.
//
// Napkin math for the tile: a bundle's problems are small and ragged (M = batch 1..1024,
// N and K = layer widths 10..1024, K = batch for the weight gradient), so the tile must
// be small enough that a 64-row batch does not waste most of it, yet give each thread
// enough outputs to reuse its shared-memory reads. 64x64 outputs per block, 256 threads,
// 4x4 outputs each: per K step a thread reads 4 + 4 values for 16 FMAs. A bundle of 64
// slots of mlp_medium at batch 64 has about 260 forward tiles and about 3300 weight-
// gradient tiles per layer: enough blocks for the 132 SMs of an H100 in every call.
//
// Determinism: each output element's sum over K runs in one thread in order of K (no
// split-K, no atomics), so results are run-to-run identical and do not depend on which
// other problems share the launch.
#include <cuda_runtime_api.h>  // cudaStream_t

#include "kernels/cuda_check.h"
#include "kernels/cuda_problem_batch.cuh"
#include "kernels/grouped_gemm.h"
#include "kernels/grouped_gemm_descriptor.cuh"

namespace gpu_tune::kernels {

namespace {

using cuda_detail::BatchLauncher;
using cuda_detail::ceil_div;
using cuda_detail::find_problem;
using cuda_detail::GemmBatch;
using cuda_detail::GemmDescriptor;
using cuda_detail::load_op_a;
using cuda_detail::load_op_b;

constexpr int kTileM = 64;
constexpr int kTileN = 64;
constexpr int kTileK = 16;
constexpr int kThreadsPerSide = 16;  // 16 x 16 threads, each 4 x 4 outputs
constexpr int kThreads = kThreadsPerSide * kThreadsPerSide;
constexpr int kOutputsPerThread = 4;
// Shared rows are padded by 4 floats: the transposed loads then hit two banks instead of
// one, and a row stays 16-byte aligned for the float4 reads.
constexpr int kPad = 4;
constexpr int kTileElements = kTileM * kTileK;        // per tile of A and of B
constexpr int kLoadsPerThread = kTileElements / kThreads;
static_assert(kTileM == kThreadsPerSide * kOutputsPerThread && kTileN == kThreadsPerSide * kOutputsPerThread);
static_assert(kTileN * kTileK == kTileElements && kTileElements % kThreads == 0);

// op(A)[row0 .. row0+64) x [k0 .. k0+16) into tile[kk][i]; zeros outside the matrix. The
// thread-to-element map follows the storage order so that a warp reads consecutive
// addresses in both layouts.
__device__ __forceinline__ void load_a_tile(const GemmDescriptor& p, int m, int k, int row0, int k0,
                                            float (&tile)[kTileK][kTileM + kPad]) {
  const bool transposed = (p.flags & cuda_detail::kTransposeA) != 0;
#pragma unroll
  for (int load = 0; load < kLoadsPerThread; ++load) {
    const int index = threadIdx.x + load * kThreads;
    const int i = transposed ? index % kTileM : index / kTileK;   // row of op(A) in the tile
    const int kk = transposed ? index / kTileM : index % kTileK;  // column of op(A) in the tile
    const int row = row0 + i, col = k0 + kk;
    tile[kk][i] = row < m && col < k ? load_op_a(p, row, col) : 0.0f;
  }
}

// op(B)[k0 .. k0+16) x [col0 .. col0+64) into tile[kk][j]; zeros outside the matrix.
__device__ __forceinline__ void load_b_tile(const GemmDescriptor& p, int k, int k0, int col0,
                                            float (&tile)[kTileK][kTileN + kPad]) {
  const bool transposed = (p.flags & cuda_detail::kTransposeB) != 0;
#pragma unroll
  for (int load = 0; load < kLoadsPerThread; ++load) {
    const int index = threadIdx.x + load * kThreads;
    const int j = transposed ? index / kTileK : index % kTileN;   // column of op(B) in the tile
    const int kk = transposed ? index % kTileK : index / kTileN;  // row of op(B) in the tile
    const int row = k0 + kk, col = col0 + j;
    tile[kk][j] = row < k && col < p.n ? load_op_b(p, row, col) : 0.0f;
  }
}

// __grid_constant__: the batch is read in place from the parameter space (no per-thread
// copy), which the dynamic problem index needs.
// At least 4 blocks per SM: 63 registers, no spills (sm_90, ptxas -v). Without the bound
// the run-time M and K let ptxas keep more addresses live (99 registers, 2 blocks).
__global__ void __launch_bounds__(kThreads, 4) grouped_gemm_kernel(const __grid_constant__ GemmBatch batch) {
  __shared__ __align__(16) float a_tile[kTileK][kTileM + kPad];
  __shared__ __align__(16) float b_tile[kTileK][kTileN + kPad];

  const int problem = find_problem(batch, static_cast<int>(blockIdx.x));
  const GemmDescriptor& p = batch.problems[problem];
  const int tile = static_cast<int>(blockIdx.x) - batch.first_block[problem];
  const int row0 = (tile / p.tiles_n) * kTileM;
  const int col0 = (tile % p.tiles_n) * kTileN;
  const int m = cuda_detail::run_time_m(p), k = cuda_detail::run_time_k(p);
  if (row0 >= m) return;  // the whole block: this step's minibatch is smaller than the bound
  const int tx = static_cast<int>(threadIdx.x) % kThreadsPerSide;
  const int ty = static_cast<int>(threadIdx.x) / kThreadsPerSide;

  float acc[kOutputsPerThread][kOutputsPerThread] = {};
  for (int k0 = 0; k0 < k; k0 += kTileK) {
    load_a_tile(p, m, k, row0, k0, a_tile);
    load_b_tile(p, k, k0, col0, b_tile);
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      const float4 a4 = *reinterpret_cast<const float4*>(&a_tile[kk][ty * kOutputsPerThread]);
      const float4 b4 = *reinterpret_cast<const float4*>(&b_tile[kk][tx * kOutputsPerThread]);
      const float a[kOutputsPerThread] = {a4.x, a4.y, a4.z, a4.w};
      const float b[kOutputsPerThread] = {b4.x, b4.y, b4.z, b4.w};
#pragma unroll
      for (int i = 0; i < kOutputsPerThread; ++i) {
#pragma unroll
        for (int j = 0; j < kOutputsPerThread; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < kOutputsPerThread; ++i) {
    const int row = row0 + ty * kOutputsPerThread + i;
    if (row >= m) break;
#pragma unroll
    for (int j = 0; j < kOutputsPerThread; ++j) {
      const int col = col0 + tx * kOutputsPerThread + j;
      if (col >= p.n) break;
      cuda_detail::store_c(p, k, row, col, acc[i][j]);
    }
  }
}

}  // namespace

void grouped_gemm_cuda(std::span<const GemmProblem> problems, cudaStream_t stream, GemmPrecision precision) {
  validate_gemm_problems(problems);
  if (precision == GemmPrecision::kTf32) {
    cuda_detail::launch_grouped_gemm_tf32(problems, stream);
    return;
  }
  auto launch = [stream](const GemmBatch& batch) {
    grouped_gemm_kernel<<<batch.first_block[batch.count], kThreads, 0, stream>>>(batch);
    GPU_TUNE_CUDA_CHECK_LAUNCH(grouped_gemm_kernel, stream);
  };
  BatchLauncher<GemmDescriptor, decltype(launch)> launcher(launch);
  for (size_t i = 0; i < problems.size(); ++i) {
    const GemmProblem& q = problems[i];
    if (q.m == 0 || q.n == 0) continue;  // nothing to write
    const GemmDescriptor d = cuda_detail::make_gemm_descriptor(q, kTileN);
    launcher.add(d, ceil_div(q.m, kTileM) * d.tiles_n, "grouped_gemm", i);
  }
  launcher.finish();
}

}  // namespace gpu_tune::kernels
