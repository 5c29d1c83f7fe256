#pragma once
// Activation functions and their derivatives, shared by the CPU and CUDA forms.
#include <cmath>
#include <optional>
#include <string_view>

#include "kernels/host_device.h"

namespace gpu_tune::kernels {

enum class Activation : int { kIdentity = 0, kRelu = 1, kTanh = 2, kGelu = 3 };

std::string_view activation_name(Activation activation);
std::optional<Activation> parse_activation(std::string_view name);

// Templated on the number type so the tests can check the same formulas in double.
template <typename T>
GPU_TUNE_HD T activation_forward(Activation activation, T z) {
  switch (activation) {
    case Activation::kRelu: return z > T(0) ? z : T(0);
    case Activation::kTanh: return std::tanh(z);
    // Exact (erf) GELU, as PyTorch's nn.GELU() default.
    case Activation::kGelu: return T(0.5) * z * (T(1) + std::erf(z * T(0.70710678118654752)));
    case Activation::kIdentity: break;
  }
  return z;
}

// d activation / dz, evaluated at the pre-activation z.
template <typename T>
GPU_TUNE_HD T activation_derivative(Activation activation, T z) {
  switch (activation) {
    case Activation::kRelu: return z > T(0) ? T(1) : T(0);
    case Activation::kTanh: {
      const T t = std::tanh(z);
      return T(1) - t * t;
    }
    case Activation::kGelu: {
      const T cdf = T(0.5) * (T(1) + std::erf(z * T(0.70710678118654752)));
      const T pdf = T(0.39894228040143268) * std::exp(T(-0.5) * z * z);
      return cdf + z * pdf;
    }
    case Activation::kIdentity: break;
  }
  return T(1);
}

}  // namespace gpu_tune::kernels
