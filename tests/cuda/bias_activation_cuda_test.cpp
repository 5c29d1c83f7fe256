// The fused epilogues on the GPU against their CPU forms: every activation, dropout on
// and off (masks identical element for element), shapes off every block size, in place,
// one problem and many.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/bias_activation.h"
#include "tests/cuda/cuda_test_utils.h"

namespace gpu_tune::kernels {
namespace {

using cuda_test::backend;
using cuda_test::kFp32Tolerance;
using cuda_test::to_device;
using cuda_test::zero_pattern_mismatches;
using test::relative_l2_error;
using test::Rng;

constexpr Activation kActivations[] = {Activation::kIdentity, Activation::kRelu, Activation::kTanh, Activation::kGelu};

struct EpilogueSpec {
  int rows = 0, cols = 0;
  Activation activation = Activation::kIdentity;
  float dropout = 0.0f;
  uint64_t stream = 0;
};

std::string describe(const EpilogueSpec& s) {
  return std::to_string(s.rows) + "x" + std::to_string(s.cols) + " " + std::string(activation_name(s.activation)) +
         " dropout=" + std::to_string(s.dropout);
}

DropoutParams dropout_of(const EpilogueSpec& s) { return DropoutParams{s.dropout, s.stream}; }

std::vector<EpilogueSpec> random_specs(int count, Rng& rng) {
  const int sizes[] = {1, 7, 33, 100, 257, 784};
  const float rates[] = {0.0f, 0.2f, 0.5f};
  std::uniform_int_distribution<int> size(0, 5), activation(0, 3), rate(0, 2);
  std::vector<EpilogueSpec> specs;
  for (int i = 0; i < count; ++i)
    specs.push_back({sizes[size(rng)], sizes[size(rng)], kActivations[activation(rng)], rates[rate(rng)],
                     dropout_stream(77, static_cast<uint64_t>(i), 3)});
  return specs;
}

// ---- forward ---------------------------------------------------------------------------

struct ForwardCase {
  EpilogueSpec spec;
  std::vector<float> z, bias, z_cpu, out_cpu;
  DeviceArray<float> z_device, bias_device, out_device;
  bool in_place = false;

  BiasActivationForward device_problem() {
    return {spec.rows, spec.cols, z_device.data(), bias_device.data(), in_place ? z_device.data() : out_device.data(),
            spec.activation, dropout_of(spec)};
  }
};

ForwardCase make_forward(const EpilogueSpec& s, Rng& rng, bool in_place = false) {
  ForwardCase f;
  f.spec = s;
  f.in_place = in_place;
  const size_t n = static_cast<size_t>(s.rows) * s.cols;
  // Magnitudes up to 2 reach the curved parts of tanh and GELU.
  f.z = test::random_nonzero(n, rng, 0.05f, 2.0f);
  f.bias = test::random_nonzero(static_cast<size_t>(s.cols), rng, 0.05f, 0.5f);
  f.z_cpu = f.z;
  f.out_cpu.assign(n, test::quiet_nan());
  BiasActivationForward cpu{s.rows, s.cols, f.z_cpu.data(), f.bias.data(), in_place ? f.z_cpu.data() : f.out_cpu.data(),
                            s.activation, dropout_of(s)};
  bias_activation_forward_cpu(std::span(&cpu, 1));
  if (in_place) f.out_cpu = f.z_cpu;
  f.z_device = to_device(f.z);
  f.bias_device = to_device(f.bias);
  f.out_device = to_device(std::vector<float>(std::max<size_t>(n, 1), test::quiet_nan()));  // poison
  return f;
}

void expect_forward_matches(const ForwardCase& f) {
  SCOPED_TRACE(describe(f.spec) + (f.in_place ? " in place" : ""));
  const size_t n = f.z.size();
  std::vector<float> z = f.z_device.download(), out = f.in_place ? z : f.out_device.download();
  z.resize(n);
  out.resize(n);
  if (!f.in_place) {
    EXPECT_LT(relative_l2_error(z, cuda_test::as_double(f.z_cpu)), kFp32Tolerance) << "z";
  }
  EXPECT_LT(relative_l2_error(out, cuda_test::as_double(f.out_cpu)), kFp32Tolerance) << "out";
  // Dropped elements are exactly zero on both sides; the masks must agree everywhere.
  EXPECT_EQ(zero_pattern_mismatches(out, f.out_cpu), 0u);
}

void run_forward(std::vector<ForwardCase>& cases) {
  std::vector<BiasActivationForward> problems;
  for (ForwardCase& f : cases) problems.push_back(f.device_problem());
  bias_activation_forward_cuda(problems, backend().stream());
  backend().synchronize();
}

TEST(BiasActivationCudaTest, ForwardEachActivationAndShapeAlone) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(3001);
  const int shapes[][2] = {{1, 1}, {7, 33}, {100, 257}, {33, 784}, {257, 10}, {784, 100}, {1, 1025}};
  for (Activation activation : kActivations)
    for (float dropout : {0.0f, 0.3f})
      for (const auto& shape : shapes) {
        std::vector<ForwardCase> one;
        one.push_back(make_forward({shape[0], shape[1], activation, dropout, dropout_stream(5, 9, 1)}, rng));
        run_forward(one);
        expect_forward_matches(one[0]);
      }
}

TEST(BiasActivationCudaTest, ForwardThirtySevenProblemsInOneCall) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(3002);
  std::vector<ForwardCase> cases;
  for (const EpilogueSpec& s : random_specs(37, rng)) cases.push_back(make_forward(s, rng));
  run_forward(cases);
  for (const ForwardCase& f : cases) expect_forward_matches(f);
}

// Evaluation runs the epilogue in place (out == z), with any activation.
TEST(BiasActivationCudaTest, ForwardInPlace) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(3003);
  std::vector<ForwardCase> cases;
  for (const EpilogueSpec& s : random_specs(12, rng)) cases.push_back(make_forward(s, rng, /*in_place=*/true));
  run_forward(cases);
  for (const ForwardCase& f : cases) expect_forward_matches(f);
}

TEST(BiasActivationCudaTest, ForwardMoreProblemsThanOneLaunchHolds) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(3004);
  std::vector<ForwardCase> cases;
  std::uniform_int_distribution<int> dim(1, 40);
  for (int i = 0; i < 300; ++i)
    cases.push_back(make_forward({dim(rng), dim(rng), kActivations[i % 4], i % 3 == 0 ? 0.25f : 0.0f,
                                  dropout_stream(1, static_cast<uint64_t>(i), 0)},
                                 rng));
  run_forward(cases);
  for (const ForwardCase& f : cases) expect_forward_matches(f);
}

TEST(BiasActivationCudaTest, DropoutKeepsAboutOneMinusRate) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(3005);
  std::vector<ForwardCase> one;
  one.push_back(make_forward({257, 784, Activation::kTanh, 0.3f, dropout_stream(11, 2, 0)}, rng));
  run_forward(one);
  const std::vector<float> out = one[0].out_device.download();
  size_t dropped = 0;
  for (float v : out) dropped += v == 0.0f ? 1 : 0;
  EXPECT_NEAR(static_cast<double>(dropped) / out.size(), 0.3, 0.01);
}

// ---- backward --------------------------------------------------------------------------

struct BackwardCase {
  EpilogueSpec spec;
  std::vector<float> grad, z, grad_cpu, bias_grad_cpu;
  DeviceArray<float> grad_device, z_device, bias_grad_device;

  BiasActivationBackward device_problem() {
    return {spec.rows, spec.cols, grad_device.data(), z_device.data(), spec.activation, dropout_of(spec),
            bias_grad_device.data()};
  }
};

BackwardCase make_backward(const EpilogueSpec& s, Rng& rng) {
  BackwardCase b;
  b.spec = s;
  const size_t n = static_cast<size_t>(s.rows) * s.cols;
  b.grad = test::random_nonzero(n, rng);
  b.z = test::random_nonzero(n, rng, 0.05f, 2.0f);
  b.grad_cpu = b.grad;
  b.bias_grad_cpu.assign(static_cast<size_t>(s.cols), test::quiet_nan());
  BiasActivationBackward cpu{s.rows, s.cols, b.grad_cpu.data(), b.z.data(), s.activation, dropout_of(s),
                             b.bias_grad_cpu.data()};
  bias_activation_backward_cpu(std::span(&cpu, 1));
  b.grad_device = to_device(b.grad);
  b.z_device = to_device(b.z);
  b.bias_grad_device = to_device(std::vector<float>(std::max(s.cols, 1), test::quiet_nan()));  // poison
  return b;
}

void expect_backward_matches(const BackwardCase& b) {
  SCOPED_TRACE(describe(b.spec));
  std::vector<float> grad = b.grad_device.download(), bias_grad = b.bias_grad_device.download();
  grad.resize(b.grad.size());
  bias_grad.resize(static_cast<size_t>(b.spec.cols));
  EXPECT_LT(relative_l2_error(grad, cuda_test::as_double(b.grad_cpu)), kFp32Tolerance) << "grad";
  EXPECT_EQ(zero_pattern_mismatches(grad, b.grad_cpu), 0u) << "dropout / ReLU mask";
  EXPECT_LT(relative_l2_error(bias_grad, cuda_test::as_double(b.bias_grad_cpu)), kFp32Tolerance) << "bias_grad";
}

void run_backward(std::vector<BackwardCase>& cases) {
  std::vector<BiasActivationBackward> problems;
  for (BackwardCase& b : cases) problems.push_back(b.device_problem());
  bias_activation_backward_cuda(problems, backend().stream());
  backend().synchronize();
}

TEST(BiasActivationCudaTest, BackwardEachActivationAndShapeAlone) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(3101);
  const int shapes[][2] = {{1, 1}, {7, 33}, {100, 257}, {33, 784}, {257, 10}, {784, 100}, {1025, 3}};
  for (Activation activation : kActivations)
    for (float dropout : {0.0f, 0.3f})
      for (const auto& shape : shapes) {
        std::vector<BackwardCase> one;
        one.push_back(make_backward({shape[0], shape[1], activation, dropout, dropout_stream(6, 4, 2)}, rng));
        run_backward(one);
        expect_backward_matches(one[0]);
      }
}

TEST(BiasActivationCudaTest, BackwardThirtySevenProblemsInOneCall) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(3102);
  std::vector<BackwardCase> cases;
  for (const EpilogueSpec& s : random_specs(37, rng)) cases.push_back(make_backward(s, rng));
  run_backward(cases);
  for (const BackwardCase& b : cases) expect_backward_matches(b);
}

TEST(BiasActivationCudaTest, BackwardMoreProblemsThanOneLaunchHolds) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(3103);
  std::vector<BackwardCase> cases;
  std::uniform_int_distribution<int> dim(1, 70);
  for (int i = 0; i < 300; ++i)
    cases.push_back(make_backward({dim(rng), dim(rng), kActivations[i % 4], i % 2 == 0 ? 0.4f : 0.0f,
                                   dropout_stream(2, static_cast<uint64_t>(i), 1)},
                                  rng));
  run_backward(cases);
  for (const BackwardCase& b : cases) expect_backward_matches(b);
}

// No rows: the bias gradient is still written, as zeros (the CPU form's behaviour).
TEST(BiasActivationCudaTest, BackwardWithoutRowsWritesZeroBiasGradient) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(3104);
  std::vector<BackwardCase> cases;
  cases.push_back(make_backward({0, 45, Activation::kRelu, 0.0f, 0}, rng));
  cases.push_back(make_backward({9, 5, Activation::kGelu, 0.0f, 0}, rng));
  run_backward(cases);
  const std::vector<float> zeros = cases[0].bias_grad_device.download();
  for (float v : zeros) EXPECT_EQ(v, 0.0f);
  expect_backward_matches(cases[1]);
}

// Fixed-order column sums: the same call twice gives the same bits.
TEST(BiasActivationCudaTest, BackwardIsDeterministic) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(3105);
  std::vector<BackwardCase> cases;
  for (const EpilogueSpec& s : random_specs(37, rng)) cases.push_back(make_backward(s, rng));
  run_backward(cases);
  std::vector<std::vector<float>> first;
  for (const BackwardCase& b : cases) first.push_back(b.bias_grad_device.download());
  for (BackwardCase& b : cases) b.grad_device.upload(b.grad);
  run_backward(cases);
  for (size_t i = 0; i < cases.size(); ++i)
    EXPECT_TRUE(test::bitwise_equal(cases[i].bias_grad_device.download(), first[i])) << describe(cases[i].spec);
}

// Host-side checks run before anything touches the GPU, so they need none.
TEST(BiasActivationCudaValidationTest, RejectsMalformedProblemsBeforeLaunching) {
  BiasActivationForward null_bias;
  null_bias.rows = 2;
  null_bias.cols = 3;
  EXPECT_THROW(bias_activation_forward_cuda(std::vector{null_bias}, nullptr), std::invalid_argument);
  BiasActivationForward negative;
  negative.rows = -1;
  EXPECT_THROW(bias_activation_forward_cuda(std::vector{negative}, nullptr), std::invalid_argument);
  BiasActivationBackward null_bias_grad;
  null_bias_grad.rows = 2;
  null_bias_grad.cols = 3;
  EXPECT_THROW(bias_activation_backward_cuda(std::vector{null_bias_grad}, nullptr), std::invalid_argument);
  BiasActivationBackward bad_rate;
  bad_rate.dropout.rate = 1.5f;
  try {
    bias_activation_backward_cuda(std::vector{BiasActivationBackward{}, bad_rate}, nullptr);
    ADD_FAILURE() << "no std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("problem 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gpu_tune::kernels
