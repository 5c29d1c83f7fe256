// The convolution's CPU forms (the reference for the CUDA forms) against a direct
// double-precision convolution written here with plain loops, no im2col.
#include "kernels/conv2d.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/kernels/kernel_test_utils.h"

namespace gpu_tune::kernels {

// Found by GoogleTest through argument-dependent lookup: parameterised tests print "tf32".
inline void PrintTo(GemmPrecision precision, std::ostream* os) { *os << precision_name(precision); }

namespace {

using test::bitwise_equal;
using test::relative_l2_error;
using test::Rng;
using test::ScopedThreadCount;

constexpr double kFp32Tolerance = 1e-5;
constexpr double kTf32Tolerance = 1e-3;

struct ConvSpec {
  int images = 1;
  int height = 0, width = 0, in_channels = 0, out_channels = 0;
  int kernel = 3, padding = 1;  // padding kernel / 2 is "same", 0 is "valid"
};

ConvGeometry geometry_of(const ConvSpec& s) {
  return ConvGeometry{.height = s.height, .width = s.width, .in_channels = s.in_channels,
                      .out_channels = s.out_channels, .kernel = s.kernel, .padding = s.padding};
}

std::string describe(const ConvGeometry& g, int images) {
  return "images=" + std::to_string(images) + " " + std::to_string(g.height) + "x" + std::to_string(g.width) + "x" +
         std::to_string(g.in_channels) + " -> " + std::to_string(g.out_channels) + " kernel=" +
         std::to_string(g.kernel) + " padding=" + std::to_string(g.padding);
}

// Odd sizes, 1, 3 and 32 channels, kernels 1, 3 and 5, same, valid and full (padding =
// kernel - 1) padding, one image and several, outputs down to 1 pixel wide.
std::vector<ConvSpec> mixed_specs() {
  return {
      {1, 5, 7, 1, 4, 3, 1},    {3, 5, 7, 3, 8, 3, 0},   {2, 9, 9, 3, 5, 5, 2},    {1, 9, 9, 32, 7, 5, 0},
      {4, 28, 28, 1, 32, 5, 2}, {2, 28, 28, 32, 16, 3, 1}, {1, 28, 28, 3, 32, 1, 0}, {3, 7, 5, 32, 3, 1, 0},
      {2, 5, 7, 1, 1, 5, 0},    {2, 5, 7, 3, 4, 5, 4},   {1, 1, 1, 3, 2, 1, 0},    {5, 3, 3, 2, 3, 3, 1},
  };
}

// ---- the direct convolution, in double ---------------------------------------------

// Calls visit(input_pixel, output_pixel, tap) for every input pixel that kernel tap
// (kh * K + kw) connects to an output pixel: the definition of the convolution. Pixels
// are numbered over all images (n * H + h) * W + w and (n * OH + oh) * OW + ow.
template <typename Visit>
void for_each_connection(const ConvGeometry& g, int images, const Visit& visit) {
  for (int n = 0; n < images; ++n)
    for (int oh = 0; oh < g.out_height(); ++oh)
      for (int ow = 0; ow < g.out_width(); ++ow)
        for (int kh = 0; kh < g.kernel; ++kh)
          for (int kw = 0; kw < g.kernel; ++kw) {
            const int h = oh + kh - g.padding, w = ow + kw - g.padding;
            if (h < 0 || h >= g.height || w < 0 || w >= g.width) continue;  // zero padding
            visit((int64_t(n) * g.height + h) * g.width + w, (int64_t(n) * g.out_height() + oh) * g.out_width() + ow,
                  kh * g.kernel + kw);
          }
}

// Y[n, oh, ow, co] = sum over kh, kw, ci of X[n, oh + kh - P, ow + kw - P, ci] * W[kh, kw, ci, co]
std::vector<double> direct_forward(const ConvGeometry& g, int images, const std::vector<float>& x,
                                   const std::vector<float>& w) {
  const int cin = g.in_channels, cout = g.out_channels;
  std::vector<double> y(static_cast<size_t>(images * g.output_size()), 0.0);
  for_each_connection(g, images, [&](int64_t x_pixel, int64_t y_pixel, int tap) {
    for (int ci = 0; ci < cin; ++ci)
      for (int co = 0; co < cout; ++co)
        y[y_pixel * cout + co] += double(x[x_pixel * cin + ci]) * w[(int64_t(tap) * cin + ci) * cout + co];
  });
  return y;
}

// dX[n, h, w, ci] = sum over the outputs it reaches of dY[n, oh, ow, co] * W[kh, kw, ci, co]
std::vector<double> direct_backward_data(const ConvGeometry& g, int images, const std::vector<float>& dy,
                                         const std::vector<float>& w) {
  const int cin = g.in_channels, cout = g.out_channels;
  std::vector<double> dx(static_cast<size_t>(images * g.input_size()), 0.0);
  for_each_connection(g, images, [&](int64_t x_pixel, int64_t y_pixel, int tap) {
    for (int ci = 0; ci < cin; ++ci)
      for (int co = 0; co < cout; ++co)
        dx[x_pixel * cin + ci] += double(dy[y_pixel * cout + co]) * w[(int64_t(tap) * cin + ci) * cout + co];
  });
  return dx;
}

// dW[kh, kw, ci, co] = sum over images and output pixels of X[n, h, w, ci] * dY[n, oh, ow, co]
std::vector<double> direct_backward_weight(const ConvGeometry& g, int images, const std::vector<float>& x,
                                           const std::vector<float>& dy) {
  const int cin = g.in_channels, cout = g.out_channels;
  std::vector<double> dw(static_cast<size_t>(g.weight_count()), 0.0);
  for_each_connection(g, images, [&](int64_t x_pixel, int64_t y_pixel, int tap) {
    for (int ci = 0; ci < cin; ++ci)
      for (int co = 0; co < cout; ++co)
        dw[(int64_t(tap) * cin + ci) * cout + co] += double(x[x_pixel * cin + ci]) * dy[y_pixel * cout + co];
  });
  return dw;
}

// ---- cases --------------------------------------------------------------------------

// One problem's tensors for all three operations. The results are NaN before every run,
// so an element an operation fails to write can never pass.
struct ConvCase {
  int images = 0;
  ConvGeometry geometry;
  std::vector<float> input, weights, output_grad;      // operands
  std::vector<float> output, input_grad, weight_grad;  // results

  Conv2dForward forward() {
    return {.images = images, .geometry = geometry, .input = input.data(), .weights = weights.data(),
            .output = output.data()};
  }
  Conv2dBackwardData backward_data() {
    return {.images = images, .geometry = geometry, .output_grad = output_grad.data(), .weights = weights.data(),
            .input_grad = input_grad.data()};
  }
  Conv2dBackwardWeight backward_weight() {
    return {.images = images, .geometry = geometry, .input = input.data(), .output_grad = output_grad.data(),
            .weight_grad = weight_grad.data()};
  }
  void poison() {
    for (std::vector<float>* v : {&output, &input_grad, &weight_grad}) std::fill(v->begin(), v->end(), test::quiet_nan());
  }
  std::string describe() const { return kernels::describe(geometry, images); }
};

ConvCase make_case(const ConvSpec& s, Rng& rng) {
  ConvCase c;
  c.images = s.images;
  c.geometry = geometry_of(s);
  const ConvGeometry& g = c.geometry;
  c.input = test::random_nonzero(static_cast<size_t>(s.images * g.input_size()), rng);
  c.weights = test::random_nonzero(static_cast<size_t>(g.weight_count()), rng);
  c.output_grad = test::random_nonzero(static_cast<size_t>(s.images * g.output_size()), rng);
  c.output.resize(c.output_grad.size());
  c.input_grad.resize(c.input.size());
  c.weight_grad.resize(c.weights.size());
  c.poison();
  return c;
}

std::vector<ConvCase> make_cases(const std::vector<ConvSpec>& specs, Rng& rng) {
  std::vector<ConvCase> cases;
  for (const ConvSpec& s : specs) cases.push_back(make_case(s, rng));
  return cases;
}

// All three operations, each as one call over every case, on freshly poisoned results.
void run_all(std::vector<ConvCase>& cases, GemmPrecision precision = GemmPrecision::kFp32) {
  std::vector<Conv2dForward> forward;
  std::vector<Conv2dBackwardData> backward_data;
  std::vector<Conv2dBackwardWeight> backward_weight;
  for (ConvCase& c : cases) {
    c.poison();
    forward.push_back(c.forward());
    backward_data.push_back(c.backward_data());
    backward_weight.push_back(c.backward_weight());
  }
  conv2d_forward_cpu(forward, precision);
  conv2d_backward_data_cpu(backward_data, precision);
  conv2d_backward_weight_cpu(backward_weight, precision);
}

std::vector<float> rounded_to_tf32(std::vector<float> values) {
  for (float& v : values) v = round_to_tf32(v);
  return values;
}

// Every result of the case against the direct convolution of `images` images, with the
// operands rounded to TF32 first when `round_operands` is set.
void expect_matches_direct(const ConvCase& c, double tolerance, bool round_operands = false, int images = -1) {
  SCOPED_TRACE(c.describe() + (round_operands ? " (operands rounded to tf32)" : ""));
  if (images < 0) images = c.images;
  const ConvGeometry& g = c.geometry;
  auto operand = [&](const std::vector<float>& v) { return round_operands ? rounded_to_tf32(v) : v; };
  auto prefix = [](const std::vector<float>& v, int64_t n) { return std::vector<float>(v.begin(), v.begin() + n); };
  const std::vector<float> x = operand(c.input), w = operand(c.weights), dy = operand(c.output_grad);
  EXPECT_LT(relative_l2_error(prefix(c.output, images * g.output_size()), direct_forward(g, images, x, w)), tolerance)
      << "forward";
  EXPECT_LT(relative_l2_error(prefix(c.input_grad, images * g.input_size()), direct_backward_data(g, images, dy, w)),
            tolerance)
      << "backward data";
  EXPECT_LT(relative_l2_error(c.weight_grad, direct_backward_weight(g, images, x, dy)), tolerance) << "backward weight";
}

// ---- accuracy -------------------------------------------------------------------------

class Conv2dPrecisionTest : public ::testing::TestWithParam<GemmPrecision> {};

TEST_P(Conv2dPrecisionTest, EachProblemAloneMatchesDirectConvolution) {
  const GemmPrecision precision = GetParam();
  Rng rng(3100 + static_cast<int>(precision));
  for (const ConvSpec& spec : mixed_specs()) {
    std::vector<ConvCase> one{make_case(spec, rng)};
    run_all(one, precision);
    if (precision == GemmPrecision::kFp32) {
      expect_matches_direct(one[0], kFp32Tolerance);
    } else {
      // TF32 is FP32 arithmetic on rounded operands: close to the exact convolution, and
      // as close as FP32 gets to the exact convolution of the rounded operands.
      expect_matches_direct(one[0], kTf32Tolerance);
      expect_matches_direct(one[0], kFp32Tolerance, /*round_operands=*/true);
    }
  }
}

TEST_P(Conv2dPrecisionTest, MixedProblemsInOneCallAtSeveralThreadCounts) {
  const GemmPrecision precision = GetParam();
  Rng rng(3200 + static_cast<int>(precision));
  std::vector<ConvCase> cases = make_cases(mixed_specs(), rng);
  // More threads than cores cuts the work into many pieces: a wrong image offset or
  // scratch offset between the problems of one call shows there.
  for (int threads : {1, 3, 8}) {
    SCOPED_TRACE("threads=" + std::to_string(threads));
    ScopedThreadCount scoped(threads);
    run_all(cases, precision);
    for (const ConvCase& c : cases)
      expect_matches_direct(c, precision == GemmPrecision::kFp32 ? kFp32Tolerance : kTf32Tolerance);
  }
}

INSTANTIATE_TEST_SUITE_P(BothPrecisions, Conv2dPrecisionTest,
                         ::testing::Values(GemmPrecision::kFp32, GemmPrecision::kTf32),
                         [](const ::testing::TestParamInfo<GemmPrecision>& info) {
                           return std::string(precision_name(info.param));
                         });

// 28 x 28 x 32 with a 5 x 5 kernel: 784 rows of 800 floats per image, more than the CPU
// form's chunk of about 1 MB of im2col columns, so each of the 29 images is a chunk of its
// own; the weight gradient sums them in 8 runs of up to 4 chunks (at most 8 partial sums
// per problem) and adds the runs' sums in order. The small problems around it run in the
// same call.
TEST(Conv2dChunkTest, ProblemLargerThanTheScratchRunsInChunks) {
  Rng rng(3300);
  const ConvSpec big{29, 28, 28, 32, 8, 5, 2};
  std::vector<ConvCase> cases = make_cases({{2, 5, 7, 3, 4, 3, 1}, big, {1, 9, 9, 1, 2, 5, 0}}, rng);
  run_all(cases);
  for (const ConvCase& c : cases) expect_matches_direct(c, kFp32Tolerance);

  std::vector<ConvCase> alone{cases[1]};
  run_all(alone);
  EXPECT_TRUE(bitwise_equal(alone[0].output, cases[1].output));
  EXPECT_TRUE(bitwise_equal(alone[0].input_grad, cases[1].input_grad));
  EXPECT_TRUE(bitwise_equal(alone[0].weight_grad, cases[1].weight_grad));
}

// ---- run-time images ------------------------------------------------------------------

TEST(Conv2dDynamicImagesTest, TouchesOnlyTheRunTimeImages) {
  Rng rng(3400);
  ConvCase c = make_case({5, 9, 9, 3, 4, 3, 1}, rng);
  const int32_t run_time_images = 3;
  Conv2dForward forward = c.forward();
  Conv2dBackwardData backward_data = c.backward_data();
  Conv2dBackwardWeight backward_weight = c.backward_weight();
  forward.dynamic_images = backward_data.dynamic_images = backward_weight.dynamic_images = &run_time_images;
  conv2d_forward_cpu(std::span(&forward, 1));
  conv2d_backward_data_cpu(std::span(&backward_data, 1));
  conv2d_backward_weight_cpu(std::span(&backward_weight, 1));

  expect_matches_direct(c, kFp32Tolerance, false, run_time_images);
  // Images 3 and 4 lie past the run-time count: still poison.
  const ConvGeometry& g = c.geometry;
  auto untouched = [](const std::vector<float>& v, int64_t from) {
    return std::all_of(v.begin() + from, v.end(), [](float x) { return std::isnan(x); });
  };
  EXPECT_TRUE(untouched(c.output, run_time_images * g.output_size()));
  EXPECT_TRUE(untouched(c.input_grad, run_time_images * g.input_size()));

  // The same bits as a problem issued for three images: the weight gradient's sum is the
  // same sum whatever the bound.
  ConvCase three = c;
  three.images = run_time_images;
  std::vector<ConvCase> fixed{three};
  run_all(fixed);
  EXPECT_TRUE(bitwise_equal(fixed[0].output, c.output));
  EXPECT_TRUE(bitwise_equal(fixed[0].input_grad, c.input_grad));
  EXPECT_TRUE(bitwise_equal(fixed[0].weight_grad, c.weight_grad));
}

TEST(Conv2dDynamicImagesTest, RunTimeCountIsCappedByTheBound) {
  Rng rng(3401);
  ConvCase c = make_case({2, 5, 7, 3, 4, 3, 1}, rng);
  const int32_t too_many = 9;
  Conv2dForward forward = c.forward();
  Conv2dBackwardData backward_data = c.backward_data();
  Conv2dBackwardWeight backward_weight = c.backward_weight();
  forward.dynamic_images = backward_data.dynamic_images = backward_weight.dynamic_images = &too_many;
  conv2d_forward_cpu(std::span(&forward, 1));
  conv2d_backward_data_cpu(std::span(&backward_data, 1));
  conv2d_backward_weight_cpu(std::span(&backward_weight, 1));
  expect_matches_direct(c, kFp32Tolerance);
}

TEST(Conv2dDynamicImagesTest, ZeroImagesWriteNothingButAZeroWeightGradient) {
  Rng rng(3402);
  ConvCase c = make_case({2, 5, 7, 3, 4, 3, 1}, rng);
  const int32_t none = 0;
  Conv2dForward forward = c.forward();
  Conv2dBackwardData backward_data = c.backward_data();
  Conv2dBackwardWeight backward_weight = c.backward_weight();
  forward.dynamic_images = backward_data.dynamic_images = backward_weight.dynamic_images = &none;
  conv2d_forward_cpu(std::span(&forward, 1));
  conv2d_backward_data_cpu(std::span(&backward_data, 1));
  conv2d_backward_weight_cpu(std::span(&backward_weight, 1));
  auto all_nan = [](const std::vector<float>& v) { return std::all_of(v.begin(), v.end(), [](float x) { return std::isnan(x); }); };
  EXPECT_TRUE(all_nan(c.output));
  EXPECT_TRUE(all_nan(c.input_grad));
  EXPECT_TRUE(std::all_of(c.weight_grad.begin(), c.weight_grad.end(), [](float x) { return x == 0.0f; }));
}

// ---- determinism ----------------------------------------------------------------------

TEST(Conv2dDeterminismTest, SameCallTwiceIsBitwiseIdentical) {
  Rng rng(3500);
  std::vector<ConvCase> cases = make_cases(mixed_specs(), rng);
  for (GemmPrecision precision : {GemmPrecision::kFp32, GemmPrecision::kTf32}) {
    SCOPED_TRACE(std::string(precision_name(precision)));
    run_all(cases, precision);
    const std::vector<ConvCase> first = cases;
    run_all(cases, precision);
    for (size_t i = 0; i < cases.size(); ++i) {
      EXPECT_TRUE(bitwise_equal(cases[i].output, first[i].output)) << "problem " << i;
      EXPECT_TRUE(bitwise_equal(cases[i].input_grad, first[i].input_grad)) << "problem " << i;
      EXPECT_TRUE(bitwise_equal(cases[i].weight_grad, first[i].weight_grad)) << "problem " << i;
    }
  }
}

// A slot must train to the same bits whichever bundle it lands in.
TEST(Conv2dDeterminismTest, ProblemAloneEqualsProblemInGroup) {
  Rng rng(3501);
  std::vector<ConvCase> cases = make_cases(mixed_specs(), rng);
  for (int threads : {2, 8}) {
    SCOPED_TRACE("threads=" + std::to_string(threads));
    ScopedThreadCount scoped(threads);
    run_all(cases);
    const std::vector<ConvCase> grouped = cases;

    std::vector<ConvCase> reversed(cases.rbegin(), cases.rend());
    run_all(reversed);
    for (size_t i = 0; i < cases.size(); ++i) {
      const ConvCase& r = reversed[cases.size() - 1 - i];
      EXPECT_TRUE(bitwise_equal(r.output, grouped[i].output)) << "reversed, " << grouped[i].describe();
      EXPECT_TRUE(bitwise_equal(r.input_grad, grouped[i].input_grad)) << "reversed, " << grouped[i].describe();
      EXPECT_TRUE(bitwise_equal(r.weight_grad, grouped[i].weight_grad)) << "reversed, " << grouped[i].describe();
    }
    for (size_t i = 0; i < cases.size(); ++i) {
      std::vector<ConvCase> alone{cases[i]};
      run_all(alone);
      EXPECT_TRUE(bitwise_equal(alone[0].output, grouped[i].output)) << "alone, " << grouped[i].describe();
      EXPECT_TRUE(bitwise_equal(alone[0].input_grad, grouped[i].input_grad)) << "alone, " << grouped[i].describe();
      EXPECT_TRUE(bitwise_equal(alone[0].weight_grad, grouped[i].weight_grad)) << "alone, " << grouped[i].describe();
    }
  }
}

// ---- gradients ------------------------------------------------------------------------

// L(X, W) = sum(forward(X, W) * G) is linear in X and in W, so a central difference of L
// computed through the float forward kernel is exact but for the rounding of the outputs
// the perturbation touches; backward_data(G) and backward_weight(X, G) must match it.
TEST(Conv2dGradientTest, BackwardFormsAreTheGradientsOfTheForward) {
  Rng rng(3600);
  constexpr float kStep = 0.5f;  // no truncation error to trade against: a large step resolves best
  constexpr double kTolerance = 1e-4;
  for (const ConvSpec& spec : std::vector<ConvSpec>{{2, 5, 7, 3, 4, 3, 1}, {1, 6, 5, 2, 3, 5, 0}, {2, 4, 5, 2, 3, 5, 4}}) {
    ConvCase c = make_case(spec, rng);
    SCOPED_TRACE(c.describe());
    std::vector<ConvCase> one{c};
    run_all(one);
    const std::vector<float> input_grad = one[0].input_grad, weight_grad = one[0].weight_grad;

    auto loss = [&](const std::vector<float>& x, const std::vector<float>& w) {
      std::vector<float> y(c.output.size(), test::quiet_nan());
      const Conv2dForward p{.images = c.images, .geometry = c.geometry, .input = x.data(), .weights = w.data(),
                            .output = y.data()};
      conv2d_forward_cpu(std::span(&p, 1));
      double sum = 0.0;
      for (size_t i = 0; i < y.size(); ++i) sum += double(y[i]) * c.output_grad[i];
      return sum;
    };
    // d loss / d v[e] by central difference, v being the input or the weights.
    auto numeric = [&](std::vector<float> x, std::vector<float> w, bool of_input, size_t e) {
      std::vector<float>& v = of_input ? x : w;
      const float original = v[e];
      const float plus = original + kStep, minus = original - kStep;
      v[e] = plus;
      const double high = loss(x, w);
      v[e] = minus;
      const double low = loss(x, w);
      return (high - low) / (double(plus) - double(minus));
    };
    double worst = 0.0;
    auto check = [&](float analytic, double expected, const char* what, size_t e) {
      const double error = std::abs(analytic - expected) / (1.0 + std::abs(expected));
      worst = std::max(worst, error);
      EXPECT_LE(error, kTolerance) << what << " element " << e << " analytic " << analytic << " numeric " << expected;
    };
    for (size_t e = 0; e < c.input.size(); ++e) check(input_grad[e], numeric(c.input, c.weights, true, e), "dX", e);
    for (size_t e = 0; e < c.weights.size(); ++e) check(weight_grad[e], numeric(c.input, c.weights, false, e), "dW", e);
    RecordProperty("worst_relative_error_" + std::to_string(spec.kernel) + "_" + std::to_string(spec.padding),
                   std::to_string(worst));
  }
}

// ---- workspace ------------------------------------------------------------------------

TEST(Conv2dWorkspaceTest, WeightGradientWorkspaceIsOnePartialSumPerSplitOfTheRows) {
  // 32 x 32 same: 1024 rows per image, one split's worth; 3 x 3 x 3 -> 8: 216 weights.
  const ConvGeometry g{.height = 32, .width = 32, .in_channels = 3, .out_channels = 8, .kernel = 3, .padding = 1};
  ASSERT_EQ(g.weight_count(), 216);
  EXPECT_EQ(conv2d_weight_grad_workspace(g, 0), 216) << "at least one split";
  EXPECT_EQ(conv2d_weight_grad_workspace(g, 1), 216);
  EXPECT_EQ(conv2d_weight_grad_workspace(g, 2), 2 * 216);
  EXPECT_EQ(conv2d_weight_grad_workspace(g, 64), 64 * 216);
  EXPECT_EQ(conv2d_weight_grad_workspace(g, 1000), 64 * 216) << "at most 64 splits";
  // 5 x 7 valid with a 3 x 3 kernel: 15 rows per image; 69 images are 1035 rows, two splits.
  const ConvGeometry small{.height = 5, .width = 7, .in_channels = 1, .out_channels = 2, .kernel = 3, .padding = 0};
  EXPECT_EQ(conv2d_weight_grad_workspace(small, 68), small.weight_count());
  EXPECT_EQ(conv2d_weight_grad_workspace(small, 69), 2 * small.weight_count());
}

// ---- validation -----------------------------------------------------------------------

std::string geometry_rejection(const ConvGeometry& g) {
  try {
    validate_conv_geometry(g, "layer 7");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "no std::invalid_argument for " << describe(g, 1);
  return {};
}

TEST(Conv2dValidationTest, GeometryRejectsEachMalformedField) {
  const ConvGeometry valid{.height = 5, .width = 7, .in_channels = 3, .out_channels = 4, .kernel = 3, .padding = 1};
  EXPECT_NO_THROW(validate_conv_geometry(valid, "layer 7"));
  struct Bad {
    ConvGeometry geometry;
    const char* mentions;
  };
  auto with = [&](auto change) {
    ConvGeometry g = valid;
    change(g);
    return g;
  };
  const std::vector<Bad> bad{
      {with([](ConvGeometry& g) { g.height = 0; }), "sizes below 1"},
      {with([](ConvGeometry& g) { g.width = -2; }), "sizes below 1"},
      {with([](ConvGeometry& g) { g.in_channels = 0; }), "sizes below 1"},
      {with([](ConvGeometry& g) { g.out_channels = 0; }), "sizes below 1"},
      {with([](ConvGeometry& g) { g.kernel = 2; }), "kernel 2"},
      {with([](ConvGeometry& g) { g.kernel = 0; g.padding = 0; }), "kernel 0"},
      {with([](ConvGeometry& g) { g.padding = -1; }), "padding -1"},
      {with([](ConvGeometry& g) { g.padding = 3; }), "padding 3"},
      // A 5 x 5 kernel without padding does not fit a 5 x 3 image.
      {with([](ConvGeometry& g) { g.width = 3; g.kernel = 5; g.padding = 0; }), "smaller than 1x1"},
  };
  for (const Bad& b : bad) {
    const std::string message = geometry_rejection(b.geometry);
    EXPECT_NE(message.find("layer 7"), std::string::npos) << message;
    EXPECT_NE(message.find(b.mentions), std::string::npos) << message;
  }
  // The largest legal padding, kernel - 1, is a "full" convolution.
  EXPECT_NO_THROW(validate_conv_geometry(with([](ConvGeometry& g) { g.kernel = 5; g.padding = 4; }), "layer 7"));
}

template <typename Problem>
std::string rejection(void (*run)(std::span<const Problem>, GemmPrecision), const std::vector<Problem>& problems) {
  try {
    run(problems, GemmPrecision::kFp32);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "no std::invalid_argument thrown";
  return {};
}

TEST(Conv2dValidationTest, MessagesNameTheOperationAndTheProblem) {
  Rng rng(3700);
  ConvCase c = make_case({2, 5, 7, 3, 4, 3, 1}, rng);

  Conv2dForward null_input = c.forward();
  null_input.input = nullptr;
  EXPECT_NE(rejection(&conv2d_forward_cpu, {c.forward(), c.forward(), null_input}).find("conv2d_forward problem 2"),
            std::string::npos);

  Conv2dBackwardData null_weights = c.backward_data();
  null_weights.weights = nullptr;
  EXPECT_NE(rejection(&conv2d_backward_data_cpu, {c.backward_data(), null_weights}).find("conv2d_backward_data problem 1"),
            std::string::npos);

  Conv2dBackwardWeight even_kernel = c.backward_weight();
  even_kernel.geometry.kernel = 4;
  EXPECT_NE(rejection(&conv2d_backward_weight_cpu, {even_kernel, c.backward_weight()})
                .find("conv2d_backward_weight problem 0"),
            std::string::npos);

  Conv2dForward negative = c.forward();
  negative.images = -1;
  EXPECT_NE(rejection(&conv2d_forward_cpu, {c.forward(), negative}).find("conv2d_forward problem 1"), std::string::npos);
}

TEST(Conv2dValidationTest, EveryProblemIsCheckedBeforeAnyIsRun) {
  Rng rng(3701);
  ConvCase c = make_case({2, 5, 7, 3, 4, 3, 1}, rng);
  Conv2dForward bad = c.forward();
  bad.output = nullptr;
  EXPECT_FALSE(rejection(&conv2d_forward_cpu, {c.forward(), bad}).empty());
  EXPECT_TRUE(std::all_of(c.output.begin(), c.output.end(), [](float x) { return std::isnan(x); }));
}

TEST(Conv2dValidationTest, NoImagesNeedNoTensorsButTheWeightGradient) {
  const ConvGeometry g{.height = 5, .width = 7, .in_channels = 3, .out_channels = 4, .kernel = 3, .padding = 1};
  const std::vector<Conv2dForward> forward{{.images = 0, .geometry = g}};
  EXPECT_NO_THROW(conv2d_forward_cpu(forward));
  const std::vector<Conv2dBackwardData> backward_data{{.images = 0, .geometry = g}};
  EXPECT_NO_THROW(conv2d_backward_data_cpu(backward_data));

  // With no images the weight gradient is an empty sum: zeros, written.
  std::vector<float> weight_grad(static_cast<size_t>(g.weight_count()), test::quiet_nan());
  const std::vector<Conv2dBackwardWeight> backward_weight{{.images = 0, .geometry = g, .weight_grad = weight_grad.data()}};
  EXPECT_NO_THROW(conv2d_backward_weight_cpu(backward_weight));
  EXPECT_TRUE(std::all_of(weight_grad.begin(), weight_grad.end(), [](float x) { return x == 0.0f; }));
  const std::vector<Conv2dBackwardWeight> no_weight_grad{{.images = 0, .geometry = g}};
  EXPECT_NE(rejection(&conv2d_backward_weight_cpu, no_weight_grad).find("weight_grad"), std::string::npos);

  EXPECT_NO_THROW(conv2d_forward_cpu(std::span<const Conv2dForward>()));
}

}  // namespace
}  // namespace gpu_tune::kernels
