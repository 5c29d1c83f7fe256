// Grouped GEMM on the tensor cores in TF32 (WMMA m16n16k8, FP32 sums): one launch covers
// every problem of the span, as the FP32 form does.
//
// Napkin math: an H100 does about 495 TFLOP/s dense TF32 on its tensor cores against
// 67 FP32 on its CUDA cores, so the layer GEMMs of a bundle, which are most of its
// arithmetic, can run several times faster if operands reach the tensor cores fast
// enough. A 64x64 block tile with K-steps of 32 reads 2 x 64 x 32 floats from global
// memory for 2 x 64 x 64 x 32 flops (32 flops per float, 8 per byte): below the H100's
// ~150 flops per byte of DRAM bandwidth, but the bundle's weights and activations are
// small and mostly hit L2 (50 MB). The 64-row tile matches batch 64, the most common
// minibatch; larger tiles would waste most of a block on the 10-column output layer.
//
// Layout: 8 warps, each owning 32x16 outputs of the tile as 2x1 fragments of 16x16 (with
// 4 warps of 2x2 fragments the unrolled tile loads need 128 registers and spill).
// Operands are rounded to TF32 (cvt.rna, as round_to_tf32 does on the CPU) when they are
// stored to shared memory, so the fragments hold exactly what the CPU emulation uses.
//
// Determinism: each output's sum runs in one warp's fragment in a fixed order of K steps;
// no split-K, no atomics.
#include <cuda_runtime_api.h>  // cudaStream_t
#include <mma.h>               // nvcuda::wmma

#include "kernels/cuda_check.h"
#include "kernels/cuda_problem_batch.cuh"
#include "kernels/grouped_gemm.h"
#include "kernels/grouped_gemm_descriptor.cuh"

namespace gpu_tune::kernels::cuda_detail {

namespace {

constexpr int kTileM = 64;
constexpr int kTileN = 64;
constexpr int kTileK = 32;
constexpr int kFragment = 16;    // WMMA tile side for M and N
constexpr int kFragmentK = 8;    // WMMA K for TF32
constexpr int kWarpTileM = 32;   // each warp computes 32 x 16 outputs: 2 x 1 fragments
constexpr int kWarpTileN = 16;
constexpr int kWarpsM = kTileM / kWarpTileM;
constexpr int kWarpsN = kTileN / kWarpTileN;
constexpr int kThreads = kWarpsM * kWarpsN * 32;
constexpr int kFragmentsM = kWarpTileM / kFragment;
constexpr int kFragmentsN = kWarpTileN / kFragment;
// Row strides of the shared tiles. WMMA needs a multiple of 4 floats (16 bytes); +4
// rather than +0 spreads consecutive rows over different banks.
constexpr int kStrideA = kTileK + 4;  // A tile: kTileM rows of kTileK
constexpr int kStrideB = kTileN + 4;  // B tile: kTileK rows of kTileN
constexpr int kStrideC = kTileN + 4;  // C tile: kTileM rows of kTileN (reuses the operand space)
constexpr int kElementsA = kTileM * kStrideA;
constexpr int kElementsB = kTileK * kStrideB;
constexpr int kSharedFloats = kElementsA + kElementsB;
static_assert(kTileM * kStrideC <= kSharedFloats, "the C tile must fit in the operand space");
static_assert((kElementsA * sizeof(float)) % 32 == 0, "WMMA needs 256-bit aligned fragment pointers");
static_assert((kTileM * kTileK) % kThreads == 0 && (kTileK * kTileN) % kThreads == 0);

// op(A)[row0 .. +64) x [k0 .. +32) into a[i * kStrideA + kk], rounded to TF32, zeros
// outside the matrix. Consecutive threads read consecutive addresses in either layout.
__device__ __forceinline__ void load_a_tile(const GemmDescriptor& p, int m, int k, int row0, int k0, float* a) {
  const bool transposed = (p.flags & kTransposeA) != 0;
#pragma unroll
  for (int load = 0; load < kTileM * kTileK / kThreads; ++load) {
    const int index = static_cast<int>(threadIdx.x) + load * kThreads;
    const int i = transposed ? index % kTileM : index / kTileK;
    const int kk = transposed ? index / kTileM : index % kTileK;
    const int row = row0 + i, col = k0 + kk;
    const float value = row < m && col < k ? load_op_a(p, row, col) : 0.0f;
    a[i * kStrideA + kk] = nvcuda::wmma::__float_to_tf32(value);
  }
}

// op(B)[k0 .. +32) x [col0 .. +64) into b[kk * kStrideB + j], rounded to TF32.
__device__ __forceinline__ void load_b_tile(const GemmDescriptor& p, int k, int k0, int col0, float* b) {
  const bool transposed = (p.flags & kTransposeB) != 0;
#pragma unroll
  for (int load = 0; load < kTileK * kTileN / kThreads; ++load) {
    const int index = static_cast<int>(threadIdx.x) + load * kThreads;
    const int j = transposed ? index / kTileK : index % kTileN;
    const int kk = transposed ? index % kTileK : index / kTileN;
    const int row = k0 + kk, col = col0 + j;
    const float value = row < k && col < p.n ? load_op_b(p, row, col) : 0.0f;
    b[kk * kStrideB + j] = nvcuda::wmma::__float_to_tf32(value);
  }
}

// At least 3 blocks per SM (24 warps): 80 registers, no spills (sm_90, ptxas -v); without
// the bound ptxas takes 106 and only 2 blocks fit.
__global__ void __launch_bounds__(kThreads, 3) grouped_gemm_tf32_kernel(const __grid_constant__ GemmBatch batch) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using namespace nvcuda;
  __shared__ __align__(128) float shared[kSharedFloats];
  float* a_tile = shared;
  float* b_tile = shared + kElementsA;

  const int problem = find_problem(batch, static_cast<int>(blockIdx.x));
  const GemmDescriptor& p = batch.problems[problem];
  const int tile = static_cast<int>(blockIdx.x) - batch.first_block[problem];
  const int row0 = (tile / p.tiles_n) * kTileM;
  const int col0 = (tile % p.tiles_n) * kTileN;
  const int m = run_time_m(p), k = run_time_k(p);
  if (row0 >= m) return;  // the whole block: this step's minibatch is smaller than the bound

  const int warp = static_cast<int>(threadIdx.x) / 32;
  const int warp_row = (warp / kWarpsN) * kWarpTileM;
  const int warp_col = (warp % kWarpsN) * kWarpTileN;

  wmma::fragment<wmma::accumulator, kFragment, kFragment, kFragmentK, float> acc[kFragmentsM][kFragmentsN];
#pragma unroll
  for (int i = 0; i < kFragmentsM; ++i)
#pragma unroll
    for (int j = 0; j < kFragmentsN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  for (int k0 = 0; k0 < k; k0 += kTileK) {
    load_a_tile(p, m, k, row0, k0, a_tile);
    load_b_tile(p, k, k0, col0, b_tile);
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; kk += kFragmentK) {
      wmma::fragment<wmma::matrix_a, kFragment, kFragment, kFragmentK, wmma::precision::tf32, wmma::row_major>
          a[kFragmentsM];
      wmma::fragment<wmma::matrix_b, kFragment, kFragment, kFragmentK, wmma::precision::tf32, wmma::row_major>
          b[kFragmentsN];
#pragma unroll
      for (int i = 0; i < kFragmentsM; ++i)
        wmma::load_matrix_sync(a[i], a_tile + (warp_row + i * kFragment) * kStrideA + kk, kStrideA);
#pragma unroll
      for (int j = 0; j < kFragmentsN; ++j)
        wmma::load_matrix_sync(b[j], b_tile + kk * kStrideB + warp_col + j * kFragment, kStrideB);
#pragma unroll
      for (int i = 0; i < kFragmentsM; ++i)
#pragma unroll
        for (int j = 0; j < kFragmentsN; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }

  // Through shared memory to C: the fragments' element layout is opaque, and the bounds,
  // alpha and beta are applied per element with coalesced writes.
  float* c_tile = shared;
#pragma unroll
  for (int i = 0; i < kFragmentsM; ++i)
#pragma unroll
    for (int j = 0; j < kFragmentsN; ++j)
      wmma::store_matrix_sync(c_tile + (warp_row + i * kFragment) * kStrideC + warp_col + j * kFragment, acc[i][j],
                              kStrideC, wmma::mem_row_major);
  __syncthreads();
#pragma unroll 4
  for (int index = static_cast<int>(threadIdx.x); index < kTileM * kTileN; index += kThreads) {
    const int row = row0 + index / kTileN, col = col0 + index % kTileN;
    if (row < m && col < p.n) store_c(p, k, row, col, c_tile[(index / kTileN) * kStrideC + index % kTileN]);
  }
#else
  (void)batch;
  __trap();  // the host refuses TF32 below compute capability 8.0; reaching here is a bug
#endif
}

}  // namespace

void launch_grouped_gemm_tf32(std::span<const GemmProblem> problems, cudaStream_t stream) {
  auto launch = [stream](const GemmBatch& batch) {
    grouped_gemm_tf32_kernel<<<batch.first_block[batch.count], kThreads, 0, stream>>>(batch);
    GPU_TUNE_CUDA_CHECK_LAUNCH(grouped_gemm_tf32_kernel, stream);
  };
  BatchLauncher<GemmDescriptor, decltype(launch)> launcher(launch);
  for (size_t i = 0; i < problems.size(); ++i) {
    const GemmProblem& q = problems[i];
    if (q.m == 0 || q.n == 0) continue;  // nothing to write
    const GemmDescriptor d = make_gemm_descriptor(q, kTileN);
    launcher.add(d, ceil_div(q.m, kTileM) * d.tiles_n, "grouped_gemm (tf32)", i);
  }
  launcher.finish();
}

}  // namespace gpu_tune::kernels::cuda_detail
