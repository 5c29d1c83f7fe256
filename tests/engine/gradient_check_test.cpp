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

// One layer of `model` in double precision on one image (NHWC, flattened).
std::vector<double> reference_layer(const TrainingConfig& config, int index, const std::vector<double>& params,
                                    const std::vector<double>& x, int row) {
  const ModelSpec& m = config.model;
  const Layer& l = m.layer(index);
  const bool last = index == m.layer_count() - 1;
  std::vector<double> y(static_cast<size_t>(l.out.size()));
  switch (l.kind) {
    case LayerKind::kConv: {
      const double* w = params.data() + m.weight_offset(index);
      const double* bias = params.data() + m.bias_offset(index);
      const int cin = l.in.channels, cout = l.out.channels;
      for (int oh = 0; oh < l.out.height; ++oh)
        for (int ow = 0; ow < l.out.width; ++ow)
          for (int co = 0; co < cout; ++co) {
            double z = bias[co];
            for (int kh = 0; kh < l.kernel; ++kh)
              for (int kw = 0; kw < l.kernel; ++kw) {
                const int h = oh + kh - l.padding, wi = ow + kw - l.padding;
                if (h < 0 || h >= l.in.height || wi < 0 || wi >= l.in.width) continue;
                for (int ci = 0; ci < cin; ++ci)
                  z += x[(h * l.in.width + wi) * cin + ci] * w[((kh * l.kernel + kw) * cin + ci) * cout + co];
              }
            y[(oh * l.out.width + ow) * cout + co] = kernels::activation_forward<double>(m.activation, z);
          }
      break;
    }
    case LayerKind::kMaxPool: {
      const int c = l.in.channels;
      for (int oh = 0; oh < l.out.height; ++oh)
        for (int ow = 0; ow < l.out.width; ++ow)
          for (int ch = 0; ch < c; ++ch) {
            double best = -INFINITY;
            for (int dh = 0; dh < 2; ++dh)
              for (int dw = 0; dw < 2; ++dw)
                best = std::max(best, x[((2 * oh + dh) * l.in.width + 2 * ow + dw) * c + ch]);
            y[(oh * l.out.width + ow) * c + ch] = best;
          }
      break;
    }
    case LayerKind::kDense: {
      const int in = static_cast<int>(l.weight_rows()), out = l.weight_columns();
      kernels::DropoutParams dropout;
      if (!last && config.dropout > 0) {
        dropout.rate = config.dropout;
        dropout.stream = kernels::dropout_stream(derive_seed(config.seed, RandomPurpose::kDropout), 0, index);
      }
      for (int o = 0; o < out; ++o) {
        double z = params[m.bias_offset(index) + o];
        for (int i = 0; i < in; ++i) z += x[i] * params[m.weight_offset(index) + int64_t(i) * out + o];
        y[o] = last ? z
                    : kernels::activation_forward<double>(m.activation, z) *
                          kernels::dropout_factor(dropout, static_cast<uint64_t>(row * out + o));
      }
      break;
    }
  }
  return y;
}

// Mean softmax cross-entropy of `model` with parameters `params` over the given rows.
double reference_loss(const TrainingConfig& config, const std::vector<double>& params, const data::ImageSet& images,
                      const std::vector<int32_t>& rows) {
  const ModelSpec& m = config.model;
  const int64_t features = m.input_features();
  double total = 0.0;
  for (size_t r = 0; r < rows.size(); ++r) {
    std::vector<double> x(static_cast<size_t>(features));
    for (int64_t f = 0; f < features; ++f) x[f] = images.images[rows[r] * features + f] / 255.0;
    for (int layer = 0; layer < m.layer_count(); ++layer) x = reference_layer(config, layer, params, x, static_cast<int>(r));
    bool correct = false;
    const int label = images.labels[rows[r]];
    total += kernels::softmax_cross_entropy_row<double>(x.data(), m.outputs(), label, nullptr, 0.0, &correct);
  }
  return total / static_cast<double>(rows.size());
}

struct GradientCase {
  const char* name;
  const char* layers;
  kernels::Activation activation;
  float dropout;
  int image_rows = 3, image_cols = 5;
};

class GradientCheck : public ::testing::TestWithParam<GradientCase> {};

TEST_P(GradientCheck, EngineGradientMatchesFiniteDifferences) {
  const GradientCase& c = GetParam();
  const data::Dataset dataset =
      testing::synthetic_dataset(/*train=*/11, 4, 4, c.image_rows, c.image_cols, /*classes=*/4);
  const TensorShape image{c.image_rows, c.image_cols, 1};
  TrainingConfig config;
  config.model = parse_model(c.layers, image, 4);
  config.model.activation = c.activation;
  config.batch_size = 7;  // odd, and smaller than the training set
  config.dropout = c.dropout;
  config.seed = 42;

  CpuBackend backend;
  Bundle bundle(backend, dataset, BundleOptions{.capacity = 2});
  // A neighbour in the bundle must not change anything: an MLP beside a CNN, a CNN beside an MLP.
  TrainingConfig neighbour = config;
  neighbour.model = config.model.is_spatial() ? parse_model("9", image, 4) : parse_model("c2-p-3", image, 4);
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
                      GradientCase{"gelu_dropout_deep", "5-6-4", kernels::Activation::kGelu, 0.25f},
                      // Convolutions and pooling on odd image sizes, both paddings.
                      GradientCase{"conv_same_pool", "c3-p-5", kernels::Activation::kTanh, 0.0f, 7, 5},
                      GradientCase{"conv_valid_k5", "c4k5v-c3-p-6", kernels::Activation::kTanh, 0.0f, 7, 6},
                      GradientCase{"conv_1x1_then_valid", "c2k1-c3v-p-d5-4", kernels::Activation::kGelu, 0.3f, 9, 7},
                      GradientCase{"pool_first_relu", "p-c3-5", kernels::Activation::kRelu, 0.0f, 6, 7}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace gpu_tune
