#include "kernels/grouped_gemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "tests/kernels/kernel_test_utils.h"

namespace gpu_tune::kernels {
namespace {

using test::bitwise_equal;
using test::relative_l2_error;
using test::Rng;
using test::ScopedThreadCount;

constexpr double kFp32Tolerance = 1e-5;

struct GemmSpec {
  int m = 0, n = 0, k = 0;
  bool transpose_a = false, transpose_b = false;
  float alpha = 1.0f, beta = 0.0f;
  int pad = 0;  // A gets pad, B pad+1, C pad+2 extra elements per row (when pad > 0)
};

std::string describe(const GemmSpec& s) {
  return "m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) +
         (s.transpose_a ? " A^T" : " A") + (s.transpose_b ? " B^T" : " B") + " alpha=" + std::to_string(s.alpha) +
         " beta=" + std::to_string(s.beta) + " pad=" + std::to_string(s.pad);
}

// Owns one problem's matrices and keeps C's contents from before the call.
struct GemmCase {
  GemmSpec spec;
  std::vector<float> a, b, c, c_initial;
  int lda = 0, ldb = 0, ldc = 0;

  GemmProblem problem() {
    return GemmProblem{.m = spec.m, .n = spec.n, .k = spec.k,
                       .a = a.data(), .lda = lda, .transpose_a = spec.transpose_a,
                       .b = b.data(), .ldb = ldb, .transpose_b = spec.transpose_b,
                       .c = c.data(), .ldc = ldc, .alpha = spec.alpha, .beta = spec.beta};
  }
  void reset_c() { c = c_initial; }
};

GemmCase make_case(const GemmSpec& s, Rng& rng) {
  GemmCase g;
  g.spec = s;
  const int a_rows = s.transpose_a ? s.k : s.m, a_cols = s.transpose_a ? s.m : s.k;
  const int b_rows = s.transpose_b ? s.n : s.k, b_cols = s.transpose_b ? s.k : s.n;
  g.lda = std::max(a_cols, 1) + s.pad;
  g.ldb = std::max(b_cols, 1) + (s.pad > 0 ? s.pad + 1 : 0);
  g.ldc = s.n + (s.pad > 0 ? s.pad + 2 : 0);
  // Padding is filled with live values too, so reading past a row end corrupts the result.
  g.a = test::random_nonzero(static_cast<size_t>(a_rows) * g.lda, rng);
  g.b = test::random_nonzero(static_cast<size_t>(b_rows) * g.ldb, rng);
  g.c = test::random_nonzero(static_cast<size_t>(s.m) * g.ldc, rng);
  if (s.beta == 0.0f) {
    // beta = 0 means C is output only; NaN shows any element the call fails to write
    // and any implementation that computes 0 * C instead of ignoring C.
    for (int i = 0; i < s.m; ++i)
      for (int j = 0; j < s.n; ++j) g.c[static_cast<size_t>(i) * g.ldc + j] = test::quiet_nan();
  }
  g.c_initial = g.c;
  return g;
}

std::vector<double> reference(const GemmCase& g) {
  const GemmSpec& s = g.spec;
  std::vector<double> ref(static_cast<size_t>(s.m) * s.n);
  for (int i = 0; i < s.m; ++i) {
    for (int j = 0; j < s.n; ++j) {
      double sum = 0.0;
      for (int l = 0; l < s.k; ++l) {
        const double a = s.transpose_a ? g.a[static_cast<size_t>(l) * g.lda + i] : g.a[static_cast<size_t>(i) * g.lda + l];
        const double b = s.transpose_b ? g.b[static_cast<size_t>(j) * g.ldb + l] : g.b[static_cast<size_t>(l) * g.ldb + j];
        sum += a * b;
      }
      double value = double(s.alpha) * sum;
      if (s.beta != 0.0f) value += double(s.beta) * g.c_initial[static_cast<size_t>(i) * g.ldc + j];
      ref[static_cast<size_t>(i) * s.n + j] = value;
    }
  }
  return ref;
}

std::vector<float> dense_c(const GemmCase& g) {
  std::vector<float> out(static_cast<size_t>(g.spec.m) * g.spec.n);
  for (int i = 0; i < g.spec.m; ++i)
    std::copy_n(g.c.begin() + static_cast<ptrdiff_t>(i) * g.ldc, g.spec.n, out.begin() + static_cast<ptrdiff_t>(i) * g.spec.n);
  return out;
}

void expect_matches_reference(const GemmCase& g) {
  SCOPED_TRACE(describe(g.spec));
  EXPECT_LT(relative_l2_error(dense_c(g), reference(g)), kFp32Tolerance);
  // The gap between n and ldc belongs to someone else (e.g. a wider tensor).
  int64_t padding_changed = 0;
  for (int i = 0; i < g.spec.m; ++i)
    for (int j = g.spec.n; j < g.ldc; ++j) {
      const size_t e = static_cast<size_t>(i) * g.ldc + j;
      padding_changed += bitwise_equal(std::span(&g.c[e], 1), std::span(&g.c_initial[e], 1)) ? 0 : 1;
    }
  EXPECT_EQ(padding_changed, 0);
}

void run(std::vector<GemmCase>& cases) {
  std::vector<GemmProblem> problems;
  for (GemmCase& g : cases) problems.push_back(g.problem());
  grouped_gemm_cpu(problems);
}

// Thirteen problems of unrelated shapes, orientations and scalars, as a bundle of slots
// with different layer widths would submit.
std::vector<GemmSpec> mixed_specs() {
  return {
      {784, 100, 33, false, false, 1.0f, 0.0f, 0},  {100, 784, 7, false, true, 0.5f, 0.0f, 3},
      {33, 257, 100, true, false, -1.0f, 1.0f, 0},  {1, 1, 1, true, true, 2.0f, 0.0f, 1},
      {257, 7, 784, false, false, 0.75f, -0.5f, 2}, {7, 33, 257, true, true, 1.0f, 0.25f, 0},
      {100, 100, 100, false, true, -1.5f, 0.0f, 5}, {1, 784, 33, true, false, 1.0f, 1.0f, 0},
      {257, 1, 100, false, false, 1.0f, 0.0f, 1},   {33, 33, 1, false, true, 3.0f, -2.0f, 0},
      {7, 257, 784, true, false, 0.1f, 0.0f, 4},    {100, 7, 257, true, true, -0.3f, 0.7f, 2},
      {784, 33, 7, true, false, 1.0f, 0.0f, 0},
  };
}

std::vector<GemmCase> make_cases(const std::vector<GemmSpec>& specs, Rng& rng) {
  std::vector<GemmCase> cases;
  for (const GemmSpec& s : specs) cases.push_back(make_case(s, rng));
  return cases;
}

class GroupedGemmTransposeTest : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(GroupedGemmTransposeTest, MatchesDoubleReferenceOnShapesOffEveryTile) {
  const auto [transpose_a, transpose_b] = GetParam();
  Rng rng(1000 + 2 * int(transpose_a) + int(transpose_b));
  const int shapes[][3] = {{1, 1, 1},     {1, 7, 33},     {7, 1, 100},     {33, 257, 7},
                           {100, 33, 257}, {257, 100, 1},  {784, 7, 33},    {7, 784, 100},
                           {100, 100, 784}, {257, 257, 33}, {33, 784, 257}, {784, 1, 257}};
  int index = 0;
  for (const auto& shape : shapes) {
    // Cycle beta through "output only", accumulate-with-scale and negative, and alternate
    // packed and padded storage, so every shape meets a different mix.
    const float betas[] = {0.0f, 0.5f, -1.5f, 1.0f};
    GemmSpec s{shape[0], shape[1], shape[2], transpose_a, transpose_b, index % 2 ? -1.25f : 0.75f,
               betas[index % 4], index % 3 == 0 ? 0 : index % 3 + 1};
    GemmCase g = make_case(s, rng);
    GemmProblem p = g.problem();
    grouped_gemm_cpu(std::span(&p, 1));
    expect_matches_reference(g);
    ++index;
  }
}

INSTANTIATE_TEST_SUITE_P(AllOrientations, GroupedGemmTransposeTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<bool, bool>>& info) {
                           return std::string(std::get<0>(info.param) ? "At" : "A") +
                                  (std::get<1>(info.param) ? "Bt" : "B");
                         });

TEST(GroupedGemmTest, ThirteenMixedProblemsInOneCallAtSeveralThreadCounts) {
  Rng rng(11);
  std::vector<GemmCase> cases = make_cases(mixed_specs(), rng);
  // More threads than cores cuts the big problems into many row blocks, which is where
  // a wrong block offset into a transposed A would show.
  for (int threads : {1, 2, 3, 8}) {
    SCOPED_TRACE("threads=" + std::to_string(threads));
    ScopedThreadCount scoped(threads);
    for (GemmCase& g : cases) g.reset_c();
    run(cases);
    for (const GemmCase& g : cases) expect_matches_reference(g);
  }
}

// The pieces a problem is cut into depend on its shape alone, so C's bits do not depend on
// the thread count (a worker may gain the cores of finished workers mid-trial). The shapes
// are the models': dense layers of a batch (cut by columns), convolutions' image x pixel rows
// (cut by rows), and their transposed backward forms.
TEST(GroupedGemmDeterminismTest, BitsDoNotDependOnTheThreadCount) {
  Rng rng(23);
  std::vector<GemmSpec> specs = mixed_specs();
  for (const GemmSpec& s : std::vector<GemmSpec>{{64, 512, 784, false, false, 1.0f, 0.0f, 0},
                                                 {64, 784, 512, false, true, 1.0f, 0.0f, 0},
                                                 {784, 512, 64, true, false, 1.0f, 1.0f, 0},
                                                 {6272, 64, 288, false, false, 1.0f, 0.0f, 0},
                                                 {288, 64, 6272, true, false, 1.0f, 0.0f, 0},
                                                 {100, 300, 257, true, true, 0.5f, 0.5f, 3}})
    specs.push_back(s);
  std::vector<GemmCase> cases = make_cases(specs, rng);
  std::vector<std::vector<float>> one_thread;
  {
    ScopedThreadCount scoped(1);
    run(cases);
    for (const GemmCase& g : cases) one_thread.push_back(g.c);
  }
  for (int threads : {2, 3, 8}) {
    SCOPED_TRACE("threads=" + std::to_string(threads));
    ScopedThreadCount scoped(threads);
    for (GemmCase& g : cases) g.reset_c();
    run(cases);
    for (size_t i = 0; i < cases.size(); ++i) {
      EXPECT_TRUE(bitwise_equal(cases[i].c, one_thread[i])) << "problem " << i << ": " << describe(cases[i].spec);
      expect_matches_reference(cases[i]);
    }
  }
}

TEST(GroupedGemmTest, ZeroKScalesCByBeta) {
  Rng rng(12);
  // With K = 0 the product is empty: C = beta * C, and beta = 0 clears C even of NaN.
  std::vector<GemmCase> cases = make_cases({{5, 7, 0, false, false, 1.0f, 0.5f, 0},
                                            {33, 3, 0, true, true, 2.0f, 0.0f, 2},
                                            {4, 9, 0, false, true, 1.0f, 1.0f, 1}},
                                           rng);
  run(cases);
  for (const GemmCase& g : cases) expect_matches_reference(g);
}

TEST(GroupedGemmTest, EmptyGroupIsANoOp) {
  EXPECT_NO_THROW(grouped_gemm_cpu(std::span<const GemmProblem>()));
}

TEST(GroupedGemmDeterminismTest, SameCallTwiceIsBitwiseIdentical) {
  Rng rng(21);
  std::vector<GemmCase> cases = make_cases(mixed_specs(), rng);
  run(cases);
  std::vector<std::vector<float>> first;
  for (const GemmCase& g : cases) first.push_back(g.c);
  for (GemmCase& g : cases) g.reset_c();
  run(cases);
  for (size_t i = 0; i < cases.size(); ++i)
    EXPECT_TRUE(bitwise_equal(cases[i].c, first[i])) << "problem " << i << ": " << describe(cases[i].spec);
}

// A slot must train to the same bits whichever bundle it lands in: the split depends on the
// problem's own shape, never on its neighbours.
TEST(GroupedGemmDeterminismTest, ProblemAloneEqualsProblemInGroup) {
  Rng rng(22);
  std::vector<GemmCase> cases = make_cases(mixed_specs(), rng);
  for (int threads : {2, 8}) {
    SCOPED_TRACE("threads=" + std::to_string(threads));
    ScopedThreadCount scoped(threads);
    for (GemmCase& g : cases) g.reset_c();
    run(cases);
    std::vector<std::vector<float>> grouped;
    for (const GemmCase& g : cases) grouped.push_back(g.c);

    // The group submitted in reverse order too: position in the group must not matter.
    for (GemmCase& g : cases) g.reset_c();
    std::vector<GemmProblem> reversed;
    for (auto it = cases.rbegin(); it != cases.rend(); ++it) reversed.push_back(it->problem());
    grouped_gemm_cpu(reversed);
    for (size_t i = 0; i < cases.size(); ++i)
      EXPECT_TRUE(bitwise_equal(cases[i].c, grouped[i])) << "reversed, problem " << i << ": " << describe(cases[i].spec);

    for (size_t i = 0; i < cases.size(); ++i) {
      cases[i].reset_c();
      GemmProblem alone = cases[i].problem();
      grouped_gemm_cpu(std::span(&alone, 1));
      EXPECT_TRUE(bitwise_equal(cases[i].c, grouped[i])) << "alone, problem " << i << ": " << describe(cases[i].spec);
    }
  }
}

// ---- validation ----------------------------------------------------------------------

// Buffers large enough for every small problem below, so only the field under test is wrong.
struct ValidationBuffers {
  std::vector<float> a = std::vector<float>(256, 1.0f), b = std::vector<float>(256, 1.0f),
                     c = std::vector<float>(256, 1.0f);

  // m=4, n=5, k=6, packed: A is 4x6, B is 6x5, C is 4x5.
  GemmProblem valid(bool transpose_a = false, bool transpose_b = false) {
    return GemmProblem{.m = 4, .n = 5, .k = 6,
                       .a = a.data(), .lda = transpose_a ? 4 : 6, .transpose_a = transpose_a,
                       .b = b.data(), .ldb = transpose_b ? 6 : 5, .transpose_b = transpose_b,
                       .c = c.data(), .ldc = 5};
  }
};

// The message of the std::invalid_argument the problems raise, or a failure if none.
std::string rejection(const std::vector<GemmProblem>& problems) {
  try {
    validate_gemm_problems(problems);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "no std::invalid_argument thrown";
  return {};
}

TEST(GemmValidationTest, AcceptsLeadingDimensionsEqualToRowLength) {
  ValidationBuffers buf;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) EXPECT_NO_THROW(validate_gemm_problems(std::vector{buf.valid(ta, tb)})) << ta << tb;
}

TEST(GemmValidationTest, RejectsLdaBelowRowLengthOfStoredA) {
  ValidationBuffers buf;
  GemmProblem p = buf.valid();
  p.lda = 5;  // A is stored 4 x 6
  EXPECT_NE(rejection({p}).find("lda"), std::string::npos);

  // Stored transposed, A is 6 x 4: its rows are M long, so lda = 4 < K is still fine
  // and lda = 3 is not.
  GemmProblem t = buf.valid(true, false);
  t.lda = 4;
  EXPECT_NO_THROW(validate_gemm_problems(std::vector{t}));
  t.lda = 3;
  EXPECT_NE(rejection({t}).find("lda"), std::string::npos);
}

TEST(GemmValidationTest, RejectsLdbBelowRowLengthOfStoredB) {
  ValidationBuffers buf;
  GemmProblem p = buf.valid();
  p.ldb = 4;  // B is stored 6 x 5
  EXPECT_NE(rejection({p}).find("ldb"), std::string::npos);
  GemmProblem t = buf.valid(false, true);  // B stored 5 x 6
  t.ldb = 5;
  EXPECT_NE(rejection({t}).find("ldb"), std::string::npos);
}

TEST(GemmValidationTest, RejectsLdcBelowN) {
  ValidationBuffers buf;
  GemmProblem p = buf.valid();
  p.ldc = 4;
  EXPECT_NE(rejection({p}).find("ldc"), std::string::npos);
}

TEST(GemmValidationTest, RejectsNullPointers) {
  ValidationBuffers buf;
  GemmProblem p = buf.valid();
  p.c = nullptr;
  EXPECT_FALSE(rejection({p}).empty());
  p = buf.valid();
  p.a = nullptr;
  EXPECT_FALSE(rejection({p}).empty());
  p = buf.valid();
  p.b = nullptr;
  EXPECT_FALSE(rejection({p}).empty());
}

TEST(GemmValidationTest, RejectsNegativeDimensions) {
  ValidationBuffers buf;
  for (int which = 0; which < 3; ++which) {
    GemmProblem p = buf.valid();
    (which == 0 ? p.m : which == 1 ? p.n : p.k) = -1;
    EXPECT_FALSE(rejection({p}).empty()) << "dimension " << which;
  }
}

TEST(GemmValidationTest, MessageNamesTheProblemIndex) {
  ValidationBuffers buf;
  GemmProblem bad_lda = buf.valid();
  bad_lda.lda = 1;
  EXPECT_NE(rejection({buf.valid(), buf.valid(true, true), bad_lda}).find("problem 2"), std::string::npos);

  GemmProblem null_c = buf.valid();
  null_c.c = nullptr;
  EXPECT_NE(rejection({buf.valid(), null_c, buf.valid()}).find("problem 1"), std::string::npos);

  GemmProblem negative = buf.valid();
  negative.k = -3;
  EXPECT_NE(rejection({negative, buf.valid()}).find("problem 0"), std::string::npos);
}

TEST(GemmValidationTest, GroupedGemmRejectsMalformedProblems) {
  ValidationBuffers buf;
  GemmProblem bad = buf.valid();
  bad.ldc = 2;
  const std::vector<GemmProblem> problems{buf.valid(), bad};
  EXPECT_THROW(grouped_gemm_cpu(problems), std::invalid_argument);
}

}  // namespace
}  // namespace gpu_tune::kernels
