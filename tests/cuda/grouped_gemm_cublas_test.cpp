// CublasGroupedGemm against grouped_gemm_cpu: ragged bundles of every orientation, alpha
// and beta, padded leading dimensions, NaN-poisoned C, problems that share a cuBLAS group
// and problems that do not, empty and K = 0 problems, calls queued back to back, both
// precisions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "engine/model_spec.h"
#include "kernels/grouped_gemm.h"
#include "kernels/grouped_gemm_cublas.h"
#include "tests/cuda/cuda_test_utils.h"
#include "tests/cuda/gemm_test_case.h"

namespace gpu_tune::kernels {
namespace {

using cuda_test::backend;
using cuda_test::kFp32Tolerance;
using cuda_test::to_device;
using namespace cuda_test_gemm;
using test::Rng;

// TF32 tolerance, as a multiple of each element's bound |alpha| |op(A)| |op(B)| + |beta| |C|
// (elementwise absolute values), which is what a GEMM's rounding error is proportional to.
// Rounding an operand to TF32 (10 explicit mantissa bits) errs by at most 2^-11 of it when
// rounded to nearest, as grouped_gemm_cpu's emulation does, and by less than 2^-10 when
// truncated; cuBLAS does not document which one its FAST_TF32 kernels use. A product of
// two such operands is then off by less than 2^-9 + 2^-20 of its magnitude, and the FP32
// sums add at most about K * 2^-24 (under 5e-5 for K = 784). So cuBLAS's element is within
// about 2^-9 + 5e-5 of the exact value, the CPU's FP32 result within 5e-5 and its TF32
// emulation within 2^-10 + 5e-5: the worst difference to either is below 3.1e-3 of the
// bound, and 2^-8 (3.9e-3) holds on every element with margin, whatever cuBLAS's rounding.
// A wrong or unwritten element, a wrong scalar, a swapped or misplaced matrix err by the
// order of the bound itself and fail it; the FP32 runs of the same cases, with their
// 1e-5 tolerance, are the check for subtler mistakes.
constexpr double kTf32BoundTolerance = 1.0 / 256.0;

// The matrices, and the CPU's results: FP32, emulated TF32, and the error bound
// |alpha| |op(A)| |op(B)| + |beta| |C|. Each matrix is its own allocation, so 256-byte aligned.
struct GemmCase : GemmMatrices {
  std::vector<float> c_fp32, c_tf32, bound;
};

std::vector<float> absolute(std::vector<float> values) {
  for (float& v : values) v = std::fabs(v);
  return values;
}

GemmCase make_case(const GemmSpec& s, Rng& rng) {
  GemmCase g{make_matrices(s, rng), {}, {}, {}};
  g.c_fp32 = g.c_initial;
  g.c_tf32 = g.c_initial;
  GemmProblem fp32 = g.problem(g.a.data(), g.b.data(), g.c_fp32.data());
  grouped_gemm_cpu(std::span(&fp32, 1), GemmPrecision::kFp32);
  GemmProblem tf32 = g.problem(g.a.data(), g.b.data(), g.c_tf32.data());
  grouped_gemm_cpu(std::span(&tf32, 1), GemmPrecision::kTf32);
  const std::vector<float> a_abs = absolute(g.a), b_abs = absolute(g.b);
  g.bound = absolute(g.c_initial);
  GemmProblem bound = g.problem(a_abs.data(), b_abs.data(), g.bound.data());
  bound.alpha = std::fabs(s.alpha);
  bound.beta = std::fabs(s.beta);
  grouped_gemm_cpu(std::span(&bound, 1), GemmPrecision::kFp32);
  return g;
}

// ||got - ref||_2 / ||bound||_2: relative L2 error measured against the size of the terms
// rather than of their sum, so that an element whose sum cancels to near zero does not
// turn ordinary rounding into a failure. Infinity when got has a non-finite element.
double bound_relative_l2_error(const std::vector<float>& got, const std::vector<float>& ref,
                               const std::vector<float>& bound) {
  if (got.size() != ref.size() || got.size() != bound.size()) return std::numeric_limits<double>::infinity();
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return std::numeric_limits<double>::infinity();
    const double d = static_cast<double>(got[i]) - ref[i];
    diff += d * d;
    norm += static_cast<double>(bound[i]) * bound[i];
  }
  return norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

// Elements where |got - ref| exceeds tolerance * bound (NaN counts as exceeding).
size_t elements_beyond_bound(const std::vector<float>& got, const std::vector<float>& ref,
                             const std::vector<float>& bound, double tolerance, std::string& first) {
  size_t beyond = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(got[i]) - ref[i]);
    if (!(diff <= tolerance * bound[i])) {
      if (beyond++ == 0)
        first = "element " + std::to_string(i) + ": got " + std::to_string(got[i]) + ", reference " +
                std::to_string(ref[i]) + ", bound " + std::to_string(bound[i]);
    }
  }
  return beyond;
}

void expect_matches_cpu(const GemmCase& g, GemmPrecision precision) {
  SCOPED_TRACE(describe(g.spec) + " " + std::string(precision_name(precision)));
  const std::vector<float> gpu = g.c_device.download();
  const std::vector<float> got = dense(g, gpu), bound = dense(g, g.bound);
  if (precision == GemmPrecision::kFp32) {
    EXPECT_LT(bound_relative_l2_error(got, dense(g, g.c_fp32), bound), kFp32Tolerance);
  } else {
    std::string first;
    EXPECT_EQ(elements_beyond_bound(got, dense(g, g.c_tf32), bound, kTf32BoundTolerance, first), 0u)
        << "against the CPU's TF32 emulation, first: " << first;
    EXPECT_EQ(elements_beyond_bound(got, dense(g, g.c_fp32), bound, kTf32BoundTolerance, first), 0u)
        << "against the CPU's FP32 result, first: " << first;
  }
  EXPECT_EQ(padding_changes(g, gpu), 0u);
}

std::vector<GemmProblem> device_problems(std::vector<GemmCase>& cases) {
  std::vector<GemmProblem> problems;
  for (GemmCase& g : cases) problems.push_back(g.device_problem());
  return problems;
}

// Runs the cases in one call in each precision, checking after each.
void run_and_check_both_precisions(std::vector<GemmCase>& cases) {
  CublasGroupedGemm gemm(backend().stream());
  for (GemmPrecision precision : {GemmPrecision::kFp32, GemmPrecision::kTf32}) {
    for (GemmCase& g : cases) g.reset_device_c();
    gemm.run(device_problems(cases), precision);
    backend().synchronize();
    for (const GemmCase& g : cases) expect_matches_cpu(g, precision);
  }
}

class CublasGroupedGemmTransposeTest : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

// Every size of 1, 7, 33, 100 and 257 in every dimension for one orientation: 125
// problems of different shapes, scalars and padding in one ragged call.
TEST_P(CublasGroupedGemmTransposeTest, RaggedBundleMatchesCpu) {
  GPU_TUNE_REQUIRE_GPU();
  const auto [transpose_a, transpose_b] = GetParam();
  Rng rng(3000 + 2 * int(transpose_a) + int(transpose_b));
  const int sizes[] = {1, 7, 33, 100, 257};
  const float betas[] = {0.0f, 0.5f, -1.5f, 1.0f};
  std::vector<GemmCase> cases;
  int index = 0;
  for (int m : sizes)
    for (int n : sizes)
      for (int k : sizes) {
        GemmSpec s{m, n, k, transpose_a, transpose_b, index % 2 ? -1.25f : 0.75f, betas[index % 4],
                   index % 3 == 0 ? 0 : index % 3 + 1};
        cases.push_back(make_case(s, rng));
        ++index;
      }
  run_and_check_both_precisions(cases);
}

INSTANTIATE_TEST_SUITE_P(AllOrientations, CublasGroupedGemmTransposeTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<bool, bool>>& info) {
                           return std::string(std::get<0>(info.param) ? "At" : "A") +
                                  (std::get<1>(info.param) ? "Bt" : "B");
                         });

TEST(CublasGroupedGemmTest, ThirtySevenMixedProblemsInOneCall) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(3101);
  std::vector<GemmCase> cases;
  for (const GemmSpec& s : mixed_specs(37, rng)) cases.push_back(make_case(s, rng));
  run_and_check_both_precisions(cases);
}

// Problems of one shape become one cuBLAS group only when their scalars agree too, and
// the groups' pointers must stay with their own problems: identical shapes with two
// different (alpha, beta), interleaved with another shape, in one call.
TEST(CublasGroupedGemmTest, SharedShapesGroupByScalarsAsWell) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(3102);
  std::vector<GemmCase> cases;
  for (int i = 0; i < 18; ++i) {
    if (i % 3 == 2) {
      cases.push_back(make_case({40, 24, 72, true, false, 1.0f, 0.0f, 0}, rng));
    } else {
      const bool odd = i % 2 == 1;
      cases.push_back(make_case({64, 48, 96, false, true, odd ? -0.5f : 1.0f, odd ? 1.0f : 0.0f, 1}, rng));
    }
  }
  run_and_check_both_precisions(cases);
}

// The three forms a dense layer issues, for every layer of a bundle of 8 mlp_small slots
// at batch 64, in one call: the shapes this path exists for.
TEST(CublasGroupedGemmTest, MlpLayerFormsOfABundle) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(3103);
  const ModelSpec model = parse_model("mlp_small");
  const int batch = 64;
  std::vector<GemmCase> cases;
  for (int slot = 0; slot < 8; ++slot)
    for (int layer = 0; layer < model.layer_count(); ++layer) {
      const int in = model.layer_inputs(layer), out = model.layer_outputs(layer);
      cases.push_back(make_case({batch, out, in}, rng));                      // Z = X W
      if (layer > 0) cases.push_back(make_case({batch, in, out, false, true}, rng));  // dX = dZ W^T
      cases.push_back(make_case({in, out, batch, true, false}, rng));         // dW = X^T dZ
    }
  run_and_check_both_precisions(cases);
}

// Empty problems (M or N of 0) among live ones are skipped; K = 0 makes C = beta * C, and
// beta = 0 clears even NaN.
TEST(CublasGroupedGemmTest, EmptyAndZeroKProblemsAmongOthers) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(3104);
  std::vector<GemmCase> cases;
  for (const GemmSpec& s : std::vector<GemmSpec>{{33, 100, 7},
                                                 {0, 5, 4},
                                                 {5, 7, 0, false, false, 1.0f, 0.5f, 0},
                                                 {4, 0, 9, true, false},
                                                 {33, 3, 0, true, true, 2.0f, 0.0f, 2},
                                                 {100, 65, 257, true, true, -1.0f, 1.0f, 1}})
    cases.push_back(make_case(s, rng));
  run_and_check_both_precisions(cases);
}

TEST(CublasGroupedGemmTest, EmptySpanQueuesNothing) {
  GPU_TUNE_REQUIRE_GPU();
  CublasGroupedGemm gemm(backend().stream());
  EXPECT_NO_THROW(gemm.run(std::span<const GemmProblem>(), GemmPrecision::kFp32));
  EXPECT_NO_THROW(gemm.run(std::span<const GemmProblem>(), GemmPrecision::kTf32));
  EXPECT_NO_THROW(backend().synchronize());
}

// Calls queued back to back with no synchronisation between them, of growing and
// shrinking size: the pointer tables of one call must not be overwritten while an
// earlier copy may still read its staging buffer, nor lost when the buffers grow.
TEST(CublasGroupedGemmTest, BackToBackCallsOfChangingSize) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(3105);
  std::uniform_int_distribution<int> dim(1, 70);
  std::vector<std::vector<GemmCase>> calls;
  for (int count : {3, 300, 5, 37, 1, 120}) {
    std::vector<GemmCase>& cases = calls.emplace_back();
    for (int i = 0; i < count; ++i) {
      GemmSpec s{dim(rng), dim(rng), dim(rng), i % 2 == 0, i % 3 == 0, 1.0f, i % 5 == 0 ? 0.5f : 0.0f, i % 4};
      cases.push_back(make_case(s, rng));
    }
  }
  CublasGroupedGemm gemm(backend().stream());
  for (GemmPrecision precision : {GemmPrecision::kFp32, GemmPrecision::kTf32}) {
    for (std::vector<GemmCase>& cases : calls)
      for (GemmCase& g : cases) g.reset_device_c();
    backend().synchronize();
    for (std::vector<GemmCase>& cases : calls) gemm.run(device_problems(cases), precision);
    backend().synchronize();
    for (const std::vector<GemmCase>& cases : calls)
      for (const GemmCase& g : cases) expect_matches_cpu(g, precision);
  }
}

// Host-side checks run before anything is queued; the handle itself needs a GPU.
TEST(CublasGroupedGemmTest, RejectsMalformedProblemsBeforeQueueing) {
  GPU_TUNE_REQUIRE_GPU();
  CublasGroupedGemm gemm(backend().stream());
  GemmProblem ok{.m = 4, .n = 5, .k = 6, .a = nullptr, .lda = 6, .b = nullptr, .ldb = 5, .c = nullptr, .ldc = 5};
  EXPECT_THROW(gemm.run(std::vector{ok}), std::invalid_argument);  // null C
  GemmProblem negative = ok;
  negative.m = -1;
  try {
    gemm.run(std::vector{GemmProblem{}, negative});
    ADD_FAILURE() << "no std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("problem 1"), std::string::npos) << e.what();
  }
}

TEST(CublasGroupedGemmTest, RejectsRunTimeSizes) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(3106);
  GemmCase g = make_case({8, 8, 8}, rng);
  DeviceArray<int32_t> rows = to_device(std::vector<int32_t>{4});
  GemmProblem p = g.device_problem();
  p.dynamic_m = rows.data();
  CublasGroupedGemm gemm(backend().stream());
  try {
    gemm.run(std::vector{g.device_problem(), p});
    ADD_FAILURE() << "no std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("problem 1"), std::string::npos) << e.what();
  }
}

// FAST_TF32 kernels need 16-byte aligned matrices: an offset of one float is refused
// before it could fault, while FP32 (no alignment rule beyond the element's) computes it.
TEST(CublasGroupedGemmTest, Tf32RefusesMisalignedMatricesFp32TakesThem) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(3107);
  GemmCase g = make_case({8, 8, 8}, rng);
  GemmProblem p = g.device_problem();
  p.a += 1;
  p.m = 7;  // A's rows 0..6 from its second element on stay inside its allocation
  CublasGroupedGemm gemm(backend().stream());
  EXPECT_THROW(gemm.run(std::vector{p}, GemmPrecision::kTf32), std::invalid_argument);
  EXPECT_NO_THROW(gemm.run(std::vector{p}, GemmPrecision::kFp32));
  std::vector<float> expected = g.c_initial;
  GemmProblem host = g.problem(g.a.data() + 1, g.b.data(), expected.data());
  host.m = 7;
  grouped_gemm_cpu(std::span(&host, 1));
  const std::vector<float> got = g.c_device.download();
  EXPECT_LT(test::relative_l2_error(std::span(got).first(7 * 8), cuda_test::as_double(std::span(expected).first(7 * 8))),
            kFp32Tolerance);
}

}  // namespace
}  // namespace gpu_tune::kernels
