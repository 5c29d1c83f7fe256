#include "kernels/bias_activation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "tests/kernels/kernel_test_utils.h"

namespace gpu_tune::kernels {
namespace {

using test::bitwise_equal;
using test::Rng;
using test::ScopedThreadCount;

// Written out again in double instead of calling activation_forward<double>, so a wrong
// formula in the shared header cannot agree with itself.
double reference_activation(Activation a, double z) {
  switch (a) {
    case Activation::kRelu: return z > 0.0 ? z : 0.0;
    case Activation::kTanh: return std::tanh(z);
    case Activation::kGelu: return 0.5 * z * (1.0 + std::erf(z / std::sqrt(2.0)));
    case Activation::kIdentity: break;
  }
  return z;
}

double reference_derivative(Activation a, double z) {
  switch (a) {
    case Activation::kRelu: return z > 0.0 ? 1.0 : 0.0;
    case Activation::kTanh: return 1.0 - std::tanh(z) * std::tanh(z);
    case Activation::kGelu: {
      const double pi = 3.14159265358979323846;
      return 0.5 * (1.0 + std::erf(z / std::sqrt(2.0))) + z * std::exp(-0.5 * z * z) / std::sqrt(2.0 * pi);
    }
    case Activation::kIdentity: break;
  }
  return 1.0;
}

// Float erf and tanh lose a few ulps, and GELU's 1 + erf(z) cancels for negative z, so
// the tolerance has an absolute floor besides the relative part.
bool close(float got, double ref) { return std::abs(double(got) - ref) <= 1e-6 + 1e-5 * std::abs(ref); }

// Which elements the mask keeps is defined by dropout_factor; the scale a kept element
// gets is checked against 1 / (1 - rate) computed here.
double reference_dropout_factor(const DropoutParams& d, int64_t element) {
  if (d.rate <= 0.0f) return 1.0;
  return dropout_factor(d, static_cast<uint64_t>(element)) == 0.0f ? 0.0 : 1.0 / (1.0 - double(d.rate));
}

struct Layer {
  int rows = 0, cols = 0;
  std::vector<float> z, bias, out, grad, bias_grad;
  DropoutParams dropout;

  BiasActivationForward forward(Activation a) {
    return {.rows = rows, .cols = cols, .z = z.data(), .bias = bias.data(), .out = out.data(), .activation = a,
            .dropout = dropout};
  }
  BiasActivationBackward backward(Activation a) {
    return {.rows = rows, .cols = cols, .grad = grad.data(), .z = z.data(), .activation = a, .dropout = dropout,
            .bias_grad = bias_grad.data()};
  }
};

Layer make_layer(int rows, int cols, float rate, uint64_t stream, Rng& rng) {
  Layer l;
  l.rows = rows;
  l.cols = cols;
  const size_t n = static_cast<size_t>(rows) * cols;
  l.z = test::random_nonzero(n, rng, 0.05f, 3.0f);
  l.bias = test::random_nonzero(cols, rng, 0.05f, 1.0f);
  l.out.assign(n, test::quiet_nan());
  l.grad = test::random_nonzero(n, rng, 0.1f, 2.0f);
  l.bias_grad.assign(cols, test::quiet_nan());
  l.dropout = {rate, stream};
  return l;
}

std::vector<Layer> odd_shaped_layers(float rate, Rng& rng) {
  std::vector<Layer> layers;
  uint64_t layer_index = 0;
  for (int rows : {1, 5, 64})
    for (int cols : {1, 10, 100, 257})
      layers.push_back(make_layer(rows, cols, rate, dropout_stream(7, 3, static_cast<uint32_t>(layer_index++)), rng));
  return layers;
}

void forward_all(std::vector<Layer>& layers, Activation a) {
  std::vector<BiasActivationForward> problems;
  for (Layer& l : layers) problems.push_back(l.forward(a));
  bias_activation_forward_cpu(problems);
}

void backward_all(std::vector<Layer>& layers, Activation a) {
  std::vector<BiasActivationBackward> problems;
  for (Layer& l : layers) problems.push_back(l.backward(a));
  bias_activation_backward_cpu(problems);
}

int64_t count_zeros(const std::vector<float>& v) {
  int64_t zeros = 0;
  for (float x : v) zeros += x == 0.0f ? 1 : 0;
  return zeros;
}

class BiasActivationTest : public ::testing::TestWithParam<std::tuple<Activation, bool>> {};

TEST_P(BiasActivationTest, ForwardAndBackwardMatchDoubleReference) {
  const auto [activation, with_dropout] = GetParam();
  Rng rng(100 + static_cast<int>(activation) * 2 + int(with_dropout));
  std::vector<Layer> layers = odd_shaped_layers(with_dropout ? 0.3f : 0.0f, rng);

  std::vector<std::vector<float>> z_before, grad_before;
  for (const Layer& l : layers) z_before.push_back(l.z);
  forward_all(layers, activation);

  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& l = layers[i];
    SCOPED_TRACE("rows=" + std::to_string(l.rows) + " cols=" + std::to_string(l.cols));
    int64_t z_wrong = 0, out_wrong = 0;
    for (int r = 0; r < l.rows; ++r) {
      for (int c = 0; c < l.cols; ++c) {
        const int64_t e = int64_t(r) * l.cols + c;
        // A single float addition has one correctly rounded answer.
        const float z = z_before[i][e] + l.bias[c];
        z_wrong += l.z[e] == z ? 0 : 1;
        const double ref = reference_activation(activation, z) * reference_dropout_factor(l.dropout, e);
        out_wrong += close(l.out[e], ref) ? 0 : 1;
      }
    }
    EXPECT_EQ(z_wrong, 0);
    EXPECT_EQ(out_wrong, 0);
  }

  for (const Layer& l : layers) grad_before.push_back(l.grad);
  backward_all(layers, activation);

  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& l = layers[i];
    SCOPED_TRACE("rows=" + std::to_string(l.rows) + " cols=" + std::to_string(l.cols));
    int64_t grad_wrong = 0;
    for (int c = 0; c < l.cols; ++c) {
      double sum = 0.0, magnitude = 0.0;
      for (int r = 0; r < l.rows; ++r) {
        const int64_t e = int64_t(r) * l.cols + c;
        const double g = double(grad_before[i][e]) * reference_dropout_factor(l.dropout, e) *
                         reference_derivative(activation, l.z[e]);
        grad_wrong += close(l.grad[e], g) ? 0 : 1;
        sum += g;
        magnitude += std::abs(g);
      }
      EXPECT_LE(std::abs(double(l.bias_grad[c]) - sum), 1e-6 + 1e-5 * magnitude) << "column " << c;
    }
    EXPECT_EQ(grad_wrong, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllActivations, BiasActivationTest,
    ::testing::Combine(::testing::Values(Activation::kIdentity, Activation::kRelu, Activation::kTanh, Activation::kGelu),
                       ::testing::Bool()),
    [](const ::testing::TestParamInfo<std::tuple<Activation, bool>>& info) {
      return std::string(activation_name(std::get<0>(info.param))) + (std::get<1>(info.param) ? "Dropout" : "");
    });

TEST(BiasActivationTest, IdentityWithoutDropoutMayRunInPlace) {
  Rng rng(110);
  Layer l = make_layer(5, 257, 0.0f, 0, rng);
  const std::vector<float> z_before = l.z;
  BiasActivationForward p = l.forward(Activation::kIdentity);
  p.out = p.z;
  bias_activation_forward_cpu(std::span(&p, 1));
  for (int r = 0; r < l.rows; ++r)
    for (int c = 0; c < l.cols; ++c) ASSERT_EQ(l.z[r * l.cols + c], z_before[r * l.cols + c] + l.bias[c]);
}

// Results must not depend on how many threads split the rows (forward) or the columns
// (backward), nor on which other layers share the call.
TEST(BiasActivationTest, BitwiseIndependentOfThreadsAndGroup) {
  for (Activation a : {Activation::kGelu, Activation::kRelu}) {
    std::vector<std::vector<float>> outs, grads, bias_grads;
    for (int variant = 0; variant < 3; ++variant) {
      Rng rng(120);  // same data every variant
      std::vector<Layer> layers = odd_shaped_layers(0.3f, rng);
      ScopedThreadCount scoped(variant == 0 ? 1 : 8);
      if (variant < 2) {
        forward_all(layers, a);
        backward_all(layers, a);
      } else {
        for (Layer& l : layers) {
          BiasActivationForward f = l.forward(a);
          bias_activation_forward_cpu(std::span(&f, 1));
          BiasActivationBackward b = l.backward(a);
          bias_activation_backward_cpu(std::span(&b, 1));
        }
      }
      std::vector<float> out, grad, bias_grad;
      for (const Layer& l : layers) {
        out.insert(out.end(), l.out.begin(), l.out.end());
        grad.insert(grad.end(), l.grad.begin(), l.grad.end());
        bias_grad.insert(bias_grad.end(), l.bias_grad.begin(), l.bias_grad.end());
      }
      outs.push_back(out);
      grads.push_back(grad);
      bias_grads.push_back(bias_grad);
    }
    for (int variant = 1; variant < 3; ++variant) {
      EXPECT_TRUE(bitwise_equal(outs[variant], outs[0])) << activation_name(a) << " variant " << variant;
      EXPECT_TRUE(bitwise_equal(grads[variant], grads[0])) << activation_name(a) << " variant " << variant;
      EXPECT_TRUE(bitwise_equal(bias_grads[variant], bias_grads[0])) << activation_name(a) << " variant " << variant;
    }
  }
}

// ---- dropout -------------------------------------------------------------------------

class DropoutRateTest : public ::testing::TestWithParam<float> {};

TEST_P(DropoutRateTest, DropsNearTheRateAndScalesKeptElements) {
  const float rate = GetParam();
  Rng rng(130);
  // 400 x 250 = 100k elements: the dropped fraction has a standard deviation near 0.0015.
  Layer l = make_layer(400, 250, rate, dropout_stream(42, 0, 0), rng);
  const std::vector<float> z_before = l.z;
  BiasActivationForward p = l.forward(Activation::kIdentity);
  bias_activation_forward_cpu(std::span(&p, 1));

  const double dropped = double(count_zeros(l.out)) / double(l.out.size());
  EXPECT_NEAR(dropped, rate, 0.02);
  int64_t badly_scaled = 0;
  for (size_t e = 0; e < l.out.size(); ++e) {
    if (l.out[e] == 0.0f) continue;
    const double expected = double(l.z[e]) / (1.0 - double(rate));
    badly_scaled += std::abs(l.out[e] - expected) <= 1e-6 * std::abs(expected) ? 0 : 1;
  }
  EXPECT_EQ(badly_scaled, 0);
}

INSTANTIATE_TEST_SUITE_P(Rates, DropoutRateTest, ::testing::Values(0.1f, 0.3f, 0.5f));

TEST(DropoutTest, BackwardReusesTheForwardMask) {
  Rng rng(140);
  const float rate = 0.3f;
  Layer l = make_layer(64, 257, rate, dropout_stream(5, 17, 2), rng);
  const std::vector<float> grad_before = l.grad;
  BiasActivationForward f = l.forward(Activation::kIdentity);
  bias_activation_forward_cpu(std::span(&f, 1));
  BiasActivationBackward b = l.backward(Activation::kIdentity);
  bias_activation_backward_cpu(std::span(&b, 1));

  // Inputs are never zero, so with identity a zero marks a dropped element exactly.
  int64_t mismatched = 0, badly_scaled = 0;
  for (size_t e = 0; e < l.out.size(); ++e) {
    const bool dropped_forward = l.out[e] == 0.0f, dropped_backward = l.grad[e] == 0.0f;
    mismatched += dropped_forward == dropped_backward ? 0 : 1;
    if (!dropped_backward) {
      const double expected = double(grad_before[e]) / (1.0 - double(rate));
      badly_scaled += std::abs(l.grad[e] - expected) <= 1e-6 * std::abs(expected) ? 0 : 1;
    }
  }
  EXPECT_EQ(mismatched, 0);
  EXPECT_EQ(badly_scaled, 0);
  EXPECT_GT(count_zeros(l.out), 0);
}

TEST(DropoutTest, DifferentStreamsDrawIndependentMasks) {
  const float rate = 0.3f;
  // Neighbouring seeds, steps and layers: each must give its own mask.
  const uint64_t streams[] = {dropout_stream(1, 0, 0), dropout_stream(1, 1, 0), dropout_stream(1, 0, 1),
                              dropout_stream(2, 0, 0)};
  std::vector<std::vector<bool>> masks;
  for (uint64_t stream : streams) {
    Rng rng(150);  // same values: only the stream differs
    Layer l = make_layer(400, 250, rate, stream, rng);
    BiasActivationForward p = l.forward(Activation::kIdentity);
    bias_activation_forward_cpu(std::span(&p, 1));
    std::vector<bool> mask(l.out.size());
    for (size_t e = 0; e < l.out.size(); ++e) mask[e] = l.out[e] == 0.0f;
    masks.push_back(mask);
  }
  // Two independent masks disagree on 2 * rate * (1 - rate) = 42% of elements.
  for (size_t i = 0; i < masks.size(); ++i) {
    for (size_t j = i + 1; j < masks.size(); ++j) {
      int64_t differ = 0;
      for (size_t e = 0; e < masks[i].size(); ++e) differ += masks[i][e] != masks[j][e] ? 1 : 0;
      EXPECT_NEAR(double(differ) / double(masks[i].size()), 2.0 * rate * (1.0 - rate), 0.03) << i << " vs " << j;
    }
  }
}

TEST(DropoutTest, MaskHasNoRowOrColumnPattern) {
  // A mask keyed on the column only (or the row only) would drop whole features; count
  // drops per row and per column and require each to stay near the rate.
  const float rate = 0.3f;
  const DropoutParams d{rate, dropout_stream(9, 4, 1)};
  const int rows = 200, cols = 500;
  std::vector<int> per_row(rows, 0), per_col(cols, 0);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      if (dropout_factor(d, static_cast<uint64_t>(r) * cols + c) == 0.0f) {
        ++per_row[r];
        ++per_col[c];
      }
  for (int r = 0; r < rows; ++r) EXPECT_NEAR(per_row[r] / double(cols), rate, 0.1) << "row " << r;
  for (int c = 0; c < cols; ++c) EXPECT_NEAR(per_col[c] / double(rows), rate, 0.15) << "column " << c;
}

TEST(DropoutTest, ZeroRateIsExactlyNoDropout) {
  const DropoutParams d{0.0f, dropout_stream(3, 3, 3)};
  for (uint64_t e = 0; e < 1000; ++e) ASSERT_EQ(dropout_factor(d, e), 1.0f);
}

TEST(ActivationNameTest, RoundTrips) {
  for (Activation a : {Activation::kIdentity, Activation::kRelu, Activation::kTanh, Activation::kGelu})
    EXPECT_EQ(parse_activation(activation_name(a)), a);
  EXPECT_FALSE(parse_activation("sigmoid").has_value());
  EXPECT_FALSE(parse_activation("").has_value());
}

}  // namespace
}  // namespace gpu_tune::kernels
