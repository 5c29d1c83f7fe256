#pragma once
// Fused optimizer step over each slot's flat parameter range, each slot with its own
// optimizer and settings. Semantics follow PyTorch's Adam, AdamW and SGD.
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "kernels/host_device.h"

#ifdef GPU_TUNE_WITH_CUDA
typedef struct CUstream_st* cudaStream_t;  // as cuda_runtime_api.h declares it
#endif

namespace gpu_tune::kernels {

enum class OptimizerKind : int { kAdam = 0, kAdamW = 1, kSgd = 2 };

std::string_view optimizer_name(OptimizerKind kind);
std::optional<OptimizerKind> parse_optimizer(std::string_view name);

struct OptimizerSettings {
  OptimizerKind kind = OptimizerKind::kAdam;
  float learning_rate = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
  float weight_decay = 0.0f;  // L2 for Adam and SGD; decoupled for AdamW
  float momentum = 0.0f;      // SGD only
  bool nesterov = false;      // SGD only
};

// Step-dependent constants, computed once per problem on the host. The learning rate is
// one of them because a schedule changes it from step to step (the settings' rate is the
// schedule's base).
struct OptimizerStepConstants {
  float learning_rate = 0.0f;         // this step's rate (SGD uses it as is)
  float step_size = 0.0f;             // Adam: lr / (1 - beta1^t)
  float inv_sqrt_bias_correction2 = 1.0f;  // Adam: 1 / sqrt(1 - beta2^t)
  float decay_factor = 1.0f;          // AdamW: 1 - lr * weight_decay
};

// The constants of update `step` (1-based) at `learning_rate`, the schedule's rate for it.
inline OptimizerStepConstants optimizer_step_constants(const OptimizerSettings& s, int64_t step, float learning_rate) {
  OptimizerStepConstants c;
  const double t = static_cast<double>(step);
  c.learning_rate = learning_rate;
  c.step_size = static_cast<float>(learning_rate / (1.0 - std::pow(double(s.beta1), t)));
  c.inv_sqrt_bias_correction2 = static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(double(s.beta2), t)));
  c.decay_factor = s.kind == OptimizerKind::kAdamW ? 1.0f - learning_rate * s.weight_decay : 1.0f;
  return c;
}

// At the settings' own (constant) learning rate.
inline OptimizerStepConstants optimizer_step_constants(const OptimizerSettings& s, int64_t step) {
  return optimizer_step_constants(s, step, s.learning_rate);
}

struct OptimizerProblem {
  int64_t count = 0;
  float* params = nullptr;
  const float* grads = nullptr;
  float* first_moment = nullptr;   // Adam m, or SGD momentum buffer; never null
  float* second_moment = nullptr;  // Adam v; unused by SGD
  OptimizerSettings settings;
  int64_t step = 1;                // 1-based count of updates, for bias correction
  // Run-time form (see run_time_value): the step's constants read from the backend's
  // memory when the update runs; `step` is then ignored.
  const OptimizerStepConstants* dynamic_constants = nullptr;
};

// One parameter's update; m and v are that parameter's optimizer state.
GPU_TUNE_HD void optimizer_update_element(const OptimizerSettings& s, const OptimizerStepConstants& c,
                                          float& param, float grad, float& m, float& v) {
  if (s.kind == OptimizerKind::kSgd) {
    grad += s.weight_decay * param;
    if (s.momentum != 0.0f) {
      // PyTorch: the first step sets buf = grad; with buf starting at 0 and no dampening
      // momentum * 0 + grad gives the same.
      m = s.momentum * m + grad;
      grad = s.nesterov ? grad + s.momentum * m : m;
    }
    param -= c.learning_rate * grad;
    return;
  }
  if (s.kind == OptimizerKind::kAdamW) {
    param *= c.decay_factor;
  } else {
    grad += s.weight_decay * param;
  }
  m = s.beta1 * m + (1.0f - s.beta1) * grad;
  v = s.beta2 * v + (1.0f - s.beta2) * grad * grad;
  const float denom = std::sqrt(v) * c.inv_sqrt_bias_correction2 + s.epsilon;
  param -= c.step_size * m / denom;
}

// Throws std::invalid_argument naming the problem index when a problem is malformed
// (negative count, unknown kind, null arrays, Adam without a second moment, step below 1).
void validate_optimizer_problems(std::span<const OptimizerProblem> problems);

// CPU reference; element-wise, deterministic.
void optimizer_update_cpu(std::span<const OptimizerProblem> problems);

#ifdef GPU_TUNE_WITH_CUDA
// CUDA form, asynchronous on `stream`, device pointers; element-wise, deterministic.
void optimizer_update_cuda(std::span<const OptimizerProblem> problems, cudaStream_t stream);
#endif

}  // namespace gpu_tune::kernels
