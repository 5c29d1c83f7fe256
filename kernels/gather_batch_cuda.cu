// Minibatch gather on the GPU: one block per (problem, chunk of rows). Each row is one
// dataset image picked by the slot's own index, copied pixel by pixel as
// x = pixel * scale + shift, and its label.
//
// Napkin math: 64 slots at batch 64 of 784-pixel images read 3.2 MB and write 12.8 MB per
// step, ~5 us at 3.35 TB/s; a block of 256 threads over 8 rows (6272 pixels, ~25 per
// thread) reads each image row as contiguous bytes and writes contiguous floats.
//
// The multiply and the add are rounded separately (__fmul_rn, __fadd_rn: never fused),
// as the CPU form rounds them, so both forms produce the same bits.
#include <cuda_runtime_api.h>  // cudaStream_t

#include <stdexcept>
#include <string>

#include "kernels/cuda_check.h"
#include "kernels/cuda_problem_batch.cuh"
#include "kernels/gather_batch.h"

namespace gpu_tune::kernels {

namespace {

using cuda_detail::BatchLauncher;
using cuda_detail::ceil_div;
using cuda_detail::find_problem;

constexpr int kThreads = 256;
constexpr int kRowsPerBlock = 8;

struct GatherDescriptor {
  const uint8_t* images;
  const uint8_t* labels;
  const int32_t* indices;
  float* out;
  int32_t* out_labels;
  const int32_t* dynamic_rows;
  const int64_t* dynamic_index_offset;
  int rows, features;
  float scale, shift;
};
using GatherBatch = cuda_detail::ProblemBatch<GatherDescriptor>;
static_assert(sizeof(GatherBatch) <= cuda_detail::kKernelParameterBudget);

__global__ void __launch_bounds__(kThreads) gather_batch_kernel(const __grid_constant__ GatherBatch batch) {
  const int problem = find_problem(batch, static_cast<int>(blockIdx.x));
  const GatherDescriptor& p = batch.problems[problem];
  const int first_row = (static_cast<int>(blockIdx.x) - batch.first_block[problem]) * kRowsPerBlock;
  const int last_row = min(first_row + kRowsPerBlock, run_time_size(p.dynamic_rows, p.rows));
  const int32_t* indices = p.indices + run_time_value(p.dynamic_index_offset, int64_t{0});
  for (int r = first_row; r < last_row; ++r) {
    const int64_t image = indices[r];
    const uint8_t* src = p.images + image * p.features;
    float* dst = p.out + static_cast<int64_t>(r) * p.features;
    for (int f = static_cast<int>(threadIdx.x); f < p.features; f += kThreads)
      dst[f] = __fadd_rn(__fmul_rn(static_cast<float>(src[f]), p.scale), p.shift);
    if (threadIdx.x == 0) p.out_labels[r] = p.labels[image];
  }
}

[[noreturn]] void fail(size_t index, const std::string& what) {
  throw std::invalid_argument("gather_batch problem " + std::to_string(index) + ": " + what);
}

}  // namespace

void gather_batch_cuda(std::span<const GatherProblem> problems, cudaStream_t stream) {
  for (size_t i = 0; i < problems.size(); ++i) {
    const GatherProblem& q = problems[i];
    if (q.rows < 0 || q.features < 0)
      fail(i, "negative shape " + std::to_string(q.rows) + " x " + std::to_string(q.features));
    if (q.rows == 0) continue;
    if (q.indices == nullptr || q.labels == nullptr || q.out_labels == nullptr) fail(i, "null indices or labels");
    if (q.features > 0 && (q.images == nullptr || q.out == nullptr)) fail(i, "null images or out");
  }
  auto launch = [stream](const GatherBatch& batch) {
    gather_batch_kernel<<<batch.first_block[batch.count], kThreads, 0, stream>>>(batch);
    GPU_TUNE_CUDA_CHECK_LAUNCH(gather_batch_kernel, stream);
  };
  BatchLauncher<GatherDescriptor, decltype(launch)> launcher(launch);
  for (size_t i = 0; i < problems.size(); ++i) {
    const GatherProblem& q = problems[i];
    const GatherDescriptor d{q.images,       q.labels,   q.indices,    q.out,     q.out_labels, q.dynamic_rows,
                             q.dynamic_index_offset, q.rows, q.features, q.scale, q.shift};
    launcher.add(d, ceil_div(q.rows, kRowsPerBlock), "gather_batch", i);
  }
  launcher.finish();
}

}  // namespace gpu_tune::kernels
