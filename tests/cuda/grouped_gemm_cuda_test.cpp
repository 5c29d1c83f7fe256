// grouped_gemm_cuda against grouped_gemm_cpu: shapes off every tile size, all four
// orientations, alpha and beta, padded leading dimensions, one problem and many, in both
// precisions (TF32 against the CPU's TF32 emulation: the same rounded operands, so the
// only difference left is the order of the FP32 sums).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/grouped_gemm.h"
#include "tests/cuda/cuda_test_utils.h"
#include "tests/cuda/gemm_test_case.h"

namespace gpu_tune::kernels {
namespace {

using cuda_test::backend;
using cuda_test::kFp32Tolerance;
using cuda_test::to_device;
using namespace cuda_test_gemm;
using test::relative_l2_error;
using test::Rng;

// The matrices, and the CPU's result in the precision under test.
struct GemmCase : GemmMatrices {
  std::vector<float> c_cpu;
};

GemmCase make_case(const GemmSpec& s, Rng& rng, GemmPrecision precision = GemmPrecision::kFp32) {
  GemmCase g{make_matrices(s, rng), {}};
  g.c_cpu = g.c_initial;
  GemmProblem cpu = g.problem(g.a.data(), g.b.data(), g.c_cpu.data());
  grouped_gemm_cpu(std::span(&cpu, 1), precision);
  return g;
}

void expect_matches_cpu(const GemmCase& g) {
  SCOPED_TRACE(describe(g.spec));
  const std::vector<float> gpu = g.c_device.download();
  const std::vector<float> gpu_dense = dense(g, gpu), cpu_dense = dense(g, g.c_cpu);
  EXPECT_LT(relative_l2_error(gpu_dense, cuda_test::as_double(cpu_dense)), kFp32Tolerance);
  EXPECT_EQ(padding_changes(g, gpu), 0u);
}

void run_on_gpu(std::vector<GemmCase>& cases, GemmPrecision precision = GemmPrecision::kFp32) {
  std::vector<GemmProblem> problems;
  for (GemmCase& g : cases) problems.push_back(g.device_problem());
  grouped_gemm_cuda(problems, backend().stream(), precision);
  backend().synchronize();
}

class GroupedGemmCudaTransposeTest : public ::testing::TestWithParam<std::tuple<bool, bool, GemmPrecision>> {};

// Every size of 1, 7, 33, 100, 257 and 784 in every dimension, each problem alone.
TEST_P(GroupedGemmCudaTransposeTest, EachShapeAloneMatchesCpu) {
  GPU_TUNE_REQUIRE_GPU();
  const auto [transpose_a, transpose_b, precision] = GetParam();
  Rng rng(2000 + 2 * int(transpose_a) + int(transpose_b));
  // 257 already spans several tiles with a ragged edge; 784 (an MLP's input width)
  // is left to the GPU, since in emulation, where each GPU thread is a CPU thread, its 91
  // shapes take most of this test's time (minutes under the sanitizers).
#ifdef GPU_TUNE_EMULATED_CUDA
  const std::vector<int> sizes = {1, 7, 33, 100, 257};
#else
  const std::vector<int> sizes = {1, 7, 33, 100, 257, 784};
#endif
  int index = 0;
  for (int m : sizes)
    for (int n : sizes)
      for (int k : sizes) {
        const float betas[] = {0.0f, 0.5f, -1.5f, 1.0f};
        GemmSpec s{m, n, k, transpose_a, transpose_b, index % 2 ? -1.25f : 0.75f, betas[index % 4],
                   index % 3 == 0 ? 0 : index % 3 + 1};
        std::vector<GemmCase> one;
        one.push_back(make_case(s, rng, precision));
        run_on_gpu(one, precision);
        expect_matches_cpu(one[0]);
        ++index;
      }
}

INSTANTIATE_TEST_SUITE_P(AllOrientations, GroupedGemmCudaTransposeTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool(),
                                            ::testing::Values(GemmPrecision::kFp32, GemmPrecision::kTf32)),
                         [](const ::testing::TestParamInfo<std::tuple<bool, bool, GemmPrecision>>& info) {
                           return std::string(std::get<0>(info.param) ? "At" : "A") +
                                  (std::get<1>(info.param) ? "Bt" : "B") + "_" +
                                  std::string(precision_name(std::get<2>(info.param)));
                         });

TEST(GroupedGemmCudaTest, ThirtySevenMixedProblemsInOneCall) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(2101);
  std::vector<GemmCase> cases;
  for (const GemmSpec& s : mixed_specs(37, rng)) cases.push_back(make_case(s, rng));
  run_on_gpu(cases);
  for (const GemmCase& g : cases) expect_matches_cpu(g);
}

TEST(GroupedGemmCudaTest, ThirtySevenMixedProblemsInOneCallTf32) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(2105);
  std::vector<GemmCase> cases;
  for (const GemmSpec& s : mixed_specs(37, rng)) cases.push_back(make_case(s, rng, GemmPrecision::kTf32));
  run_on_gpu(cases, GemmPrecision::kTf32);
  for (const GemmCase& g : cases) expect_matches_cpu(g);
}

// What TF32 costs in accuracy, on the layer shapes of mlp_medium at batch 64: the error
// of each precision against the FP32 CPU reference, printed for the record. TF32 keeps 10
// of FP32's 23 mantissa bits, so operands carry relative error up to 2^-11 and a product
// of sums over K a few times that; FP32 stays within the usual 1e-5.
TEST(GroupedGemmCudaTest, ErrorOfEachPrecisionAgainstFp32Reference) {
  GPU_TUNE_REQUIRE_GPU();
  const std::vector<GemmSpec> shapes = {{64, 256, 784}, {64, 128, 256}, {64, 10, 128},       // forward
                                        {784, 256, 64, true}, {256, 128, 64, true},         // weight gradient
                                        {64, 256, 128, false, true}, {64, 128, 10, false, true}};  // input gradient
  for (GemmPrecision precision : {GemmPrecision::kFp32, GemmPrecision::kTf32}) {
    Rng rng(2106);
    std::vector<GemmCase> cases;
    for (const GemmSpec& s : shapes) cases.push_back(make_case(s, rng, GemmPrecision::kFp32));
    run_on_gpu(cases, precision);
    double worst = 0.0;
    for (const GemmCase& g : cases) {
      const std::vector<float> gpu = dense(g, g.c_device.download()), cpu = dense(g, g.c_cpu);
      worst = std::max(worst, relative_l2_error(gpu, cuda_test::as_double(cpu)));
    }
    std::cout << "grouped_gemm_cuda " << precision_name(precision)
              << ": worst relative L2 error against the FP32 CPU reference " << worst << "\n";
    RecordProperty(std::string(precision_name(precision)) + "_relative_error", std::to_string(worst));
    EXPECT_LT(worst, precision == GemmPrecision::kFp32 ? kFp32Tolerance : 2e-3);
    if (precision == GemmPrecision::kTf32) {
      EXPECT_GT(worst, 1e-6) << "TF32 that is as exact as FP32 is not TF32";
    }
  }
}

// The run-time sizes (a captured step replayed with a smaller last minibatch): M and K
// read from device memory, below the bounds the launch was sized for. Rows beyond the
// run-time M stay untouched.
TEST(GroupedGemmCudaTest, RunTimeSizesBelowTheBounds) {
  GPU_TUNE_REQUIRE_GPU();
  for (GemmPrecision precision : {GemmPrecision::kFp32, GemmPrecision::kTf32}) {
    Rng rng(2107);
    // Bounds of a batch-128 slot, run with 37 rows: forward (M), weight gradient (K).
    GemmCase forward = make_case({37, 100, 65}, rng, precision);
    GemmCase weight_grad = make_case({65, 100, 37, true}, rng, precision);
    const std::vector<int32_t> rows{37};
    DeviceArray<int32_t> rows_device = to_device(rows);
    // The bound: the same buffers seen as 128 rows (A and C padded out with live values).
    GemmCase forward_bound = make_case({128, 100, 65}, rng, precision);
    GemmCase weight_bound = make_case({65, 100, 128, true}, rng, precision);
    std::copy(forward.a.begin(), forward.a.end(), forward_bound.a.begin());
    forward_bound.a_device.upload(forward_bound.a);
    forward_bound.b_device.upload(forward.b);
    std::copy(weight_grad.a.begin(), weight_grad.a.end(), weight_bound.a.begin());
    std::copy(weight_grad.b.begin(), weight_grad.b.end(), weight_bound.b.begin());
    weight_bound.a_device.upload(weight_bound.a);
    weight_bound.b_device.upload(weight_bound.b);
    weight_bound.c_device.upload(weight_grad.c_initial);
    GemmProblem f = forward_bound.device_problem();
    f.dynamic_m = rows_device.data();
    GemmProblem w = weight_bound.device_problem();
    w.dynamic_k = rows_device.data();
    grouped_gemm_cuda(std::vector{f, w}, backend().stream(), precision);
    const std::vector<float> f_out = forward_bound.c_device.download();
    const std::vector<float> w_out = weight_bound.c_device.download();
    EXPECT_LT(relative_l2_error(std::vector<float>(f_out.begin(), f_out.begin() + 37 * 100),
                                cuda_test::as_double(forward.c_cpu)), kFp32Tolerance);
    EXPECT_TRUE(test::bitwise_equal(std::vector<float>(f_out.begin() + 37 * 100, f_out.end()),
                                    std::vector<float>(forward_bound.c_initial.begin() + 37 * 100,
                                                       forward_bound.c_initial.end())))
        << "rows past the run-time M were written";
    EXPECT_LT(relative_l2_error(w_out, cuda_test::as_double(weight_grad.c_cpu)), kFp32Tolerance);
  }
}

// More problems than one launch's parameter block holds: the call splits into several
// launches, and problems on both sides of every split must come out right.
TEST(GroupedGemmCudaTest, MoreProblemsThanOneLaunchHolds) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(2102);
  std::vector<GemmCase> cases;
  std::uniform_int_distribution<int> dim(1, 70);
  for (int i = 0; i < 300; ++i) {
    GemmSpec s{dim(rng), dim(rng), dim(rng), i % 2 == 0, i % 3 == 0, 1.0f, i % 5 == 0 ? 0.5f : 0.0f, i % 4};
    cases.push_back(make_case(s, rng));
  }
  run_on_gpu(cases);
  for (const GemmCase& g : cases) expect_matches_cpu(g);
}

// Empty problems (M or N of 0) among live ones must neither launch work nor shift the
// others' tiles; K = 0 makes C = beta * C, and beta = 0 clears even NaN.
TEST(GroupedGemmCudaTest, EmptyAndZeroKProblemsAmongOthers) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(2103);
  std::vector<GemmCase> cases;
  for (const GemmSpec& s : std::vector<GemmSpec>{{33, 100, 7},
                                                 {0, 5, 4},
                                                 {5, 7, 0, false, false, 1.0f, 0.5f, 0},
                                                 {4, 0, 9, true, false},
                                                 {33, 3, 0, true, true, 2.0f, 0.0f, 2},
                                                 {100, 65, 257, true, true, -1.0f, 1.0f, 1}})
    cases.push_back(make_case(s, rng));
  run_on_gpu(cases);
  for (const GemmCase& g : cases) expect_matches_cpu(g);
}

TEST(GroupedGemmCudaTest, EmptySpanLaunchesNothing) {
  GPU_TUNE_REQUIRE_GPU();
  EXPECT_NO_THROW(grouped_gemm_cuda(std::span<const GemmProblem>(), backend().stream()));
  EXPECT_NO_THROW(backend().synchronize());
}

// No split-K and no atomics: the same call twice gives the same bits, and a problem gives
// the same bits alone as among others (a slot does not depend on its neighbours).
TEST(GroupedGemmCudaTest, DeterministicAndIndependentOfNeighbours) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(2104);
  std::vector<GemmCase> cases;
  for (const GemmSpec& s : mixed_specs(37, rng)) cases.push_back(make_case(s, rng));
  run_on_gpu(cases);
  std::vector<std::vector<float>> first;
  for (const GemmCase& g : cases) first.push_back(g.c_device.download());
  for (GemmCase& g : cases) g.reset_device_c();
  run_on_gpu(cases);
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_TRUE(test::bitwise_equal(cases[i].c_device.download(), first[i])) << "rerun, problem " << i;
    cases[i].reset_device_c();
    std::vector<GemmProblem> alone{cases[i].device_problem()};
    grouped_gemm_cuda(alone, backend().stream());
    EXPECT_TRUE(test::bitwise_equal(cases[i].c_device.download(), first[i])) << "alone, problem " << i;
  }
}

// Host-side checks: they run before anything touches the GPU, so they need none.
TEST(GroupedGemmCudaValidationTest, RejectsMalformedProblemsBeforeLaunching) {
  GemmProblem ok{.m = 4, .n = 5, .k = 6, .a = nullptr, .lda = 6, .b = nullptr, .ldb = 5, .c = nullptr, .ldc = 5};
  GemmProblem null_c = ok;
  EXPECT_THROW(grouped_gemm_cuda(std::vector{null_c}, nullptr), std::invalid_argument);
  GemmProblem negative = ok;
  negative.m = -1;
  try {
    grouped_gemm_cuda(std::vector{GemmProblem{}, negative}, nullptr);
    ADD_FAILURE() << "no std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("problem 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gpu_tune::kernels
