// Convolution on the GPU as implicit GEMM: the im2col operand is computed from the image
// while a tile is loaded into shared memory, never materialised in global memory.
//
//   forward          Y[rows, Cout] = im2col(X) * W                   rows = images * OH * OW
//   data gradient    dX[images * H * W, Cin] = im2col'(dY) * W'
//                    (a convolution of dY with padding K - 1 - padding, output H x W, and
//                    the flipped, transposed weights W'[(kh, kw, co), ci] =
//                    W[(K-1-kh, K-1-kw, ci), co], read through index arithmetic)
//   weight gradient  dW[K*K*Cin, Cout] = im2col(X)^T * dY, a sum over rows split into
//                    blocks of rows (partial sums in the workspace), added in a fixed order
//                    by a second pass
//
// Napkin math: the layers of our CNNs have 1..64 input channels, 16..128 output channels,
// 3x3 or 5x5 kernels and 28x28 or 14x14 images, so at batch 64 a forward call has
// 12544..50176 rows, K = K*K*Cin of 9..1600 and N = Cout. The tile is the FP32 grouped
// GEMM's (grouped_gemm_cuda.cu): 64x64 outputs per block of 256 threads, 4x4 each, K steps
// of 16; a few thousand row tiles per slot keep every SM busy, and the weight gradient's
// split over rows turns its short M x N (K*K*Cin x Cout) into enough blocks too.
//
// Index math: each thread's im2col rows (output pixels) are fixed for the whole block in
// the forward and data-gradient kernels, so they are decomposed into (image, oh, ow) once;
// per K step only the column (kh, kw, ci) is decomposed, once per thread. In the weight
// gradient the roles swap (the thread's patch column is fixed, its rows move).
//
// Precision: kFp32 multiplies on the CUDA cores with FMA. kTf32 rounds both operands with
// round_to_tf32 as they are stored to shared memory and then runs the same FP32 path: the
// tensor cores' arithmetic (products of TF32 values are exact in FP32, sums in FP32),
// emulated on the CUDA cores. A WMMA form is a later improvement.
//
// Determinism: every output of the forward and data-gradient kernels is summed by one
// thread in order of K. The weight gradient's blocks of rows are fixed by the problem's
// bound (conv2d_weight_grad_workspace), each block's sum runs in one thread in order of
// rows, and the second pass adds the blocks' partial sums in block order. No atomics: the
// results are run-to-run identical and do not depend on the other problems of a call.
#include <cuda_runtime_api.h>  // cudaStream_t

#include <algorithm>
#include <climits>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_problem_batch.cuh"

namespace gpu_tune::kernels {

namespace {

using cuda_detail::BatchLauncher;
using cuda_detail::ceil_div;
using cuda_detail::find_problem;

constexpr int kTileM = 64;
constexpr int kTileN = 64;
constexpr int kTileK = 16;
constexpr int kThreadsPerSide = 16;  // 16 x 16 threads, each 4 x 4 outputs
constexpr int kThreads = kThreadsPerSide * kThreadsPerSide;
constexpr int kOutputsPerThread = 4;
constexpr int kPad = 4;  // shared rows padded as in grouped_gemm_cuda.cu (banks, float4 alignment)
constexpr int kLoadsPerThread = kTileM * kTileK / kThreads;
static_assert(kTileM == kThreadsPerSide * kOutputsPerThread && kTileN == kThreadsPerSide * kOutputsPerThread);
// The tile loaders map threads to elements assuming these: square tiles, 4 loads per
// thread per operand, a thread per (K step row, 16th of the tile) and per (tile row, 4 loads).
static_assert(kTileN == kTileM && kLoadsPerThread == 4);
static_assert(kThreads == kTileK * kThreadsPerSide && kThreads == kTileM * kLoadsPerThread);
constexpr int kReduceThreads = 256;

using ATile = float[kTileK][kTileM + kPad];
using BTile = float[kTileK][kTileN + kPad];

// ---- per-element index math ------------------------------------------------------------

// A row of im2col: output pixel (oh, ow) of image n.
struct OutputPixel {
  int n, oh, ow;
};

__device__ __forceinline__ OutputPixel output_pixel(const ConvGeometry& g, int row) {
  const int ow = row % g.out_width();
  const int rest = row / g.out_width();
  return {rest / g.out_height(), rest % g.out_height(), ow};
}

// The next row's pixel, without a division.
__device__ __forceinline__ void advance(const ConvGeometry& g, OutputPixel& p) {
  if (++p.ow < g.out_width()) return;
  p.ow = 0;
  if (++p.oh < g.out_height()) return;
  p.oh = 0;
  ++p.n;
}

// The source pixels that one im2col row reads: the top-left corner (top, left) of its
// K x K window, possibly in the padding, and the offset that corner would have in the
// source. Element (kh, kw, ci) of the row is then at offset + PatchColumn::offset.
// Offsets are 32-bit: the host checks that every tensor has fewer than 2^31 elements.
struct PatchWindow {
  int top, left, offset;
};

__device__ __forceinline__ PatchWindow patch_window(const ConvGeometry& g, const OutputPixel& pixel) {
  const int top = pixel.oh - g.padding, left = pixel.ow - g.padding;
  return {top, left, ((pixel.n * g.height + top) * g.width + left) * g.in_channels};
}

// A column of im2col: kernel tap (kh, kw) and input channel ci, column = (kh*K + kw)*Cin + ci,
// with its offset from a window's corner.
struct PatchColumn {
  int kh, kw, ci, offset;
};

__device__ __forceinline__ PatchColumn patch_column(const ConvGeometry& g, int column) {
  const int ci = column % g.in_channels;
  const int tap = column / g.in_channels;
  const int kh = tap / g.kernel, kw = tap % g.kernel;
  return {kh, kw, ci, (kh * g.width + kw) * g.in_channels + ci};
}

// im2col(source)[row of `window`, `column`]: zero where the patch reaches into the padding.
// The same value as im2col_element, with the decompositions done once by the caller.
__device__ __forceinline__ float patch_element(const ConvGeometry& g, const float* source, const PatchWindow& window,
                                               const PatchColumn& column) {
  const int h = window.top + column.kh, w = window.left + column.kw;
  if (h < 0 || h >= g.height || w < 0 || w >= g.width) return 0.0f;
  return source[window.offset + column.offset];
}

// The geometry whose forward convolution is the data gradient of `g`: dY (OH x OW x Cout)
// convolved with padding K - 1 - padding gives H x W x Cin.
GPU_TUNE_HD ConvGeometry data_gradient_view(const ConvGeometry& g) {
  ConvGeometry v;
  v.height = g.out_height();
  v.width = g.out_width();
  v.in_channels = g.out_channels;
  v.out_channels = g.in_channels;
  v.kernel = g.kernel;
  v.padding = g.kernel - 1 - g.padding;
  return v;
}

// W'[column, ci] of the data gradient, W' being W flipped and transposed. `column` is the
// view's patch column (kh, kw, co) with co an output channel of the original convolution;
// `view` is data_gradient_view(g), so view.out_channels = Cin and view.in_channels = Cout.
__device__ __forceinline__ float flipped_weight(const ConvGeometry& view, const float* weights,
                                                const PatchColumn& column, int ci) {
  const int flipped_tap = (view.kernel - 1 - column.kh) * view.kernel + (view.kernel - 1 - column.kw);
  return weights[(flipped_tap * view.out_channels + ci) * view.in_channels + column.ci];
}

// What a shared-memory operand holds: the value itself (kFp32) or its TF32 rounding.
template <bool kTf32>
__device__ __forceinline__ float operand(float x) {
  if constexpr (kTf32) {
    return round_to_tf32(x);
  } else {
    return x;
  }
}

// One K step of the thread's 4x4 outputs: acc[i][j] += sum over kk of
// a_tile[kk][its row i] * b_tile[kk][its column j], in order of kk.
__device__ __forceinline__ void multiply_tiles(const ATile& a_tile, const BTile& b_tile, int ty, int tx,
                                               float (&acc)[kOutputsPerThread][kOutputsPerThread]) {
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
}

// ---- forward and data gradient: one implicit-GEMM kernel --------------------------------

// One problem of the implicit GEMM out[rows, view.out_channels] = im2col_view(source) * B,
// B = W (forward) or W' (data gradient); rows = images * view.out_height() * view.out_width().
struct ConvDescriptor {
  const float* source;
  const float* weights;
  float* out;
  const int32_t* dynamic_images;
  ConvGeometry view;
  int images;   // the bound
  int tiles_n;  // column tiles, to turn a block's tile number into (row tile, column tile)
};
using ConvBatch = cuda_detail::ProblemBatch<ConvDescriptor>;
static_assert(sizeof(ConvBatch) <= cuda_detail::kKernelParameterBudget);

// im2col rows [row0, +64) x columns [k0, +16) into a_tile[kk][i]. Thread t loads column
// k0 + t % 16 (consecutive threads: consecutive channels, contiguous in NHWC) of rows
// row0 + t / 16 + 16 * load, whose windows it found once (`windows`, `row_valid`).
template <bool kTf32>
__device__ __forceinline__ void load_patch_tile(const ConvGeometry& g, const float* source,
                                                const PatchWindow (&windows)[kLoadsPerThread],
                                                const bool (&row_valid)[kLoadsPerThread], const PatchColumn& column,
                                                bool column_valid, ATile& a_tile) {
  const int kk = static_cast<int>(threadIdx.x) % kTileK;
#pragma unroll
  for (int load = 0; load < kLoadsPerThread; ++load) {
    const int i = static_cast<int>(threadIdx.x) / kTileK + load * kThreadsPerSide;
    const float value = row_valid[load] && column_valid ? patch_element(g, source, windows[load], column) : 0.0f;
    a_tile[kk][i] = operand<kTf32>(value);
  }
}

// W[k0 .. +16) x [col0 .. +64) into b_tile[kk][j]; consecutive threads read consecutive
// output channels.
template <bool kTf32>
__device__ __forceinline__ void load_weight_tile(const ConvDescriptor& p, int k, int k0, int col0, BTile& b_tile) {
  const int n = p.view.out_channels;
#pragma unroll
  for (int load = 0; load < kLoadsPerThread; ++load) {
    const int index = static_cast<int>(threadIdx.x) + load * kThreads;
    const int j = index % kTileN, kk = index / kTileN;
    const int row = k0 + kk, col = col0 + j;
    const float value = row < k && col < n ? p.weights[row * n + col] : 0.0f;
    b_tile[kk][j] = operand<kTf32>(value);
  }
}

// W'[k0 .. +16) x [col0 .. +64) into b_tile[kk][j]. Thread t takes row k0 + t % 16 (the
// same patch column it loads for A, already decomposed) so that consecutive threads read
// consecutive output channels co of W, and columns col0 + t / 16 + 16 * load.
template <bool kTf32>
__device__ __forceinline__ void load_flipped_weight_tile(const ConvDescriptor& p, const PatchColumn& column,
                                                         bool column_valid, int col0, BTile& b_tile) {
  const int kk = static_cast<int>(threadIdx.x) % kTileK;
#pragma unroll
  for (int load = 0; load < kLoadsPerThread; ++load) {
    const int j = static_cast<int>(threadIdx.x) / kTileK + load * kThreadsPerSide;
    const int ci = col0 + j;
    const float value = column_valid && ci < p.view.out_channels ? flipped_weight(p.view, p.weights, column, ci) : 0.0f;
    b_tile[kk][j] = operand<kTf32>(value);
  }
}

// One 64x64 output tile per block. Blocks past the run-time rows (a smaller minibatch
// than the bound) return at once and write nothing.
// At least 4 blocks per SM, as the grouped GEMM: 63-64 registers, no spills (sm_90, ptxas -v).
template <bool kDataGradient, bool kTf32>
__global__ void __launch_bounds__(kThreads, 4) implicit_gemm_kernel(const __grid_constant__ ConvBatch batch) {
  __shared__ __align__(16) ATile a_tile;
  __shared__ __align__(16) BTile b_tile;

  const int problem = find_problem(batch, static_cast<int>(blockIdx.x));
  const ConvDescriptor& p = batch.problems[problem];
  const ConvGeometry& g = p.view;
  const int tile = static_cast<int>(blockIdx.x) - batch.first_block[problem];
  const int row0 = (tile / p.tiles_n) * kTileM;
  const int col0 = (tile % p.tiles_n) * kTileN;
  const int m = run_time_size(p.dynamic_images, p.images) * g.out_height() * g.out_width();  // < 2^31, host-checked
  if (row0 >= m) return;
  const int n = g.out_channels, k = g.patch_size();

  PatchWindow windows[kLoadsPerThread];
  bool row_valid[kLoadsPerThread];
#pragma unroll
  for (int load = 0; load < kLoadsPerThread; ++load) {
    const int row = row0 + static_cast<int>(threadIdx.x) / kTileK + load * kThreadsPerSide;
    row_valid[load] = row < m;
    windows[load] = patch_window(g, output_pixel(g, row_valid[load] ? row : 0));
  }

  const int tx = static_cast<int>(threadIdx.x) % kThreadsPerSide;
  const int ty = static_cast<int>(threadIdx.x) / kThreadsPerSide;
  float acc[kOutputsPerThread][kOutputsPerThread] = {};
  for (int k0 = 0; k0 < k; k0 += kTileK) {
    const int column_index = k0 + static_cast<int>(threadIdx.x) % kTileK;
    const bool column_valid = column_index < k;
    const PatchColumn column = patch_column(g, column_valid ? column_index : 0);
    load_patch_tile<kTf32>(g, p.source, windows, row_valid, column, column_valid, a_tile);
    if constexpr (kDataGradient) {
      load_flipped_weight_tile<kTf32>(p, column, column_valid, col0, b_tile);
    } else {
      load_weight_tile<kTf32>(p, k, k0, col0, b_tile);
    }
    __syncthreads();
    multiply_tiles(a_tile, b_tile, ty, tx, acc);
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < kOutputsPerThread; ++i) {
    const int row = row0 + ty * kOutputsPerThread + i;
    if (row >= m) break;
#pragma unroll
    for (int j = 0; j < kOutputsPerThread; ++j) {
      const int col = col0 + tx * kOutputsPerThread + j;
      if (col >= n) break;
      p.out[row * n + col] = acc[i][j];
    }
  }
}

// ---- weight gradient: partial sums over blocks of rows, then a fixed-order reduction ----

struct WeightGradDescriptor {
  const float* input;
  const float* output_grad;
  float* partials;  // splits x weight_count; the weight gradient itself when splits == 1
  const int32_t* dynamic_images;
  ConvGeometry geometry;
  int images;          // the bound
  int rows_per_split;  // ceil(bound rows / splits)
  int tiles_m, tiles_n;
};
using WeightGradBatch = cuda_detail::ProblemBatch<WeightGradDescriptor>;
static_assert(sizeof(WeightGradBatch) <= cuda_detail::kKernelParameterBudget);

// im2col^T [m0 .. +64) x rows [r0 .. +16) into a_tile[kk][i]. Thread t takes patch column
// m0 + t % 64 (consecutive threads: consecutive channels; decomposed once per block) and
// the 4 consecutive rows r0 + 4 * (t / 64) + load, stepping the pixel instead of dividing.
template <bool kTf32>
__device__ __forceinline__ void load_patch_transposed_tile(const WeightGradDescriptor& p, const PatchColumn& column,
                                                           bool column_valid, int r0, int row_end, ATile& a_tile) {
  const ConvGeometry& g = p.geometry;
  const int i = static_cast<int>(threadIdx.x) % kTileM;
  const int kk0 = static_cast<int>(threadIdx.x) / kTileM * kLoadsPerThread;
  const int first_row = r0 + kk0;
  OutputPixel pixel = output_pixel(g, first_row < row_end ? first_row : 0);
#pragma unroll
  for (int load = 0; load < kLoadsPerThread; ++load) {
    const bool valid = column_valid && first_row + load < row_end;
    a_tile[kk0 + load][i] = operand<kTf32>(valid ? patch_element(g, p.input, patch_window(g, pixel), column) : 0.0f);
    advance(g, pixel);
  }
}

// dY rows [r0 .. +16) x output channels [n0 .. +64) into b_tile[kk][j].
template <bool kTf32>
__device__ __forceinline__ void load_output_grad_tile(const WeightGradDescriptor& p, int r0, int row_end, int n0,
                                                      BTile& b_tile) {
  const int cout = p.geometry.out_channels;
#pragma unroll
  for (int load = 0; load < kLoadsPerThread; ++load) {
    const int index = static_cast<int>(threadIdx.x) + load * kThreads;
    const int j = index % kTileN, kk = index / kTileN;
    const int row = r0 + kk, col = n0 + j;
    const float value = row < row_end && col < cout ? p.output_grad[row * cout + col] : 0.0f;
    b_tile[kk][j] = operand<kTf32>(value);
  }
}

// One 64x64 tile of dW over one block of rows per block: block number
// (split * tiles_m + tile_m) * tiles_n + tile_n. Rows past the run-time rows count as
// absent, so a split that lies wholly beyond them writes zeros: its partial sums must not
// keep a previous step's values, and the reduction adds every split.
// 64 registers, no spills (sm_90, ptxas -v).
template <bool kTf32>
__global__ void __launch_bounds__(kThreads, 4) weight_grad_partial_kernel(const __grid_constant__ WeightGradBatch batch) {
  __shared__ __align__(16) ATile a_tile;
  __shared__ __align__(16) BTile b_tile;

  const int problem = find_problem(batch, static_cast<int>(blockIdx.x));
  const WeightGradDescriptor& p = batch.problems[problem];
  const ConvGeometry& g = p.geometry;
  const int block = static_cast<int>(blockIdx.x) - batch.first_block[problem];
  const int tiles = p.tiles_m * p.tiles_n;
  const int split = block / tiles;
  const int m0 = (block % tiles) / p.tiles_n * kTileM;
  const int n0 = (block % tiles) % p.tiles_n * kTileN;
  const int rows = run_time_size(p.dynamic_images, p.images) * g.out_height() * g.out_width();
  const int row_begin = split * p.rows_per_split;
  const int row_end = min(row_begin + p.rows_per_split, rows);
  const int patch = g.patch_size(), cout = g.out_channels;

  const int column_index = m0 + static_cast<int>(threadIdx.x) % kTileM;
  const bool column_valid = column_index < patch;
  const PatchColumn column = patch_column(g, column_valid ? column_index : 0);

  const int tx = static_cast<int>(threadIdx.x) % kThreadsPerSide;
  const int ty = static_cast<int>(threadIdx.x) / kThreadsPerSide;
  float acc[kOutputsPerThread][kOutputsPerThread] = {};
  for (int r0 = row_begin; r0 < row_end; r0 += kTileK) {
    load_patch_transposed_tile<kTf32>(p, column, column_valid, r0, row_end, a_tile);
    load_output_grad_tile<kTf32>(p, r0, row_end, n0, b_tile);
    __syncthreads();
    multiply_tiles(a_tile, b_tile, ty, tx, acc);
    __syncthreads();
  }

  float* partial = p.partials + static_cast<int64_t>(split) * patch * cout;
#pragma unroll
  for (int i = 0; i < kOutputsPerThread; ++i) {
    const int row = m0 + ty * kOutputsPerThread + i;
    if (row >= patch) break;
#pragma unroll
    for (int j = 0; j < kOutputsPerThread; ++j) {
      const int col = n0 + tx * kOutputsPerThread + j;
      if (col >= cout) break;
      partial[row * cout + col] = acc[i][j];
    }
  }
}

struct ReduceDescriptor {
  const float* partials;  // splits x count
  float* out;             // count
  int count, splits;
};
using ReduceBatch = cuda_detail::ProblemBatch<ReduceDescriptor>;
static_assert(sizeof(ReduceBatch) <= cuda_detail::kKernelParameterBudget);

// out[e] = partials[0][e] + partials[1][e] + ... in split order: the fixed order that
// makes the weight gradient deterministic. One element per thread; the loads of a warp
// are contiguous in every split.
__global__ void __launch_bounds__(kReduceThreads) weight_grad_reduce_kernel(const __grid_constant__ ReduceBatch batch) {
  const int problem = find_problem(batch, static_cast<int>(blockIdx.x));
  const ReduceDescriptor& p = batch.problems[problem];
  const int e = (static_cast<int>(blockIdx.x) - batch.first_block[problem]) * kReduceThreads +
                static_cast<int>(threadIdx.x);
  if (e >= p.count) return;
  float sum = p.partials[e];
  for (int s = 1; s < p.splits; ++s) sum += p.partials[static_cast<int64_t>(s) * p.count + e];
  p.out[e] = sum;
}

// ---- host side ---------------------------------------------------------------------------

[[noreturn]] void fail(const char* op, size_t index, const std::string& what) {
  throw std::invalid_argument(std::string(op) + " problem " + std::to_string(index) + ": " + what);
}

std::string problem_name(const char* op, size_t index) { return std::string(op) + " problem " + std::to_string(index); }

// The checks every direction shares: the geometry, the image count, and sizes that the
// kernels index with 32-bit ints (every tensor's elements, with a tile of headroom so
// that the indices of a tile's last rows and columns do not overflow either).
void check_problem(const char* op, size_t index, int images, const ConvGeometry& g) {
  validate_conv_geometry(g, problem_name(op, index));
  if (images < 0) fail(op, index, "negative image count " + std::to_string(images));
  constexpr int64_t kLimit = INT_MAX - int64_t(kTileM) * kTileN;
  const int64_t largest = std::max({int64_t(images) * g.input_size(), int64_t(images) * g.output_size(), g.weight_count()});
  if (largest > kLimit)
    fail(op, index, "a tensor of " + std::to_string(largest) + " elements, too many for 32-bit indices");
}

void check_not_null(const char* op, size_t index, std::initializer_list<const void*> pointers, const char* names) {
  for (const void* pointer : pointers)
    if (pointer == nullptr) fail(op, index, std::string("null ") + names);
}

// Issues the implicit GEMM for descriptors whose problems have been checked; the kernel
// is picked by direction and precision (a function pointer, so that the launch stays one
// plain line for the emulated build).
void launch_implicit_gemm(const std::vector<ConvDescriptor>& descriptors, const std::vector<size_t>& indices,
                          bool data_gradient, GemmPrecision precision, cudaStream_t stream, const char* op) {
  const bool tf32 = precision == GemmPrecision::kTf32;
  void (*const conv2d_implicit_gemm_kernel)(const ConvBatch) =
      data_gradient ? (tf32 ? implicit_gemm_kernel<true, true> : implicit_gemm_kernel<true, false>)
                    : (tf32 ? implicit_gemm_kernel<false, true> : implicit_gemm_kernel<false, false>);
  auto launch = [stream, conv2d_implicit_gemm_kernel](const ConvBatch& batch) {
    conv2d_implicit_gemm_kernel<<<batch.first_block[batch.count], kThreads, 0, stream>>>(batch);
    GPU_TUNE_CUDA_CHECK_LAUNCH(conv2d_implicit_gemm_kernel, stream);
  };
  BatchLauncher<ConvDescriptor, decltype(launch)> launcher(launch);
  for (size_t d = 0; d < descriptors.size(); ++d) {
    const ConvDescriptor& c = descriptors[d];
    const int64_t rows = int64_t(c.images) * c.view.out_height() * c.view.out_width();
    launcher.add(c, ceil_div(rows, kTileM) * c.tiles_n, op, indices[d]);
  }
  launcher.finish();
}

void check_precision(const char* op, GemmPrecision precision) {
  if (precision != GemmPrecision::kFp32 && precision != GemmPrecision::kTf32)
    throw std::invalid_argument(std::string(op) + ": unknown precision " + std::to_string(static_cast<int>(precision)));
}

}  // namespace

void conv2d_forward_cuda(std::span<const Conv2dForward> problems, cudaStream_t stream, GemmPrecision precision) {
  constexpr const char* kOp = "conv2d_forward";
  check_precision(kOp, precision);
  for (size_t i = 0; i < problems.size(); ++i) {
    const Conv2dForward& q = problems[i];
    check_problem(kOp, i, q.images, q.geometry);
    if (q.images > 0) check_not_null(kOp, i, {q.input, q.weights, q.output}, "input, weights or output");
  }
  std::vector<ConvDescriptor> descriptors;
  std::vector<size_t> indices;
  for (size_t i = 0; i < problems.size(); ++i) {
    const Conv2dForward& q = problems[i];
    if (q.images == 0) continue;  // nothing to write
    descriptors.push_back({q.input, q.weights, q.output, q.dynamic_images, q.geometry, q.images,
                           static_cast<int>(ceil_div(q.geometry.out_channels, kTileN))});
    indices.push_back(i);
  }
  launch_implicit_gemm(descriptors, indices, /*data_gradient=*/false, precision, stream, kOp);
}

void conv2d_backward_data_cuda(std::span<const Conv2dBackwardData> problems, cudaStream_t stream,
                               GemmPrecision precision) {
  constexpr const char* kOp = "conv2d_backward_data";
  check_precision(kOp, precision);
  for (size_t i = 0; i < problems.size(); ++i) {
    const Conv2dBackwardData& q = problems[i];
    check_problem(kOp, i, q.images, q.geometry);
    if (q.images > 0) check_not_null(kOp, i, {q.output_grad, q.weights, q.input_grad}, "output_grad, weights or input_grad");
  }
  std::vector<ConvDescriptor> descriptors;
  std::vector<size_t> indices;
  for (size_t i = 0; i < problems.size(); ++i) {
    const Conv2dBackwardData& q = problems[i];
    if (q.images == 0) continue;
    const ConvGeometry view = data_gradient_view(q.geometry);
    descriptors.push_back({q.output_grad, q.weights, q.input_grad, q.dynamic_images, view, q.images,
                           static_cast<int>(ceil_div(view.out_channels, kTileN))});
    indices.push_back(i);
  }
  launch_implicit_gemm(descriptors, indices, /*data_gradient=*/true, precision, stream, kOp);
}

void conv2d_backward_weight_cuda(std::span<const Conv2dBackwardWeight> problems, cudaStream_t stream,
                                 GemmPrecision precision) {
  constexpr const char* kOp = "conv2d_backward_weight";
  check_precision(kOp, precision);
  for (size_t i = 0; i < problems.size(); ++i) {
    const Conv2dBackwardWeight& q = problems[i];
    check_problem(kOp, i, q.images, q.geometry);
    // Zero images still write the weight gradient (zeros), as the CPU form does.
    check_not_null(kOp, i, {q.weight_grad, q.workspace}, "weight_grad or workspace");
    if (q.images > 0) check_not_null(kOp, i, {q.input, q.output_grad}, "input or output_grad");
  }
  const bool tf32 = precision == GemmPrecision::kTf32;
  void (*const conv2d_weight_grad_partial_kernel)(const WeightGradBatch) =
      tf32 ? weight_grad_partial_kernel<true> : weight_grad_partial_kernel<false>;
  auto launch_partials = [stream, conv2d_weight_grad_partial_kernel](const WeightGradBatch& batch) {
    conv2d_weight_grad_partial_kernel<<<batch.first_block[batch.count], kThreads, 0, stream>>>(batch);
    GPU_TUNE_CUDA_CHECK_LAUNCH(conv2d_weight_grad_partial_kernel, stream);
  };
  auto launch_reduce = [stream](const ReduceBatch& batch) {
    weight_grad_reduce_kernel<<<batch.first_block[batch.count], kReduceThreads, 0, stream>>>(batch);
    GPU_TUNE_CUDA_CHECK_LAUNCH(weight_grad_reduce_kernel, stream);
  };
  // Every problem's partial sums first (one launch for the span), then every reduction:
  // the second pass reads what the first wrote, in stream order.
  BatchLauncher<WeightGradDescriptor, decltype(launch_partials)> partials(launch_partials);
  std::vector<std::pair<ReduceDescriptor, size_t>> reductions;
  for (size_t i = 0; i < problems.size(); ++i) {
    const Conv2dBackwardWeight& q = problems[i];
    const ConvGeometry& g = q.geometry;
    const int64_t weight_count = g.weight_count();
    // The split that conv2d_weight_grad_workspace sizes the workspace for.
    const int splits = static_cast<int>(conv2d_weight_grad_workspace(g, q.images) / weight_count);
    const int64_t rows = int64_t(q.images) * g.out_height() * g.out_width();
    WeightGradDescriptor d{};
    d.input = q.input;
    d.output_grad = q.output_grad;
    d.partials = splits > 1 ? q.workspace : q.weight_grad;  // one block of rows: no second pass
    d.dynamic_images = q.dynamic_images;
    d.geometry = g;
    d.images = q.images;
    d.rows_per_split = static_cast<int>(ceil_div(rows, splits));
    d.tiles_m = static_cast<int>(ceil_div(g.patch_size(), kTileM));
    d.tiles_n = static_cast<int>(ceil_div(g.out_channels, kTileN));
    partials.add(d, int64_t(d.tiles_m) * d.tiles_n * splits, kOp, i);
    if (splits > 1) reductions.push_back({{q.workspace, q.weight_grad, static_cast<int>(weight_count), splits}, i});
  }
  partials.finish();
  BatchLauncher<ReduceDescriptor, decltype(launch_reduce)> reduce(launch_reduce);
  for (const auto& [d, i] : reductions) reduce.add(d, ceil_div(d.count, kReduceThreads), kOp, i);
  reduce.finish();
}

}  // namespace gpu_tune::kernels
