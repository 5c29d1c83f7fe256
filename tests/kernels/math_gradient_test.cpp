// Checks the analytic derivatives in the shared headers against finite differences of
// their own forward formulas, in double so the differences resolve 1e-7.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/activation.h"
#include "kernels/softmax_cross_entropy.h"
#include "tests/kernels/kernel_test_utils.h"

namespace gpu_tune::kernels {
namespace {

using test::Rng;

constexpr double kStep = 1e-6;
constexpr double kTolerance = 1e-7;

// abs + rel: large values compare relatively, values near zero absolutely.
bool agrees(double analytic, double numeric) {
  return std::abs(analytic - numeric) <= kTolerance * (1.0 + std::abs(numeric));
}

class ActivationGradientTest : public ::testing::TestWithParam<Activation> {};

TEST_P(ActivationGradientTest, DerivativeMatchesCentralDifference) {
  const Activation a = GetParam();
  Rng rng(600 + static_cast<int>(a));
  std::uniform_real_distribution<double> dist(-6.0, 6.0);
  int checked = 0;
  while (checked < 2000) {
    const double z = dist(rng);
    // ReLU's kink: a difference across 0 measures neither side's slope.
    if (a == Activation::kRelu && std::abs(z) < 1e-3) continue;
    const double numeric =
        (activation_forward<double>(a, z + kStep) - activation_forward<double>(a, z - kStep)) / (2.0 * kStep);
    const double analytic = activation_derivative<double>(a, z);
    ASSERT_TRUE(agrees(analytic, numeric)) << activation_name(a) << " z=" << z << " analytic=" << analytic
                                           << " numeric=" << numeric;
    ++checked;
  }
}

INSTANTIATE_TEST_SUITE_P(AllActivations, ActivationGradientTest,
                         ::testing::Values(Activation::kIdentity, Activation::kRelu, Activation::kTanh,
                                           Activation::kGelu),
                         [](const ::testing::TestParamInfo<Activation>& info) {
                           return std::string(activation_name(info.param));
                         });

TEST(ActivationValueTest, GeluIsTheExactErfForm) {
  // PyTorch nn.GELU() (approximate='none'): x * Phi(x). The tanh approximation gives
  // 0.841192 at 1, off in the fourth digit.
  EXPECT_NEAR(activation_forward<double>(Activation::kGelu, 1.0), 0.8413447460685429, 1e-12);
  EXPECT_NEAR(activation_forward<double>(Activation::kGelu, -1.0), -0.15865525393145707, 1e-12);
  EXPECT_NEAR(activation_forward<double>(Activation::kGelu, 2.5), 2.4844758366855597, 1e-12);
  EXPECT_EQ(activation_forward<double>(Activation::kRelu, -0.5), 0.0);
  EXPECT_EQ(activation_forward<double>(Activation::kRelu, 0.5), 0.5);
  EXPECT_EQ(activation_forward<double>(Activation::kIdentity, -3.25), -3.25);
  EXPECT_NEAR(activation_forward<double>(Activation::kTanh, 0.5), 0.46211715726000974, 1e-15);
}

TEST(ActivationValueTest, FloatFormAgreesWithDoubleForm) {
  // The kernels run the float instantiation; it must be the same function to float precision.
  Rng rng(610);
  std::uniform_real_distribution<float> dist(-6.0f, 6.0f);
  for (Activation a : {Activation::kIdentity, Activation::kRelu, Activation::kTanh, Activation::kGelu}) {
    for (int i = 0; i < 1000; ++i) {
      const float z = dist(rng);
      EXPECT_NEAR(activation_forward<float>(a, z), activation_forward<double>(a, z), 1e-6 + 1e-6 * std::abs(z));
      EXPECT_NEAR(activation_derivative<float>(a, z), activation_derivative<double>(a, z), 1e-6);
    }
  }
}

double loss_of(std::vector<double> logits, int label) {
  bool correct = false;
  return softmax_cross_entropy_row<double>(logits.data(), static_cast<int>(logits.size()), label, nullptr, 1.0,
                                           &correct);
}

class SoftmaxGradientTest : public ::testing::TestWithParam<int> {};

TEST_P(SoftmaxGradientTest, GradientMatchesCentralDifferenceOfLoss) {
  const int classes = GetParam();
  Rng rng(620 + classes);
  std::uniform_real_distribution<double> logit(-4.0, 4.0);
  std::uniform_int_distribution<int> label_dist(0, classes - 1);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<double> logits(classes);
    for (double& x : logits) x = logit(rng);
    const int label = label_dist(rng);
    std::vector<double> grad(classes, std::nan(""));
    bool correct = false;
    softmax_cross_entropy_row<double>(logits.data(), classes, label, grad.data(), 1.0, &correct);
    for (int j = 0; j < classes; ++j) {
      std::vector<double> plus = logits, minus = logits;
      plus[j] += kStep;
      minus[j] -= kStep;
      const double numeric = (loss_of(plus, label) - loss_of(minus, label)) / (2.0 * kStep);
      ASSERT_TRUE(agrees(grad[j], numeric))
          << "classes=" << classes << " trial=" << trial << " j=" << j << " label=" << label << " analytic=" << grad[j]
          << " numeric=" << numeric;
    }
  }
}

TEST_P(SoftmaxGradientTest, GradScaleMultipliesTheGradient) {
  const int classes = GetParam();
  Rng rng(630 + classes);
  std::uniform_real_distribution<double> logit(-4.0, 4.0);
  std::vector<double> logits(classes);
  for (double& x : logits) x = logit(rng);
  std::vector<double> unit(classes), scaled(classes);
  bool correct = false;
  const double loss_unit = softmax_cross_entropy_row<double>(logits.data(), classes, 1, unit.data(), 1.0, &correct);
  const double loss_scaled =
      softmax_cross_entropy_row<double>(logits.data(), classes, 1, scaled.data(), 0.125, &correct);
  EXPECT_EQ(loss_unit, loss_scaled);  // the scale applies to the gradient only
  for (int j = 0; j < classes; ++j) EXPECT_NEAR(scaled[j], 0.125 * unit[j], 1e-15);
}

INSTANTIATE_TEST_SUITE_P(ClassCounts, SoftmaxGradientTest, ::testing::Values(3, 10));

}  // namespace
}  // namespace gpu_tune::kernels
