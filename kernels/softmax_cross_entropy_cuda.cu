// Softmax cross-entropy on the GPU: one block per problem, one thread per row, each row
// through the very softmax_cross_entropy_row the CPU form calls.
//
// Napkin math: the datasets here have 10 classes, so a row is ~30 exp/log and 40 bytes;
// a training problem is one minibatch (up to ~1024 rows) and an evaluation chunk 500 rows,
// i.e. at most a few rows per thread of a 256-thread block. A warp per row would only
// pay off at hundreds of classes, and would need a second, differently-ordered copy of the
// row math. One block per problem also makes the sums simple: the block reduces in a fixed
// order and one thread adds the result into the problem's MetricSums (a single writer per
// problem and launch, no atomics): deterministic run to run.
//
// Memory-bound and latency-bound, so built without FMA contraction (as the CPU form).
#include <cuda_runtime_api.h>  // cudaStream_t

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda_check.h"
#include "kernels/cuda_problem_batch.cuh"
#include "kernels/softmax_cross_entropy.h"

namespace gpu_tune::kernels {

namespace {

using cuda_detail::BatchLauncher;

constexpr int kThreads = 256;

struct SoftmaxDescriptor {
  const float* logits;
  const int32_t* labels;
  float* grad;
  MetricSums* sums;
  const int32_t* dynamic_rows;
  const float* dynamic_grad_scale;
  int rows, classes;
  float grad_scale;
};
using SoftmaxBatch = cuda_detail::ProblemBatch<SoftmaxDescriptor>;
static_assert(sizeof(SoftmaxBatch) <= cuda_detail::kKernelParameterBudget);

__global__ void __launch_bounds__(kThreads) softmax_cross_entropy_kernel(const __grid_constant__ SoftmaxBatch batch) {
  __shared__ double loss_partial[kThreads];
  __shared__ int correct_partial[kThreads];
  // One block per problem: the block index is the problem index.
  const SoftmaxDescriptor& p = batch.problems[blockIdx.x];
  const int tid = static_cast<int>(threadIdx.x);
  const int rows = run_time_size(p.dynamic_rows, p.rows);
  const float grad_scale = run_time_value(p.dynamic_grad_scale, p.grad_scale);

  double loss_sum = 0.0;
  int correct = 0;
  for (int r = tid; r < rows; r += kThreads) {
    const float* logits = p.logits + static_cast<int64_t>(r) * p.classes;
    float* grad = p.grad != nullptr ? p.grad + static_cast<int64_t>(r) * p.classes : nullptr;
    const int label = p.labels[r];
    if (label < 0 || label >= p.classes) {
      // The CPU form would read outside the row. Here the row's loss becomes NaN, so the
      // slot that owns the bad label fails alone through the divergence check.
      loss_sum += static_cast<double>(NAN);
      if (grad != nullptr)
        for (int j = 0; j < p.classes; ++j) grad[j] = NAN;
      continue;
    }
    bool is_correct = false;
    loss_sum += softmax_cross_entropy_row(logits, p.classes, label, grad, grad_scale, &is_correct);
    correct += is_correct ? 1 : 0;
  }

  // Tree reduction with a fixed pairing (thread t takes t + stride): the same order on
  // every run.
  loss_partial[tid] = loss_sum;
  correct_partial[tid] = correct;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (tid < stride) {
      loss_partial[tid] += loss_partial[tid + stride];
      correct_partial[tid] += correct_partial[tid + stride];
    }
    __syncthreads();
  }
  if (tid == 0) {
    p.sums->loss_sum += loss_partial[0];
    p.sums->correct += static_cast<double>(correct_partial[0]);
    p.sums->count += static_cast<double>(rows);
  }
}

[[noreturn]] void fail(size_t index, const std::string& what) {
  throw std::invalid_argument("softmax_cross_entropy problem " + std::to_string(index) + ": " + what);
}

}  // namespace

void softmax_cross_entropy_cuda(std::span<const SoftmaxCrossEntropyProblem> problems, cudaStream_t stream) {
  std::vector<const MetricSums*> sums;
  for (size_t i = 0; i < problems.size(); ++i) {
    const SoftmaxCrossEntropyProblem& q = problems[i];
    if (q.rows < 0) fail(i, "negative rows " + std::to_string(q.rows));
    if (q.rows == 0) continue;  // adds nothing
    if (q.classes < 1) fail(i, "classes " + std::to_string(q.classes) + " below 1");
    if (q.logits == nullptr || q.labels == nullptr || q.sums == nullptr) fail(i, "null logits, labels or sums");
    if (!std::isfinite(q.grad_scale)) fail(i, "grad_scale is not finite");
    sums.push_back(q.sums);
  }
  // One writer per MetricSums per launch: two problems adding into the same sums would race.
  std::sort(sums.begin(), sums.end());
  if (std::adjacent_find(sums.begin(), sums.end()) != sums.end())
    throw std::invalid_argument("softmax_cross_entropy: two problems share one MetricSums");

  auto launch = [stream](const SoftmaxBatch& batch) {
    softmax_cross_entropy_kernel<<<batch.count, kThreads, 0, stream>>>(batch);
    GPU_TUNE_CUDA_CHECK_LAUNCH(softmax_cross_entropy_kernel, stream);
  };
  BatchLauncher<SoftmaxDescriptor, decltype(launch)> launcher(launch);
  for (size_t i = 0; i < problems.size(); ++i) {
    const SoftmaxCrossEntropyProblem& q = problems[i];
    const SoftmaxDescriptor d{q.logits,  q.labels,  q.grad,   q.sums, q.dynamic_rows, q.dynamic_grad_scale,
                              q.rows,    q.classes, q.grad_scale};
    launcher.add(d, q.rows > 0 ? 1 : 0, "softmax_cross_entropy", i);
  }
  launcher.finish();
}

}  // namespace gpu_tune::kernels
