// Softmax cross-entropy on the GPU against the CPU form: loss sums, accuracy counts and
// row counts added into existing sums, gradients (whose rows sum to zero), with and
// without a gradient, one problem and many.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/softmax_cross_entropy.h"
#include "tests/cuda/cuda_test_utils.h"

namespace gpu_tune::kernels {
namespace {

using cuda_test::backend;
using cuda_test::kFp32Tolerance;
using cuda_test::to_device;
using test::relative_l2_error;
using test::Rng;

struct LossSpec {
  int rows = 0, classes = 0;
  bool with_grad = true;
  float logit_scale = 3.0f;
};

std::string describe(const LossSpec& s) {
  return std::to_string(s.rows) + "x" + std::to_string(s.classes) + (s.with_grad ? " grad" : " no grad") +
         " scale=" + std::to_string(s.logit_scale);
}

struct LossCase {
  LossSpec spec;
  std::vector<float> logits, grad_cpu;
  std::vector<int32_t> labels;
  MetricSums initial, sums_cpu;
  DeviceArray<float> logits_device, grad_device;
  DeviceArray<int32_t> labels_device;
  DeviceArray<MetricSums> sums_device;

  SoftmaxCrossEntropyProblem device_problem() {
    return {spec.rows, spec.classes, logits_device.data(), labels_device.data(),
            spec.with_grad ? grad_device.data() : nullptr, 1.0f / static_cast<float>(std::max(spec.rows, 1)),
            sums_device.data()};
  }
};

LossCase make_case(const LossSpec& s, Rng& rng) {
  LossCase c;
  c.spec = s;
  const size_t n = static_cast<size_t>(s.rows) * s.classes;
  c.logits = test::random_nonzero(n, rng, 0.01f, s.logit_scale);
  std::uniform_int_distribution<int> label(0, s.classes - 1);
  for (int r = 0; r < s.rows; ++r) c.labels.push_back(label(rng));
  // Sums that already hold something: the call must add to them, not overwrite them.
  c.initial = MetricSums{12.5, 3.0, 7.0};
  c.sums_cpu = c.initial;
  c.grad_cpu.assign(n, test::quiet_nan());
  SoftmaxCrossEntropyProblem cpu{s.rows, s.classes, c.logits.data(), c.labels.data(),
                                 s.with_grad ? c.grad_cpu.data() : nullptr,
                                 1.0f / static_cast<float>(std::max(s.rows, 1)), &c.sums_cpu};
  softmax_cross_entropy_cpu(std::span(&cpu, 1));
  c.logits_device = to_device(c.logits);
  c.labels_device = to_device(c.labels);
  c.grad_device = to_device(std::vector<float>(std::max<size_t>(n, 1), test::quiet_nan()));  // poison
  c.sums_device = to_device(std::vector<MetricSums>{c.initial});
  return c;
}

void expect_matches_cpu(const LossCase& c) {
  SCOPED_TRACE(describe(c.spec));
  const MetricSums gpu = c.sums_device.download()[0];
  // Row losses are floats from the same formula (exp and log may differ in the last bit);
  // the sums are doubles in different orders. A row's loss is the difference of two
  // numbers near its largest logit, so it is exact only to that logit's ulp: a row whose
  // label wins by far has a loss of a few ulps, and one ulp more is a large relative
  // change. Hence the absolute allowance of two such ulps per row.
  const double loss_added_cpu = c.sums_cpu.loss_sum - c.initial.loss_sum;
  const double loss_added_gpu = gpu.loss_sum - c.initial.loss_sum;
  const double ulps = 2.0 * c.spec.rows * c.spec.logit_scale * 0x1.0p-23;
  EXPECT_TRUE(std::isfinite(gpu.loss_sum));
  EXPECT_NEAR(loss_added_gpu, loss_added_cpu, kFp32Tolerance * std::abs(loss_added_cpu) + ulps);
  EXPECT_EQ(gpu.correct, c.sums_cpu.correct);  // arg-max with first-on-ties: exact
  EXPECT_EQ(gpu.count, c.sums_cpu.count);
  const size_t n = c.logits.size();
  std::vector<float> grad = c.grad_device.download();
  grad.resize(n);
  if (c.spec.with_grad) {
    EXPECT_LT(relative_l2_error(grad, cuda_test::as_double(c.grad_cpu)), kFp32Tolerance);
    // softmax - onehot sums to zero over a row.
    double worst = 0.0;
    for (int r = 0; r < c.spec.rows; ++r) {
      double sum = 0.0;
      for (int j = 0; j < c.spec.classes; ++j) sum += grad[static_cast<size_t>(r) * c.spec.classes + j];
      worst = std::max(worst, std::abs(sum));
    }
    EXPECT_LT(worst, 1e-6 * (1.0 / std::max(c.spec.rows, 1)) * c.spec.classes);
  } else {
    for (float v : grad) EXPECT_TRUE(std::isnan(v)) << "evaluation must not write a gradient";
  }
}

void run_on_gpu(std::vector<LossCase>& cases) {
  std::vector<SoftmaxCrossEntropyProblem> problems;
  for (LossCase& c : cases) problems.push_back(c.device_problem());
  softmax_cross_entropy_cuda(problems, backend().stream());
  backend().synchronize();
}

TEST(SoftmaxCrossEntropyCudaTest, EachShapeAloneMatchesCpu) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(4001);
  const int shapes[][2] = {{1, 1}, {1, 10}, {7, 10}, {33, 3}, {100, 33}, {257, 10}, {500, 10}, {784, 100}, {1025, 7}};
  for (const auto& shape : shapes)
    for (bool with_grad : {true, false})
      for (float scale : {3.0f, 40.0f}) {  // 40: logits far apart, the stable path matters
        std::vector<LossCase> one;
        one.push_back(make_case({shape[0], shape[1], with_grad, scale}, rng));
        run_on_gpu(one);
        expect_matches_cpu(one[0]);
      }
}

TEST(SoftmaxCrossEntropyCudaTest, ThirtySevenProblemsInOneCall) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(4002);
  const int sizes[] = {1, 7, 33, 100, 257, 784};
  std::uniform_int_distribution<int> size(0, 5), classes(1, 40), coin(0, 1);
  std::vector<LossCase> cases;
  for (int i = 0; i < 37; ++i) cases.push_back(make_case({sizes[size(rng)], classes(rng), coin(rng) == 1}, rng));
  run_on_gpu(cases);
  for (const LossCase& c : cases) expect_matches_cpu(c);
}

TEST(SoftmaxCrossEntropyCudaTest, MoreProblemsThanOneLaunchHolds) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(4003);
  std::uniform_int_distribution<int> rows(1, 80), classes(2, 12);
  std::vector<LossCase> cases;
  for (int i = 0; i < 400; ++i) cases.push_back(make_case({rows(rng), classes(rng), i % 2 == 0}, rng));
  run_on_gpu(cases);
  for (const LossCase& c : cases) expect_matches_cpu(c);
}

// One block per problem, reduced in a fixed order: the same call twice adds the same bits.
TEST(SoftmaxCrossEntropyCudaTest, SumsAreDeterministic) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(4004);
  std::vector<LossCase> cases;
  cases.push_back(make_case({1025, 10, false}, rng));
  cases.push_back(make_case({257, 33, true}, rng));
  std::vector<MetricSums> first;
  for (int run = 0; run < 2; ++run) {
    for (LossCase& c : cases) c.sums_device.upload(std::vector<MetricSums>{c.initial});
    run_on_gpu(cases);
    for (size_t i = 0; i < cases.size(); ++i) {
      const MetricSums s = cases[i].sums_device.download()[0];
      if (run == 0) {
        first.push_back(s);
      } else {
        EXPECT_EQ(std::memcmp(&s, &first[i], sizeof(s)), 0) << describe(cases[i].spec);
      }
    }
  }
}

// A label outside [0, classes) cannot be read safely; the row's loss becomes NaN so the
// slot fails through the divergence check, and its neighbours are untouched.
TEST(SoftmaxCrossEntropyCudaTest, BadLabelPoisonsOnlyItsProblem) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(4005);
  std::vector<LossCase> cases;
  cases.push_back(make_case({33, 10, true}, rng));
  cases.push_back(make_case({33, 10, true}, rng));
  std::vector<int32_t> bad = cases[0].labels;
  bad[5] = 10;
  cases[0].labels_device.upload(bad);
  run_on_gpu(cases);
  EXPECT_TRUE(std::isnan(cases[0].sums_device.download()[0].loss_sum));
  expect_matches_cpu(cases[1]);
}

// Host-side checks run before anything touches the GPU, so they need none.
TEST(SoftmaxCrossEntropyCudaValidationTest, RejectsMalformedProblemsBeforeLaunching) {
  SoftmaxCrossEntropyProblem null_logits{.rows = 3, .classes = 10};
  EXPECT_THROW(softmax_cross_entropy_cuda(std::vector{null_logits}, nullptr), std::invalid_argument);
  // Two problems adding into one MetricSums would race on the GPU.
  std::vector<float> logits(30, 1.0f);
  std::vector<int32_t> labels(3, 0);
  MetricSums shared;
  SoftmaxCrossEntropyProblem p{3, 10, logits.data(), labels.data(), nullptr, 1.0f, &shared};
  EXPECT_THROW(softmax_cross_entropy_cuda(std::vector{p, p}, nullptr), std::invalid_argument);
  SoftmaxCrossEntropyProblem no_classes = p;
  no_classes.classes = 0;
  try {
    softmax_cross_entropy_cuda(std::vector{SoftmaxCrossEntropyProblem{}, no_classes}, nullptr);
    ADD_FAILURE() << "no std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("problem 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gpu_tune::kernels
