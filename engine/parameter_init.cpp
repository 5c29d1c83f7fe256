#include "engine/parameter_init.h"

#include <cmath>

#include "engine/random.h"

namespace gpu_tune {

std::vector<float> initial_parameters(const ModelSpec& model, uint64_t seed) {
  std::vector<float> params(model.storage_size(), 0.0f);  // the alignment gaps stay zero
  SplitMix64 rng(derive_seed(seed, RandomPurpose::kInit));
  for (int index = 0; index < model.layer_count(); ++index) {
    const Layer& layer = model.layer(index);
    if (!layer.has_parameters()) continue;
    // Fans as Keras counts them: a convolution's receptive field times its channels.
    const int64_t receptive = layer.kind == LayerKind::kConv ? int64_t(layer.kernel) * layer.kernel : 1;
    const double fan_in = static_cast<double>(layer.weight_rows());
    const double fan_out = static_cast<double>(receptive * layer.weight_columns());
    float* weights = params.data() + model.weight_offset(index);
    const int64_t count = layer.weight_count();
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
