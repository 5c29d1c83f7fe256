// Finite-difference gradient checks in double precision, through the real bundle code:
// the engine's analytic gradient (fp32) of one minibatch's mean loss is compared with
// central differences of a double-precision forward pass of the same network, on the
// same rows and with the same dropout mask.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/bundle.h"
#include "engine/cpu_backend.h"
#include "engine/random.h"
#include "kernels/activation.h"
#include "kernels/dropout.h"
#include "kernels/softmax_cross_entropy.h"
#include "tests/engine/synthetic_data.h"

namespace gpu_tune {
namespace {

// Mean softmax cross-entropy of `model` with parameters `params` over the given rows.
double reference_loss(const TrainingConfig& config, const std::vector<double>& params, const data::ImageSet& images,
                      const std::vector<int32_t>& rows) {
  const ModelSpec& m = config.model;
  double total = 0.0;
  for (size_t r = 0; r < rows.size(); ++r) {
    std::vector<double> x(m.inputs);
    for (int f = 0; f < m.inputs; ++f) x[f] = images.images[rows[r] * m.inputs + f] / 255.0;
    for (int layer = 0; layer < m.layer_count(); ++layer) {
      const int in = m.layer_inputs(layer), out = m.layer_outputs(layer);
      const bool last = layer == m.layer_count() - 1;
      kernels::DropoutParams dropout;
      if (!last && config.dropout > 0) {
        dropout.rate = config.dropout;
        dropout.stream = kernels::dropout_stream(derive_seed(config.seed, RandomPurpose::kDropout), 0, layer);
      }
      std::vector<double> y(out);
      for (int o = 0; o < out; ++o) {
        double z = params[m.bias_offset(layer) + o];
        for (int i = 0; i < in; ++i) z += x[i] * params[m.weight_offset(layer) + int64_t(i) * out + o];
        y[o] = last ? z
                    : kernels::activation_forward<double>(m.activation, z) *
                          kernels::dropout_factor(dropout, static_cast<uint64_t>(r * out + o));
      }
      x = std::move(y);
    }
    bool correct = false;
    const int label = images.labels[rows[r]];
    total += kernels::softmax_cross_entropy_row<double>(x.data(), m.outputs, label, nullptr, 0.0, &correct);
  }
  return total / static_cast<double>(rows.size());
}

struct GradientCase {
  const char* name;
  const char* hidden;
  kernels::Activation activation;
  float dropout;
};

class GradientCheck : public ::testing::TestWithParam<GradientCase> {};

TEST_P(GradientCheck, EngineGradientMatchesFiniteDifferences) {
  const GradientCase& c = GetParam();
  const data::Dataset dataset = testing::synthetic_dataset(/*train=*/11, 4, 4, /*rows=*/3, /*cols=*/5, /*classes=*/4);
  TrainingConfig config;
  config.model = parse_model(c.hidden, 15, 4);
  config.model.activation = c.activation;
  config.batch_size = 7;  // odd, and smaller than the training set
  config.dropout = c.dropout;
  config.seed = 42;

  CpuBackend backend;
  Bundle bundle(backend, dataset, BundleOptions{.capacity = 2});
  // A neighbour in the bundle must not change anything.
  TrainingConfig neighbour = config;
  neighbour.model = parse_model("9", 15, 4);
  neighbour.batch_size = 3;
  bundle.add(neighbour, 1);
  const int slot = bundle.add(config, 0);
  const std::vector<float> start = bundle.parameters(slot);
  const std::vector<int32_t> order = bundle.slot(slot).epoch_order.download();
  const std::vector<int32_t> rows(order.begin(), order.begin() + config.batch_size);
  bundle.step();
  const std::vector<float> analytic = bundle.slot(slot).grads.download();

  std::vector<double> params(start.begin(), start.end());
  double diff_sq = 0, ref_sq = 0;
  const double h = 1e-6;
  for (size_t i = 0; i < params.size(); ++i) {
    const double saved = params[i];
    params[i] = saved + h;
    const double up = reference_loss(config, params, dataset.train, rows);
    params[i] = saved - h;
    const double down = reference_loss(config, params, dataset.train, rows);
    params[i] = saved;
    const double numeric = (up - down) / (2 * h);
    ASSERT_TRUE(std::isfinite(analytic[i])) << "parameter " << i;
    diff_sq += (analytic[i] - numeric) * (analytic[i] - numeric);
    ref_sq += numeric * numeric;
  }
  ASSERT_GT(ref_sq, 0.0);
  EXPECT_LT(std::sqrt(diff_sq / ref_sq), 1e-4) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Layers, GradientCheck,
    ::testing::Values(GradientCase{"relu", "6", kernels::Activation::kRelu, 0.0f},
                      GradientCase{"tanh", "6-5", kernels::Activation::kTanh, 0.0f},
                      GradientCase{"gelu", "7-3", kernels::Activation::kGelu, 0.0f},
                      GradientCase{"relu_dropout", "8-6", kernels::Activation::kRelu, 0.3f},
                      GradientCase{"gelu_dropout_deep", "5-6-4", kernels::Activation::kGelu, 0.25f}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace gpu_tune
