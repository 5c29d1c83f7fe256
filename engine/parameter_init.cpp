#include "engine/parameter_init.h"

#include <cmath>

#include "engine/random.h"

namespace gpu_tune {

std::vector<float> initial_parameters(const ModelSpec& model, uint64_t seed) {
  std::vector<float> params(model.storage_size(), 0.0f);  // the alignment gaps stay zero
  SplitMix64 rng(derive_seed(seed, RandomPurpose::kInit));
  for (int layer = 0; layer < model.layer_count(); ++layer) {
    const int fan_in = model.layer_inputs(layer), fan_out = model.layer_outputs(layer);
    float* weights = params.data() + model.weight_offset(layer);
    const int64_t count = int64_t(fan_in) * fan_out;
    if (model.init == InitScheme::kHe) {
      const double std = std::sqrt(2.0 / fan_in);
      for (int64_t i = 0; i < count; ++i) weights[i] = static_cast<float>(rng.normal() * std);
    } else {
      const double limit = std::sqrt(6.0 / (fan_in + fan_out));
      for (int64_t i = 0; i < count; ++i) weights[i] = static_cast<float>((2.0 * rng.uniform() - 1.0) * limit);
    }
    // Biases stay zero.
  }
  return params;
}

}  // namespace gpu_tune
