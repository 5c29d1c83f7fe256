// 2x2 max-pooling (stride 2) on the GPU, forward and backward, with the window's maximum
// chosen by max_pool_window_argmax, the function the CPU form uses: a maximum rounds
// nothing, so both forms agree bit for bit (NaN included).
//
// Napkin math: memory-bound (no arithmetic at all). The forward pass reads 4 floats and
// writes 1 per output; the backward pass runs one thread per input element, finds its
// window's maximum again from the input (4 reads, 3 of them cached for the window's other
// threads) and writes its gradient, so every input_grad element is written, zeros
// included, and no thread writes what another one does. 256 threads x 4 elements per
// block, each load a warp-wide contiguous run of channels.
#include <cuda_runtime_api.h>  // cudaStream_t

#include <climits>
#include <stdexcept>
#include <string>

#include "kernels/cuda_check.h"
#include "kernels/cuda_problem_batch.cuh"
#include "kernels/max_pool.h"

namespace gpu_tune::kernels {

namespace {

using cuda_detail::BatchLauncher;
using cuda_detail::ceil_div;
using cuda_detail::find_problem;

constexpr int kThreads = 256;
constexpr int kPerThread = 4;
constexpr int kChunk = kThreads * kPerThread;

struct PoolDescriptor {
  const float* input;
  const float* output_grad;  // backward only
  float* out;                // output (forward) or input_grad (backward)
  const int32_t* dynamic_images;
  PoolGeometry geometry;
  int images;  // the bound
};
using PoolBatch = cuda_detail::ProblemBatch<PoolDescriptor>;
static_assert(sizeof(PoolBatch) <= cuda_detail::kKernelParameterBudget);

// ---- per-element index math ------------------------------------------------------------

// Element (n, y, x, c) of an NHWC tensor of height x width x channels images, from its flat index.
struct Position {
  int n, y, x, c;
};

__device__ __forceinline__ Position position(int index, int height, int width, int channels) {
  const int c = index % channels;
  const int pixel = index / channels;
  const int x = pixel % width;
  const int rest = pixel / width;
  return {rest / height, rest % height, x, c};
}

__device__ __forceinline__ int64_t flat_index(const Position& p, int height, int width, int channels) {
  return ((static_cast<int64_t>(p.n) * height + p.y) * width + p.x) * channels + p.c;
}

// Offset of window element `index` (0..3, row-major, as max_pool_window_argmax counts).
__device__ __forceinline__ int64_t window_offset(int index, int64_t row_stride, int64_t column_stride) {
  return (index / 2) * row_stride + (index % 2) * column_stride;
}

// The elements of a problem that this step has: its run-time images, not the bound.
__device__ __forceinline__ int run_time_elements(const PoolDescriptor& p, int64_t per_image) {
  return static_cast<int>(run_time_size(p.dynamic_images, p.images) * per_image);  // < 2^31, host-checked
}

// ---- kernels ---------------------------------------------------------------------------

// One thread per output element: out[n, oh, ow, c] = the window's first maximum.
__global__ void __launch_bounds__(kThreads) max_pool_forward_kernel(const __grid_constant__ PoolBatch batch) {
  const int problem = find_problem(batch, static_cast<int>(blockIdx.x));
  const PoolDescriptor& p = batch.problems[problem];
  const PoolGeometry& g = p.geometry;
  const int elements = run_time_elements(p, g.output_size());
  const int chunk_start = (static_cast<int>(blockIdx.x) - batch.first_block[problem]) * kChunk;
  const int64_t row_stride = int64_t(g.width) * g.channels;
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    const int e = chunk_start + i * kThreads + static_cast<int>(threadIdx.x);
    if (e >= elements) return;
    Position window = position(e, g.out_height(), g.out_width(), g.channels);
    window.y *= 2;
    window.x *= 2;
    const float* origin = p.input + flat_index(window, g.height, g.width, g.channels);
    const int best = max_pool_window_argmax(origin, row_stride, g.channels);
    p.out[e] = origin[window_offset(best, row_stride, g.channels)];
  }
}

// One thread per input element: the output's gradient if this element is its window's
// first maximum, else zero; zero too in a row or column that an odd size drops.
__global__ void __launch_bounds__(kThreads) max_pool_backward_kernel(const __grid_constant__ PoolBatch batch) {
  const int problem = find_problem(batch, static_cast<int>(blockIdx.x));
  const PoolDescriptor& p = batch.problems[problem];
  const PoolGeometry& g = p.geometry;
  const int elements = run_time_elements(p, g.input_size());
  const int chunk_start = (static_cast<int>(blockIdx.x) - batch.first_block[problem]) * kChunk;
  const int64_t row_stride = int64_t(g.width) * g.channels;
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    const int e = chunk_start + i * kThreads + static_cast<int>(threadIdx.x);
    if (e >= elements) return;
    const Position at = position(e, g.height, g.width, g.channels);
    const Position out{at.n, at.y / 2, at.x / 2, at.c};
    float grad = 0.0f;
    if (out.y < g.out_height() && out.x < g.out_width()) {
      const int mine = (at.y % 2) * 2 + at.x % 2;  // this element's place in its window
      const float* origin = p.input + e - window_offset(mine, row_stride, g.channels);
      if (max_pool_window_argmax(origin, row_stride, g.channels) == mine)
        grad = p.output_grad[flat_index(out, g.out_height(), g.out_width(), g.channels)];
    }
    p.out[e] = grad;
  }
}

// ---- host side ---------------------------------------------------------------------------

[[noreturn]] void fail(const char* op, size_t index, const std::string& what) {
  throw std::invalid_argument(std::string(op) + " problem " + std::to_string(index) + ": " + what);
}

// Shape checks both directions share: a window that fits, and element counts that the
// kernels index with 32-bit ints.
void check_shape(const char* op, size_t index, int images, const PoolGeometry& g) {
  if (images < 0) fail(op, index, "negative image count " + std::to_string(images));
  if (g.height < 2 || g.width < 2 || g.channels < 1)
    fail(op, index, "image " + std::to_string(g.height) + "x" + std::to_string(g.width) + "x" +
                        std::to_string(g.channels) + " has no 2x2 window (height and width must be at least 2)");
  const int64_t elements = int64_t(images) * g.input_size();
  if (elements > INT_MAX - kChunk) fail(op, index, std::to_string(elements) + " input elements, more than 2^31 - 1");
}

}  // namespace

void max_pool_forward_cuda(std::span<const MaxPoolForward> problems, cudaStream_t stream) {
  constexpr const char* kOp = "max_pool_forward";
  for (size_t i = 0; i < problems.size(); ++i) {
    const MaxPoolForward& q = problems[i];
    check_shape(kOp, i, q.images, q.geometry);
    if (q.images > 0 && (q.input == nullptr || q.output == nullptr)) fail(kOp, i, "null input or output");
  }
  auto launch = [stream](const PoolBatch& batch) {
    max_pool_forward_kernel<<<batch.first_block[batch.count], kThreads, 0, stream>>>(batch);
    GPU_TUNE_CUDA_CHECK_LAUNCH(max_pool_forward_kernel, stream);
  };
  BatchLauncher<PoolDescriptor, decltype(launch)> launcher(launch);
  for (size_t i = 0; i < problems.size(); ++i) {
    const MaxPoolForward& q = problems[i];
    const PoolDescriptor d{q.input, nullptr, q.output, q.dynamic_images, q.geometry, q.images};
    launcher.add(d, ceil_div(int64_t(q.images) * q.geometry.output_size(), kChunk), kOp, i);
  }
  launcher.finish();
}

void max_pool_backward_cuda(std::span<const MaxPoolBackward> problems, cudaStream_t stream) {
  constexpr const char* kOp = "max_pool_backward";
  for (size_t i = 0; i < problems.size(); ++i) {
    const MaxPoolBackward& q = problems[i];
    check_shape(kOp, i, q.images, q.geometry);
    if (q.images > 0 && (q.input == nullptr || q.output_grad == nullptr || q.input_grad == nullptr))
      fail(kOp, i, "null input, output_grad or input_grad");
  }
  auto launch = [stream](const PoolBatch& batch) {
    max_pool_backward_kernel<<<batch.first_block[batch.count], kThreads, 0, stream>>>(batch);
    GPU_TUNE_CUDA_CHECK_LAUNCH(max_pool_backward_kernel, stream);
  };
  BatchLauncher<PoolDescriptor, decltype(launch)> launcher(launch);
  for (size_t i = 0; i < problems.size(); ++i) {
    const MaxPoolBackward& q = problems[i];
    const PoolDescriptor d{q.input, q.output_grad, q.input_grad, q.dynamic_images, q.geometry, q.images};
    launcher.add(d, ceil_div(int64_t(q.images) * q.geometry.input_size(), kChunk), kOp, i);
  }
  launcher.finish();
}

}  // namespace gpu_tune::kernels
