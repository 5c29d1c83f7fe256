// Fused optimizer step on the GPU: every slot's flat parameter range in one launch,
// each element through the shared optimizer_update_element with the step constants the
// host computed by optimizer_step_constants, exactly as the CPU form does.
//
// Napkin math: Adam moves 5 floats (20 bytes in, 12 out) per parameter for ~15 flops,
// so the kernel is bound by memory: 64 slots of mlp_medium (235k parameters each) are
// ~0.5 GB per step, ~150 us at 3.35 TB/s. Blocks of 256 threads x 4 elements keep every
// access a warp-wide contiguous run. Element-wise: deterministic run to run.
//
// Built without FMA contraction: free for a memory-bound kernel, and every operation
// then rounds as the CPU form's does (sqrt and division are IEEE-exact on both).
#include <cuda_runtime_api.h>  // cudaStream_t

#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cuda_check.h"
#include "kernels/cuda_problem_batch.cuh"
#include "kernels/optimizer_update.h"

namespace gpu_tune::kernels {

namespace {

using cuda_detail::BatchLauncher;
using cuda_detail::ceil_div;
using cuda_detail::find_problem;

constexpr int kThreads = 256;
constexpr int kPerThread = 4;
constexpr int kChunk = kThreads * kPerThread;

struct OptimizerDescriptor {
  float* params;
  const float* grads;
  float* first_moment;
  float* second_moment;  // null for SGD
  int64_t count;
  OptimizerSettings settings;
  OptimizerStepConstants constants;
  const OptimizerStepConstants* dynamic_constants;  // replaces `constants` when set
};
using OptimizerBatch = cuda_detail::ProblemBatch<OptimizerDescriptor>;
static_assert(sizeof(OptimizerBatch) <= cuda_detail::kKernelParameterBudget);

__global__ void __launch_bounds__(kThreads) optimizer_update_kernel(const __grid_constant__ OptimizerBatch batch) {
  const int problem = find_problem(batch, static_cast<int>(blockIdx.x));
  const OptimizerDescriptor& p = batch.problems[problem];
  const int64_t chunk_start = static_cast<int64_t>(static_cast<int>(blockIdx.x) - batch.first_block[problem]) * kChunk;
  const bool has_second_moment = p.second_moment != nullptr;
  const OptimizerStepConstants constants = run_time_value(p.dynamic_constants, p.constants);
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    const int64_t e = chunk_start + i * kThreads + static_cast<int64_t>(threadIdx.x);
    if (e >= p.count) break;
    float param = p.params[e];
    float m = p.first_moment[e];
    float v = has_second_moment ? p.second_moment[e] : 0.0f;
    optimizer_update_element(p.settings, constants, param, p.grads[e], m, v);
    p.params[e] = param;
    p.first_moment[e] = m;
    if (has_second_moment) p.second_moment[e] = v;
  }
}

}  // namespace

void optimizer_update_cuda(std::span<const OptimizerProblem> problems, cudaStream_t stream) {
  validate_optimizer_problems(problems);
  auto launch = [stream](const OptimizerBatch& batch) {
    optimizer_update_kernel<<<batch.first_block[batch.count], kThreads, 0, stream>>>(batch);
    GPU_TUNE_CUDA_CHECK_LAUNCH(optimizer_update_kernel, stream);
  };
  BatchLauncher<OptimizerDescriptor, decltype(launch)> launcher(launch);
  for (size_t i = 0; i < problems.size(); ++i) {
    const OptimizerProblem& q = problems[i];
    if (q.count == 0) continue;
    const OptimizerDescriptor d{q.params,   q.grads,    q.first_moment, q.second_moment,
                                q.count,    q.settings, optimizer_step_constants(q.settings, q.step),
                                q.dynamic_constants};
    launcher.add(d, ceil_div(q.count, kChunk), "optimizer_update", i);
  }
  launcher.finish();
}

}  // namespace gpu_tune::kernels
