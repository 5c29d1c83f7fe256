// The cuDNN convolution path (CudnnConv2d) against the CPU forms: odd image sizes, channels
// 1, 3, 32 and 33, kernels 1, 3 and 5 with same, valid and in-between padding, one problem
// and many of different shapes in one call, run-time image counts below the bound, in both
// precisions (FP32 to 1e-5; TF32 against the CPU's TF32 emulation to 2e-3, since cuDNN does
// not document how it rounds operands to TF32), results the same bits from call to call and
// alone or beside other problems, and the CUDA backend routing its convolutions here when
// asked. Outputs start as NaN, so an element left unwritten fails; elements beyond the
// run-time images must stay NaN.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "engine/backend_factory.h"
#include "kernels/conv2d.h"
#include "tests/cuda/conv_test_case.h"
#include "tests/cuda/cuda_test_utils.h"
#ifdef GPU_TUNE_WITH_CUDNN
#include "kernels/conv2d_cudnn.h"
#endif

namespace gpu_tune::kernels {
namespace {

#ifdef GPU_TUNE_WITH_CUDNN

using cuda_test::backend;
using cuda_test::kFp32Tolerance;
using cuda_test::to_device;
using test::relative_l2_error;
using test::Rng;

// TF32 against the CPU's TF32 emulation and against FP32: operands keep 10 mantissa bits
// (an error of up to 2^-11 each when rounded to nearest, under 2^-10 when truncated), so
// sums of random-signed terms land within about 1e-3 whichever rounding cuDNN uses.
constexpr double kTf32Tolerance = 2e-3;

double tolerance(GemmPrecision precision) { return precision == GemmPrecision::kTf32 ? kTf32Tolerance : kFp32Tolerance; }

using conv_test::ConvCase;
using conv_test::ConvSpec;
using conv_test::describe;
using conv_test::head;
using conv_test::make_case;
using conv_test::make_cases;
using conv_test::spec;
using conv_test::written_beyond;

// Odd sizes, channels 1, 3, 32 and 33 in and out, kernels 1, 3 and 5, same, valid and
// in-between padding, odd image counts; small enough for the emulated runtime.
std::vector<ConvSpec> shape_specs() {
  return {
      spec(1, 5, 7, 1, 1, 1, 0),     // 1x1 kernel, one channel
      spec(3, 5, 7, 3, 32, 3, 1),    // same
      spec(1, 5, 7, 33, 3, 5, 0),    // valid, 1x3 output
      spec(2, 9, 9, 33, 3, 5, 0),    // valid 5x5
      spec(3, 9, 9, 32, 33, 3, 0),   // valid 3x3
      spec(5, 9, 9, 3, 32, 5, 1),    // between valid and same
      spec(1, 7, 5, 33, 32, 5, 2),   // same, kernel as wide as the image
      spec(3, 14, 14, 32, 33, 1, 0), // pointwise
      spec(3, 11, 13, 1, 32, 5, 2),  // same, one input channel
      spec(7, 13, 11, 3, 33, 3, 1),
  };
}

void expect_all_match(const std::vector<ConvCase>& cases, double tol) {
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(describe(c.spec));
    const ConvGeometry& g = c.g();
    const int n = c.spec.effective_images();
    EXPECT_LT(relative_l2_error(head(c.y_device, n * g.output_size()), cuda_test::as_double(c.y_cpu)), tol)
        << "forward";
    EXPECT_LT(relative_l2_error(head(c.dx_device, n * g.input_size()), cuda_test::as_double(c.dx_cpu)), tol)
        << "backward data";
    EXPECT_LT(relative_l2_error(head(c.dw_device, g.weight_count()), cuda_test::as_double(c.dw_cpu)), tol)
        << "backward weight";
    EXPECT_EQ(written_beyond(c.y_device, n * g.output_size(), c.spec.images * g.output_size()), 0u)
        << "output written beyond the run-time images";
    EXPECT_EQ(written_beyond(c.dx_device, n * g.input_size(), c.spec.images * g.input_size()), 0u)
        << "input gradient written beyond the run-time images";
  }
}

// All three passes of every case, each pass one call for the whole span.
void run_cudnn(CudnnConv2d& conv, const std::vector<ConvCase>& cases, GemmPrecision precision) {
  std::vector<Conv2dForward> forward;
  std::vector<Conv2dBackwardData> data;
  std::vector<Conv2dBackwardWeight> weight;
  for (const ConvCase& c : cases) {
    forward.push_back(c.forward());
    data.push_back(c.backward_data());
    weight.push_back(c.backward_weight(/*with_workspace=*/false));
  }
  conv.forward(forward, precision);
  conv.backward_data(data, precision);
  conv.backward_weight(weight, precision);
  backend().synchronize();
}

class CudnnConv2dPrecisionTest : public ::testing::TestWithParam<GemmPrecision> {};

TEST_P(CudnnConv2dPrecisionTest, EachShapeAloneMatchesCpu) {
  GPU_TUNE_REQUIRE_GPU();
  const GemmPrecision precision = GetParam();
  Rng rng(7001);
  CudnnConv2d conv(backend().stream());
  for (const ConvSpec& s : shape_specs()) {
    std::vector<ConvCase> one;
    one.push_back(make_case(s, rng, precision));
    run_cudnn(conv, one, precision);
    expect_all_match(one, tolerance(precision));
  }
}

// Every shape in one call per pass: the transposes of the whole span in one launch, then
// one cuDNN call per problem, each with its own plan and its own slice of the filter buffer.
TEST_P(CudnnConv2dPrecisionTest, ManyShapesInOneCallMatchCpu) {
  GPU_TUNE_REQUIRE_GPU();
  const GemmPrecision precision = GetParam();
  Rng rng(7002);
  const std::vector<ConvCase> cases = make_cases(shape_specs(), rng, precision);
  CudnnConv2d conv(backend().stream());
  run_cudnn(conv, cases, precision);
  expect_all_match(cases, tolerance(precision));
}

INSTANTIATE_TEST_SUITE_P(Precisions, CudnnConv2dPrecisionTest,
                         ::testing::Values(GemmPrecision::kFp32, GemmPrecision::kTf32),
                         [](const ::testing::TestParamInfo<GemmPrecision>& info) {
                           return std::string(precision_name(info.param));
                         });

// Run-time image counts read from device memory: below the bound, zero, and above it
// (capped). Outputs beyond them stay untouched; the weight gradient sums only them.
TEST(CudnnConv2dTest, RunTimeImagesBelowTheBound) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(7003);
  std::vector<ConvSpec> specs = {spec(4, 13, 11, 3, 32, 3, 1), spec(5, 9, 9, 33, 17, 5, 2),
                                 spec(3, 14, 14, 32, 33, 3, 0), spec(3, 5, 7, 1, 3, 3, 1),
                                 spec(2, 9, 9, 3, 5, 1, 0)};
  const int run_time[] = {1, 3, 0, 7, 2};
  for (size_t i = 0; i < specs.size(); ++i) specs[i].run_time_images = run_time[i];
  CudnnConv2d conv(backend().stream());
  for (GemmPrecision precision : {GemmPrecision::kFp32, GemmPrecision::kTf32}) {
    SCOPED_TRACE(std::string(precision_name(precision)));
    const std::vector<ConvCase> cases = make_cases(specs, rng, precision);
    run_cudnn(conv, cases, precision);
    expect_all_match(cases, tolerance(precision));
  }
}

// No images (by bound or at run time): nothing is written forward and back, and the weight
// gradient is zero.
TEST(CudnnConv2dTest, NoImagesWritesZeroWeightGradient) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(7004);
  std::vector<ConvSpec> specs = {spec(0, 9, 9, 3, 5, 3, 1), spec(3, 5, 7, 3, 4, 3, 1), spec(2, 5, 7, 1, 3, 5, 2)};
  specs[2].run_time_images = 0;
  const std::vector<ConvCase> cases = make_cases(specs, rng, GemmPrecision::kFp32);
  CudnnConv2d conv(backend().stream());
  run_cudnn(conv, cases, GemmPrecision::kFp32);
  for (size_t i : {size_t(0), size_t(2)})
    for (float v : head(cases[i].dw_device, cases[i].g().weight_count())) EXPECT_EQ(v, 0.0f) << describe(specs[i]);
  expect_all_match(cases, kFp32Tolerance);
}

// Deterministic algorithms only: the same call again gives the same bits, and so does each
// problem alone (its plan depends on its own shape, not on its neighbours).
TEST(CudnnConv2dTest, SameBitsAgainAndAlone) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(7005);
  const std::vector<ConvSpec> specs = {spec(3, 14, 14, 1, 32, 5, 2), spec(7, 13, 11, 3, 33, 3, 1),
                                       spec(2, 9, 9, 32, 32, 3, 1)};
  std::vector<ConvCase> cases = make_cases(specs, rng, GemmPrecision::kFp32);
  CudnnConv2d conv(backend().stream());
  auto outputs = [](const ConvCase& c) {
    return std::vector<std::vector<float>>{c.y_device.download(), c.dx_device.download(), c.dw_device.download()};
  };
  run_cudnn(conv, cases, GemmPrecision::kFp32);
  std::vector<std::vector<std::vector<float>>> first;
  for (const ConvCase& c : cases) first.push_back(outputs(c));
  for (ConvCase& c : cases) c.poison_outputs();
  run_cudnn(conv, cases, GemmPrecision::kFp32);
  for (size_t i = 0; i < cases.size(); ++i)
    for (size_t pass = 0; pass < 3; ++pass)
      EXPECT_TRUE(test::bitwise_equal(outputs(cases[i])[pass], first[i][pass]))
          << "again: " << describe(specs[i]) << ", pass " << pass;
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<ConvCase> alone;
    alone.push_back(std::move(cases[i]));
    alone[0].poison_outputs();
    run_cudnn(conv, alone, GemmPrecision::kFp32);
    for (size_t pass = 0; pass < 3; ++pass)
      EXPECT_TRUE(test::bitwise_equal(outputs(alone[0])[pass], first[i][pass]))
          << "alone: " << describe(specs[i]) << ", pass " << pass;
  }
}

// What TF32 costs against the FP32 reference, printed for the record. (Not required to be
// above FP32's error: CUDNN_TENSOR_OP_MATH permits tensor cores, cuDNN may still pick an
// FMA kernel for a shape.)
TEST(CudnnConv2dTest, Tf32AgainstFp32Reference) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(7006);
  const std::vector<ConvCase> cases =
      make_cases({spec(3, 14, 14, 32, 33, 3, 1), spec(3, 13, 11, 1, 32, 5, 2)}, rng, GemmPrecision::kFp32);
  CudnnConv2d conv(backend().stream());
  run_cudnn(conv, cases, GemmPrecision::kTf32);
  double worst = 0.0;
  for (const ConvCase& c : cases) {
    const ConvGeometry& g = c.g();
    for (const auto& [error, pass] : std::vector<std::pair<double, const char*>>{
             {relative_l2_error(head(c.y_device, c.spec.images * g.output_size()), cuda_test::as_double(c.y_cpu)),
              "forward"},
             {relative_l2_error(head(c.dx_device, c.spec.images * g.input_size()), cuda_test::as_double(c.dx_cpu)),
              "backward data"},
             {relative_l2_error(head(c.dw_device, g.weight_count()), cuda_test::as_double(c.dw_cpu)),
              "backward weight"}}) {
      EXPECT_LT(error, kTf32Tolerance) << pass << " " << describe(c.spec);
      worst = std::max(worst, error);
    }
  }
  std::cout << "conv2d cuDNN tf32: worst relative L2 error against the FP32 CPU reference " << worst << "\n";
}

// More problems than one launch of the transpose kernel or of the run-time count gather
// holds, each with run-time images: several launches per call, every problem in its place.
TEST(CudnnConv2dTest, MoreProblemsThanOneLaunchHolds) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(7007);
  std::uniform_int_distribution<int> channels(1, 3);
  std::vector<ConvSpec> specs;
  for (int i = 0; i < 600; ++i) {
    const int kernel = i % 3 == 0 ? 1 : 3;
    specs.push_back(spec(1 + i % 3, 5, 7, channels(rng), channels(rng) + 1, kernel, kernel / 2));
    specs.back().run_time_images = i % 4;  // 0 to the bound, and one above it
  }
  const std::vector<ConvCase> cases = make_cases(specs, rng, GemmPrecision::kFp32);
  CudnnConv2d conv(backend().stream());
  run_cudnn(conv, cases, GemmPrecision::kFp32);
  expect_all_match(cases, kFp32Tolerance);
}

// The CUDA backend asked for cuDNN says so, does not replay steps, and runs its
// convolutions here; problems carry run-time images as the bundle's do.
TEST(CudnnConv2dTest, BackendRunsItsConvolutionsThroughCudnn) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(7008);
  CudaBackend b(0, BackendOptions{.conv = ConvLibrary::kCudnn});
  EXPECT_NE(b.device_description().find("cuDNN conv"), std::string::npos) << b.device_description();
  EXPECT_FALSE(b.replays_steps());
  std::vector<ConvSpec> specs = {spec(3, 9, 9, 3, 33, 3, 1), spec(2, 5, 7, 32, 4, 5, 0)};
  specs[0].run_time_images = 2;
  specs[1].run_time_images = 2;
  const std::vector<ConvCase> cases = make_cases(specs, rng, GemmPrecision::kFp32);
  std::vector<Conv2dForward> forward;
  std::vector<Conv2dBackwardData> data;
  std::vector<Conv2dBackwardWeight> weight;
  for (const ConvCase& c : cases) {
    forward.push_back(c.forward());
    data.push_back(c.backward_data());
    weight.push_back(c.backward_weight(/*with_workspace=*/false));  // no workspace: our kernels would refuse that
  }
  b.conv2d_forward({});
  b.conv2d_forward(forward);
  b.conv2d_backward_data(data);
  b.conv2d_backward_weight(weight);
  b.synchronize();
  expect_all_match(cases, kFp32Tolerance);
}

// Host-side checks run before anything is queued, naming the problem; the handle itself
// needs a GPU.
TEST(CudnnConv2dTest, RejectsMalformedProblemsBeforeQueueing) {
  GPU_TUNE_REQUIRE_GPU();
  CudnnConv2d conv(backend().stream());
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
  expect_rejected([&] { conv.forward(std::vector{ok, even_kernel}); }, "conv2d_forward problem 1");
  Conv2dForward null_output = ok;
  null_output.output = nullptr;
  expect_rejected([&] { conv.forward(std::vector{null_output}); }, "conv2d_forward problem 0");
  Conv2dBackwardData bad_padding{1, good, &dummy, &dummy, &dummy};
  bad_padding.geometry.padding = 3;
  expect_rejected([&] { conv.backward_data(std::vector{bad_padding}); }, "conv2d_backward_data problem 0");
  Conv2dBackwardWeight no_gradient{1, good, &dummy, &dummy, nullptr};
  expect_rejected([&] { conv.backward_weight(std::vector{no_gradient}); }, "conv2d_backward_weight problem 0");
  Conv2dBackwardWeight negative{-1, good, &dummy, &dummy, &dummy};
  expect_rejected([&] { conv.backward_weight(std::vector{negative}); }, "conv2d_backward_weight problem 0");
}

// Inside a CUDA-graph capture the path refuses what would allocate or synchronise there (a
// shape it has no plan for, run-time image counts to read back) instead of breaking the
// capture; the stream stays usable and the same call works outside.
TEST(CudnnConv2dTest, CaptureRefusesWhatWouldAllocateOrWait) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(7009);
  std::vector<ConvCase> cases = make_cases({spec(2, 9, 9, 3, 5, 3, 1)}, rng, GemmPrecision::kFp32);
  CudnnConv2d conv(backend().stream());
  cudaStream_t stream = backend().stream();
  auto capture_forward = [&](const Conv2dForward& problem) {
    ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    EXPECT_THROW(conv.forward(std::vector{problem}), std::logic_error);
    cudaGraph_t graph = nullptr;
    EXPECT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
    if (graph != nullptr) cudaGraphDestroy(graph);
  };
  capture_forward(cases[0].forward());  // no plan yet
  ConvCase& c = cases[0];
  run_cudnn(conv, cases, GemmPrecision::kFp32);  // the plan exists now
  Conv2dForward with_run_time_images = c.forward();
  with_run_time_images.dynamic_images = c.images_device.data();
  capture_forward(with_run_time_images);  // a count to read back
  c.poison_outputs();
  run_cudnn(conv, cases, GemmPrecision::kFp32);
  expect_all_match(cases, kFp32Tolerance);
}

#else  // no cuDNN in this build

TEST(CudnnConv2dTest, ThisBuildHasNoCudnn) {
  GPU_TUNE_REQUIRE_GPU();
  try {
    CudaBackend b(0, BackendOptions{.conv = ConvLibrary::kCudnn});
    ADD_FAILURE() << "a CUDA backend with --conv cudnn in a build without cuDNN";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("this build has no cuDNN"), std::string::npos) << e.what();
  }
}

#endif

// The flag's values; the CPU backend takes --conv cudnn and ignores it (it has only its
// reference), in every build.
TEST(ConvLibraryTest, ParsesOwnAndCudnnAndTheCpuIgnoresIt) {
  EXPECT_EQ(parse_conv_library("own"), ConvLibrary::kOwn);
  EXPECT_EQ(parse_conv_library("cudnn"), ConvLibrary::kCudnn);
  EXPECT_EQ(parse_conv_library("cuDNN"), std::nullopt);
  EXPECT_EQ(parse_conv_library(""), std::nullopt);
  const BackendSelection cpu = select_backend(BackendChoice::kCpu, BackendOptions{.conv = ConvLibrary::kCudnn});
  EXPECT_EQ(cpu.backend->name(), "cpu");
}

}  // namespace
}  // namespace gpu_tune::kernels
