#include "kernels/softmax_cross_entropy.h"

#include <cmath>

#include "kernels/cpu_parallel.h"

namespace gpu_tune::kernels {

void softmax_cross_entropy_cpu(std::span<const SoftmaxCrossEntropyProblem> given) {
  const std::vector<SoftmaxCrossEntropyProblem> problems = resolve_run_time_values(given);
  // One problem per piece: its loss sum runs over rows in order (deterministic).
  parallel_for(static_cast<int64_t>(problems.size()), [&](int64_t i) {
    const SoftmaxCrossEntropyProblem& p = problems[i];
    double loss_sum = 0.0, correct = 0.0;
    for (int r = 0; r < p.rows; ++r) {
      bool is_correct = false;
      const float* logits = p.logits + int64_t(r) * p.classes;
      float* grad = p.grad != nullptr ? p.grad + int64_t(r) * p.classes : nullptr;
      loss_sum += softmax_cross_entropy_row(logits, p.classes, p.labels[r], grad, p.grad_scale, &is_correct);
      correct += is_correct ? 1.0 : 0.0;
    }
    p.sums->loss_sum += loss_sum;
    p.sums->correct += correct;
    p.sums->count += p.rows;
  });
}

}  // namespace gpu_tune::kernels
