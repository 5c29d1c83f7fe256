// The convolution's CUDA forms (implicit GEMM) against its CPU forms (im2col + CBLAS):
// odd image sizes, 1..64 channels (off the 64-wide tile), kernels 1, 3 and 5 with same,
// valid and in-between padding, one problem and many of different shapes in one call,
// run-time image counts below the bound, in both precisions (TF32 against the CPU's TF32
// emulation: the same rounded operands, so only the order of the FP32 sums differs), and
// the weight gradient's split sum bit for bit from run to run. Outputs start as NaN, so an
// element left unwritten fails; elements beyond the run-time images must stay NaN.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "kernels/conv2d.h"
#include "tests/cuda/conv_test_case.h"
#include "tests/cuda/cuda_test_utils.h"

namespace gpu_tune::kernels {
namespace {

using cuda_test::backend;
using cuda_test::kFp32Tolerance;
using cuda_test::to_device;
using test::relative_l2_error;
using test::Rng;

// TF32 results against the FP32 reference: operands keep 10 mantissa bits (relative error
// up to 2^-11 each), so sums over a few hundred terms land within about 1e-3.
constexpr double kTf32AgainstFp32Tolerance = 2e-3;

using conv_test::ConvCase;
using conv_test::ConvSpec;
using conv_test::describe;
using conv_test::head;
using conv_test::make_case;
using conv_test::make_cases;
using conv_test::spec;
using conv_test::written_beyond;

// Odd sizes (5x7, 9x9, 14x14, 28x28), channels 1, 3, 32, 33 and 64, kernels 1, 3 and 5,
// same, valid and in-between padding, odd image counts. Small enough for the emulated
// runtime; the 28x28 ones have more than 1024 rows, so their weight gradients split.
std::vector<ConvSpec> shape_specs() {
  return {
      spec(1, 5, 7, 1, 1, 1, 0),     // 1x1 kernel, one channel
      spec(3, 5, 7, 3, 32, 3, 1),    // same
      spec(1, 5, 7, 33, 3, 5, 0),    // valid, 1x3 output
      spec(2, 9, 9, 33, 3, 5, 0),    // valid 5x5
      spec(3, 9, 9, 32, 33, 3, 0),   // valid 3x3
      spec(5, 9, 9, 3, 64, 5, 1),    // padding between valid and same
      spec(1, 7, 5, 64, 64, 5, 2),   // same, kernel as wide as the image
      spec(3, 14, 14, 64, 33, 1, 0), // pointwise
      spec(2, 14, 14, 32, 64, 3, 1),
      spec(3, 28, 28, 1, 32, 5, 2),  // 2352 rows: 3 splits of the weight gradient
      spec(7, 14, 14, 3, 33, 3, 1),  // 1372 rows: 2 splits of 686, not a multiple of 16
  };
}

void expect_forward_matches(const ConvCase& c, double tolerance = kFp32Tolerance) {
  SCOPED_TRACE("forward " + describe(c.spec));
  const int64_t written = c.spec.effective_images() * c.g().output_size();
  EXPECT_LT(relative_l2_error(head(c.y_device, written), cuda_test::as_double(c.y_cpu)), tolerance);
  EXPECT_EQ(written_beyond(c.y_device, written, c.spec.images * c.g().output_size()), 0u)
      << "output written beyond the run-time images";
}

void expect_backward_data_matches(const ConvCase& c, double tolerance = kFp32Tolerance) {
  SCOPED_TRACE("backward data " + describe(c.spec));
  const int64_t written = c.spec.effective_images() * c.g().input_size();
  EXPECT_LT(relative_l2_error(head(c.dx_device, written), cuda_test::as_double(c.dx_cpu)), tolerance);
  EXPECT_EQ(written_beyond(c.dx_device, written, c.spec.images * c.g().input_size()), 0u)
      << "input gradient written beyond the run-time images";
}

void expect_backward_weight_matches(const ConvCase& c, double tolerance = kFp32Tolerance) {
  SCOPED_TRACE("backward weight " + describe(c.spec));
  EXPECT_LT(relative_l2_error(head(c.dw_device, c.g().weight_count()), cuda_test::as_double(c.dw_cpu)), tolerance);
}

enum Pass { kForward = 1, kBackwardData = 2, kBackwardWeight = 4, kAllPasses = 7 };

void run_on_gpu(const std::vector<ConvCase>& cases, GemmPrecision precision, int passes = kAllPasses) {
  std::vector<Conv2dForward> forward;
  std::vector<Conv2dBackwardData> data;
  std::vector<Conv2dBackwardWeight> weight;
  for (const ConvCase& c : cases) {
    forward.push_back(c.forward());
    data.push_back(c.backward_data());
    weight.push_back(c.backward_weight());
  }
  if (passes & kForward) conv2d_forward_cuda(forward, backend().stream(), precision);
  if (passes & kBackwardData) conv2d_backward_data_cuda(data, backend().stream(), precision);
  if (passes & kBackwardWeight) conv2d_backward_weight_cuda(weight, backend().stream(), precision);
  backend().synchronize();
}

void expect_all_match(const std::vector<ConvCase>& cases) {
  for (const ConvCase& c : cases) {
    expect_forward_matches(c);
    expect_backward_data_matches(c);
    expect_backward_weight_matches(c);
  }
}

class Conv2dCudaPrecisionTest : public ::testing::TestWithParam<GemmPrecision> {};

// Each shape alone, every pass.
TEST_P(Conv2dCudaPrecisionTest, EachShapeAloneMatchesCpu) {
  GPU_TUNE_REQUIRE_GPU();
  const GemmPrecision precision = GetParam();
  Rng rng(5001);
  for (const ConvSpec& s : shape_specs()) {
    std::vector<ConvCase> one;
    one.push_back(make_case(s, rng, precision));
    run_on_gpu(one, precision);
    expect_all_match(one);
  }
}

// Every shape in one call per pass: one launch per pass covers problems of different
// geometries, tile counts and splits.
TEST_P(Conv2dCudaPrecisionTest, ManyShapesInOneCallMatchCpu) {
  GPU_TUNE_REQUIRE_GPU();
  const GemmPrecision precision = GetParam();
  Rng rng(5002);
  const std::vector<ConvCase> cases = make_cases(shape_specs(), rng, precision);
  run_on_gpu(cases, precision);
  expect_all_match(cases);
}

INSTANTIATE_TEST_SUITE_P(Precisions, Conv2dCudaPrecisionTest,
                         ::testing::Values(GemmPrecision::kFp32, GemmPrecision::kTf32),
                         [](const ::testing::TestParamInfo<GemmPrecision>& info) {
                           return std::string(precision_name(info.param));
                         });

// A captured step replayed with a smaller last minibatch: images read from device memory,
// below the bound (and one above it, which the bound caps). The weight gradient's blocks
// of rows beyond the run-time rows must add nothing, and the forward and data-gradient
// outputs beyond the run-time images must stay untouched.
TEST(Conv2dCudaTest, RunTimeImagesBelowTheBound) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(5003);
  std::vector<ConvSpec> specs = {
      spec(4, 28, 28, 3, 32, 3, 1),  // bound 3136 rows, 4 splits; run-time 1 image: 784 rows
      spec(5, 9, 9, 33, 17, 5, 2),
      spec(3, 14, 14, 32, 64, 3, 0),
      spec(3, 5, 7, 1, 3, 3, 1),
      spec(2, 9, 9, 3, 5, 1, 0),
  };
  const int run_time[] = {1, 3, 0, 7, 2};
  for (size_t i = 0; i < specs.size(); ++i) specs[i].run_time_images = run_time[i];
  for (GemmPrecision precision : {GemmPrecision::kFp32, GemmPrecision::kTf32}) {
    SCOPED_TRACE(std::string(precision_name(precision)));
    const std::vector<ConvCase> cases = make_cases(specs, rng, precision);
    run_on_gpu(cases, precision);
    expect_all_match(cases);
  }
}

// No images at all: nothing is written forward and back, and the weight gradient is zero.
TEST(Conv2dCudaTest, NoImagesWritesZeroWeightGradient) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(5004);
  const std::vector<ConvCase> cases = make_cases({spec(0, 9, 9, 3, 5, 3, 1), spec(3, 5, 7, 3, 4, 3, 1)}, rng,
                                                 GemmPrecision::kFp32);
  run_on_gpu(cases, GemmPrecision::kFp32);
  for (float v : head(cases[0].dw_device, cases[0].g().weight_count())) EXPECT_EQ(v, 0.0f);
  expect_all_match(cases);
}

// The weight gradient's split sum is added in a fixed order: the same call twice gives the
// same bits, and so does each problem alone (its result does not depend on its neighbours).
TEST(Conv2dCudaTest, WeightGradientIsDeterministic) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(5005);
  std::vector<ConvSpec> specs = {spec(3, 28, 28, 1, 32, 5, 2), spec(7, 14, 14, 3, 33, 3, 1),
                                 spec(2, 14, 14, 32, 64, 3, 1), spec(5, 9, 9, 3, 64, 5, 1)};
  specs[1].run_time_images = 5;
  std::vector<ConvCase> cases = make_cases(specs, rng, GemmPrecision::kFp32);
  run_on_gpu(cases, GemmPrecision::kFp32, kBackwardWeight);
  std::vector<std::vector<float>> first;
  for (const ConvCase& c : cases) first.push_back(c.dw_device.download());
  for (ConvCase& c : cases) c.poison_outputs();
  run_on_gpu(cases, GemmPrecision::kFp32, kBackwardWeight);
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_TRUE(test::bitwise_equal(cases[i].dw_device.download(), first[i])) << "again: " << describe(specs[i]);
    expect_backward_weight_matches(cases[i]);
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<ConvCase> alone;
    alone.push_back(std::move(cases[i]));
    alone[0].poison_outputs();
    run_on_gpu(alone, GemmPrecision::kFp32, kBackwardWeight);
    EXPECT_TRUE(test::bitwise_equal(alone[0].dw_device.download(), first[i])) << "alone: " << describe(specs[i]);
  }
}

// What TF32 costs against the FP32 reference, printed for the record; and TF32 that is as
// exact as FP32 would not be TF32.
TEST(Conv2dCudaTest, Tf32AgainstFp32Reference) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(5006);
  const std::vector<ConvCase> cases =
      make_cases({spec(3, 14, 14, 32, 64, 3, 1), spec(3, 28, 28, 1, 32, 5, 2)}, rng, GemmPrecision::kFp32);
  run_on_gpu(cases, GemmPrecision::kTf32);
  double worst = 0.0;
  for (const ConvCase& c : cases) {
    const std::vector<std::pair<double, const char*>> errors = {
        {relative_l2_error(head(c.y_device, c.spec.images * c.g().output_size()), cuda_test::as_double(c.y_cpu)),
         "forward"},
        {relative_l2_error(head(c.dx_device, c.spec.images * c.g().input_size()), cuda_test::as_double(c.dx_cpu)),
         "backward data"},
        {relative_l2_error(head(c.dw_device, c.g().weight_count()), cuda_test::as_double(c.dw_cpu)),
         "backward weight"}};
    for (const auto& [error, pass] : errors) {
      EXPECT_LT(error, kTf32AgainstFp32Tolerance) << pass << " " << describe(c.spec);
      worst = std::max(worst, error);
    }
  }
  std::cout << "conv2d tf32: worst relative L2 error against the FP32 CPU reference " << worst << "\n";
  EXPECT_GT(worst, 1e-6) << "TF32 that is as exact as FP32 is not TF32";
}

// More problems than one launch's parameters hold: the span is cut into several launches
// per pass (a quarter of the weight gradients split their rows and need the reduction).
TEST(Conv2dCudaTest, MoreProblemsThanOneLaunchHolds) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(5007);
  std::uniform_int_distribution<int> channels(1, 3);
  std::vector<ConvSpec> specs;
  for (int i = 0; i < 130; ++i) {
    const int kernel = i % 3 == 0 ? 1 : 3;
    // Every fourth: 30 images of 5x7 (35 rows each, same padding), 1050 rows, 2 splits.
    specs.push_back(spec(i % 4 == 0 ? 30 : 1 + i % 3, 5, 7, channels(rng), channels(rng) + 2, kernel, kernel / 2));
  }
  const std::vector<ConvCase> cases = make_cases(specs, rng, GemmPrecision::kFp32);
  run_on_gpu(cases, GemmPrecision::kFp32);
  expect_all_match(cases);
}

// The CUDA backend runs our kernels for the convolution whatever GEMM library it uses;
// an empty span issues nothing.
TEST(Conv2dCudaTest, BackendMethodsMatchCpu) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(5008);
  const std::vector<ConvCase> cases =
      make_cases({spec(3, 9, 9, 3, 33, 3, 1), spec(2, 5, 7, 32, 4, 5, 0)}, rng, GemmPrecision::kFp32);
  std::vector<Conv2dForward> forward;
  std::vector<Conv2dBackwardData> data;
  std::vector<Conv2dBackwardWeight> weight;
  for (const ConvCase& c : cases) {
    forward.push_back(c.forward());
    data.push_back(c.backward_data());
    weight.push_back(c.backward_weight());
  }
  CudaBackend& b = backend();
  b.conv2d_forward({});
  b.conv2d_backward_data({});
  b.conv2d_backward_weight({});
  b.conv2d_forward(forward);
  b.conv2d_backward_data(data);
  b.conv2d_backward_weight(weight);
  b.synchronize();
  expect_all_match(cases);
}

// Host-side checks run before anything touches the GPU, so they need none.
TEST(Conv2dCudaValidationTest, RejectsMalformedProblemsBeforeLaunching) {
  auto expect_rejected = [](auto run, const std::string& problem) {
    try {
      run();
      ADD_FAILURE() << "no std::invalid_argument";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(problem), std::string::npos) << e.what();
    }
  };
  const ConvGeometry good{5, 7, 3, 4, 3, 1};
  float dummy = 0.0f;
  const Conv2dForward ok{1, good, &dummy, &dummy, &dummy};
  Conv2dForward even_kernel = ok;
  even_kernel.geometry.kernel = 2;
  expect_rejected([&] { conv2d_forward_cuda(std::vector{ok, even_kernel}, nullptr); }, "conv2d_forward problem 1");
  Conv2dForward null_output = ok;
  null_output.output = nullptr;
  expect_rejected([&] { conv2d_forward_cuda(std::vector{null_output}, nullptr); }, "conv2d_forward problem 0");

  Conv2dBackwardData bad_padding{1, good, &dummy, &dummy, &dummy};
  bad_padding.geometry.padding = 3;
  expect_rejected([&] { conv2d_backward_data_cuda(std::vector{bad_padding}, nullptr); },
                  "conv2d_backward_data problem 0");
  Conv2dBackwardData negative{-1, good, &dummy, &dummy, &dummy};
  expect_rejected([&] { conv2d_backward_data_cuda(std::vector{negative}, nullptr); }, "conv2d_backward_data problem 0");

  const Conv2dBackwardWeight weight_ok{1, good, &dummy, &dummy, &dummy, &dummy};
  Conv2dBackwardWeight no_workspace = weight_ok;
  no_workspace.workspace = nullptr;
  expect_rejected([&] { conv2d_backward_weight_cuda(std::vector{weight_ok, weight_ok, no_workspace}, nullptr); },
                  "conv2d_backward_weight problem 2");
  Conv2dBackwardWeight too_small = weight_ok;
  too_small.geometry = {2, 2, 3, 4, 5, 0};  // a valid 5x5 convolution of a 2x2 image
  expect_rejected([&] { conv2d_backward_weight_cuda(std::vector{too_small}, nullptr); },
                  "conv2d_backward_weight problem 0");
}

}  // namespace
}  // namespace gpu_tune::kernels
