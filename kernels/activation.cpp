#include "kernels/activation.h"

namespace gpu_tune::kernels {

std::string_view activation_name(Activation activation) {
  switch (activation) {
    case Activation::kIdentity: return "identity";
    case Activation::kRelu: return "relu";
    case Activation::kTanh: return "tanh";
    case Activation::kGelu: return "gelu";
  }
  return "?";
}

std::optional<Activation> parse_activation(std::string_view name) {
  for (Activation a : {Activation::kIdentity, Activation::kRelu, Activation::kTanh, Activation::kGelu})
    if (activation_name(a) == name) return a;
  return std::nullopt;
}

}  // namespace gpu_tune::kernels
