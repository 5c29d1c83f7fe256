#pragma once
// Initial parameters of a slot's model from its seed: He-normal or Glorot-uniform
// weights, zero biases.
#include <cstdint>
#include <vector>

#include "engine/model_spec.h"

namespace gpu_tune {

std::vector<float> initial_parameters(const ModelSpec& model, uint64_t seed);

}  // namespace gpu_tune
