// grouped_gemm_cuda against grouped_gemm_cpu: shapes off every tile size, all four
// orientations, alpha and beta, padded leading dimensions, one problem and many.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/grouped_gemm.h"
#include "tests/cuda/cuda_test_utils.h"

namespace gpu_tune::kernels {
namespace {

using cuda_test::backend;
using cuda_test::kFp32Tolerance;
using cuda_test::to_device;
using test::relative_l2_error;
using test::Rng;

struct GemmSpec {
  int m = 0, n = 0, k = 0;
  bool transpose_a = false, transpose_b = false;
  float alpha = 1.0f, beta = 0.0f;
  int pad = 0;  // extra elements per row of A, B (pad + 1) and C (pad + 2) when > 0
};

std::string describe(const GemmSpec& s) {
  return "m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) +
         (s.transpose_a ? " A^T" : " A") + (s.transpose_b ? " B^T" : " B") + " alpha=" + std::to_string(s.alpha) +
         " beta=" + std::to_string(s.beta) + " pad=" + std::to_string(s.pad);
}

// One problem's host matrices, its CPU result, and its device copies.
struct GemmCase {
  GemmSpec spec;
  int lda = 0, ldb = 0, ldc = 0;
  std::vector<float> a, b, c_initial, c_cpu;
  DeviceArray<float> a_device, b_device, c_device;

  GemmProblem problem(const float* a_ptr, const float* b_ptr, float* c_ptr) const {
    return GemmProblem{.m = spec.m, .n = spec.n, .k = spec.k,
                       .a = a_ptr, .lda = lda, .transpose_a = spec.transpose_a,
                       .b = b_ptr, .ldb = ldb, .transpose_b = spec.transpose_b,
                       .c = c_ptr, .ldc = ldc, .alpha = spec.alpha, .beta = spec.beta};
  }
  GemmProblem device_problem() { return problem(a_device.data(), b_device.data(), c_device.data()); }
  void reset_device_c() { c_device.upload(c_initial); }
};

GemmCase make_case(const GemmSpec& s, Rng& rng) {
  GemmCase g;
  g.spec = s;
  const int a_rows = s.transpose_a ? s.k : s.m, a_cols = s.transpose_a ? s.m : s.k;
  const int b_rows = s.transpose_b ? s.n : s.k, b_cols = s.transpose_b ? s.k : s.n;
  g.lda = std::max(a_cols, 1) + s.pad;
  g.ldb = std::max(b_cols, 1) + (s.pad > 0 ? s.pad + 1 : 0);
  g.ldc = std::max(s.n, 1) + (s.pad > 0 ? s.pad + 2 : 0);
  // Padding holds live values too, so reading past a row's end shows in the result.
  g.a = test::random_nonzero(static_cast<size_t>(std::max(a_rows, 1)) * g.lda, rng);
  g.b = test::random_nonzero(static_cast<size_t>(std::max(b_rows, 1)) * g.ldb, rng);
  g.c_initial = test::random_nonzero(static_cast<size_t>(std::max(s.m, 1)) * g.ldc, rng);
  if (s.beta == 0.0f) {
    // Output only: NaN shows an element left unwritten, and a kernel that reads C anyway.
    for (int i = 0; i < s.m; ++i)
      for (int j = 0; j < s.n; ++j) g.c_initial[static_cast<size_t>(i) * g.ldc + j] = test::quiet_nan();
  }
  g.c_cpu = g.c_initial;
  GemmProblem cpu = g.problem(g.a.data(), g.b.data(), g.c_cpu.data());
  grouped_gemm_cpu(std::span(&cpu, 1));
  g.a_device = to_device(g.a);
  g.b_device = to_device(g.b);
  g.c_device = to_device(g.c_initial);
  return g;
}

// C's M x N block, dropping the padding.
std::vector<float> dense(const GemmCase& g, const std::vector<float>& c) {
  std::vector<float> out;
  for (int i = 0; i < g.spec.m; ++i)
    out.insert(out.end(), c.begin() + static_cast<ptrdiff_t>(i) * g.ldc, c.begin() + static_cast<ptrdiff_t>(i) * g.ldc + g.spec.n);
  return out;
}

void expect_matches_cpu(const GemmCase& g) {
  SCOPED_TRACE(describe(g.spec));
  const std::vector<float> gpu = g.c_device.download();
  const std::vector<float> gpu_dense = dense(g, gpu), cpu_dense = dense(g, g.c_cpu);
  EXPECT_LT(relative_l2_error(gpu_dense, cuda_test::as_double(cpu_dense)), kFp32Tolerance);
  // The gap between N and ldc belongs to someone else: it must be untouched.
  size_t padding_changed = 0;
  for (int i = 0; i < std::max(g.spec.m, 1); ++i)
    for (int j = g.spec.n; j < g.ldc; ++j) {
      const size_t e = static_cast<size_t>(i) * g.ldc + j;
      padding_changed += std::memcmp(&gpu[e], &g.c_initial[e], sizeof(float)) != 0 ? 1 : 0;
    }
  EXPECT_EQ(padding_changed, 0u);
}

void run_on_gpu(std::vector<GemmCase>& cases) {
  std::vector<GemmProblem> problems;
  for (GemmCase& g : cases) problems.push_back(g.device_problem());
  grouped_gemm_cuda(problems, backend().stream());
  backend().synchronize();
}

class GroupedGemmCudaTransposeTest : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

// Every size of 1, 7, 33, 100, 257 and 784 in every dimension, each problem alone.
TEST_P(GroupedGemmCudaTransposeTest, EachShapeAloneMatchesCpu) {
  GPU_TUNE_REQUIRE_GPU();
  const auto [transpose_a, transpose_b] = GetParam();
  Rng rng(2000 + 2 * int(transpose_a) + int(transpose_b));
  const int sizes[] = {1, 7, 33, 100, 257, 784};
  int index = 0;
  for (int m : sizes)
    for (int n : sizes)
      for (int k : sizes) {
        const float betas[] = {0.0f, 0.5f, -1.5f, 1.0f};
        GemmSpec s{m, n, k, transpose_a, transpose_b, index % 2 ? -1.25f : 0.75f, betas[index % 4],
                   index % 3 == 0 ? 0 : index % 3 + 1};
        std::vector<GemmCase> one;
        one.push_back(make_case(s, rng));
        run_on_gpu(one);
        expect_matches_cpu(one[0]);
        ++index;
      }
}

INSTANTIATE_TEST_SUITE_P(AllOrientations, GroupedGemmCudaTransposeTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<bool, bool>>& info) {
                           return std::string(std::get<0>(info.param) ? "At" : "A") +
                                  (std::get<1>(info.param) ? "Bt" : "B");
                         });

// 37 problems of unrelated shapes, orientations and scalars in one call, as the backward
// pass of a bundle submits them.
std::vector<GemmSpec> mixed_specs(int count, Rng& rng) {
  const int sizes[] = {1, 7, 33, 64, 65, 100, 257, 784};
  const float alphas[] = {1.0f, 0.5f, -1.0f, 2.0f};
  const float betas[] = {0.0f, 1.0f, 0.25f, -0.5f};
  std::uniform_int_distribution<int> size(0, 7), small(0, 3), pad(0, 3);
  std::vector<GemmSpec> specs;
  for (int i = 0; i < count; ++i) {
    specs.push_back({sizes[size(rng)], sizes[size(rng)], sizes[size(rng)], small(rng) % 2 == 1, small(rng) >= 2,
                     alphas[small(rng)], betas[small(rng)], pad(rng)});
  }
  return specs;
}

TEST(GroupedGemmCudaTest, ThirtySevenMixedProblemsInOneCall) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(2101);
  std::vector<GemmCase> cases;
  for (const GemmSpec& s : mixed_specs(37, rng)) cases.push_back(make_case(s, rng));
  run_on_gpu(cases);
  for (const GemmCase& g : cases) expect_matches_cpu(g);
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
