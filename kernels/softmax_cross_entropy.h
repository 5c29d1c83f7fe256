#pragma once
// Fused softmax cross-entropy over each slot's logits, with the accuracy count.
// For each row: loss = logsumexp(logits) - logits[label]; correct when the arg-max
// (first on ties) equals the label. Optionally writes the gradient of the mean loss,
// grad = (softmax - onehot) * grad_scale.
#include <cmath>
#include <cstdint>
#include <span>

#include "kernels/host_device.h"

#ifdef GPU_TUNE_WITH_CUDA
typedef struct CUstream_st* cudaStream_t;  // as cuda_runtime_api.h declares it
#endif

namespace gpu_tune::kernels {

// Per-slot running sums, accumulated by training and evaluation passes.
struct MetricSums {
  double loss_sum = 0.0;
  double correct = 0.0;
  double count = 0.0;
};

struct SoftmaxCrossEntropyProblem {
  int rows = 0, classes = 0;
  const float* logits = nullptr;   // rows x classes
  const int32_t* labels = nullptr; // rows
  float* grad = nullptr;           // rows x classes, or null for evaluation
  float grad_scale = 0.0f;         // 1 / batch for the mean loss
  MetricSums* sums = nullptr;      // one per problem; this call adds to it
  // Run-time values (see run_time_size): rows (rows is the bound) and grad_scale.
  const int32_t* dynamic_rows = nullptr;
  const float* dynamic_grad_scale = nullptr;
};

inline SoftmaxCrossEntropyProblem with_run_time_values(SoftmaxCrossEntropyProblem p) {
  p.rows = run_time_size(p.dynamic_rows, p.rows);
  p.grad_scale = run_time_value(p.dynamic_grad_scale, p.grad_scale);
  p.dynamic_rows = nullptr;
  p.dynamic_grad_scale = nullptr;
  return p;
}

// One row's loss; writes the gradient when grad_row is not null. Returns the loss and
// sets *is_correct.
// Templated on the number type so the tests can check the same formula in double.
template <typename T>
GPU_TUNE_HD T softmax_cross_entropy_row(const T* logits, int classes, int label, T* grad_row, T grad_scale,
                                        bool* is_correct) {
  T max_logit = logits[0];
  int arg_max = 0;
  for (int j = 1; j < classes; ++j) {
    if (logits[j] > max_logit) { max_logit = logits[j]; arg_max = j; }
  }
  T sum_exp = T(0);
  for (int j = 0; j < classes; ++j) sum_exp += std::exp(logits[j] - max_logit);
  const T log_sum_exp = max_logit + std::log(sum_exp);
  if (grad_row != nullptr) {
    // exp(l - max) / sum rather than exp(l - logsumexp): at large logits the latter
    // rounds logsumexp to the logits' coarse float grid.
    const T inv_sum = T(1) / sum_exp;
    for (int j = 0; j < classes; ++j) {
      const T p = std::exp(logits[j] - max_logit) * inv_sum;
      grad_row[j] = (p - (j == label ? T(1) : T(0))) * grad_scale;
    }
  }
  *is_correct = arg_max == label;
  return log_sum_exp - logits[label];
}

// CPU reference; each problem's rows are summed in order (deterministic).
void softmax_cross_entropy_cpu(std::span<const SoftmaxCrossEntropyProblem> problems);

#ifdef GPU_TUNE_WITH_CUDA
// CUDA form, asynchronous on `stream`; every pointer, sums included, is device memory.
// Each problem's sums are reduced in a fixed order and added by one thread: deterministic
// run to run. Problems must not share a MetricSums.
void softmax_cross_entropy_cuda(std::span<const SoftmaxCrossEntropyProblem> problems, cudaStream_t stream);
#endif

}  // namespace gpu_tune::kernels
