// The CPU form's TF32 emulation (the reference for the tensor-core kernel) and the
// run-time sizes of a GEMM problem (what a replayed step reads for its minibatch size).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/grouped_gemm.h"
#include "tests/kernels/kernel_test_utils.h"

namespace gpu_tune::kernels {
namespace {

using test::bitwise_equal;
using test::relative_l2_error;
using test::Rng;

float from_bits(uint32_t bits) { return std::bit_cast<float>(bits); }

TEST(RoundToTf32Test, KeepsValuesWithTenMantissaBits) {
  for (float x : {0.0f, -0.0f, 1.0f, -2.5f, 1.0f + 1.0f / 1024.0f, 3.0e-38f, 65504.0f}) {
    const float tf32 = from_bits(std::bit_cast<uint32_t>(x) & 0xffffe000u);
    EXPECT_EQ(std::bit_cast<uint32_t>(round_to_tf32(tf32)), std::bit_cast<uint32_t>(tf32)) << x;
  }
}

TEST(RoundToTf32Test, RoundsToNearestWithTiesAwayFromZero) {
  const float ulp = 1.0f / 1024.0f;  // TF32's spacing at 1
  EXPECT_EQ(round_to_tf32(1.0f + ulp / 4), 1.0f);
  EXPECT_EQ(round_to_tf32(1.0f + ulp * 3 / 4), 1.0f + ulp);
  EXPECT_EQ(round_to_tf32(1.0f + ulp / 2), 1.0f + ulp) << "a tie goes away from zero";
  EXPECT_EQ(round_to_tf32(-(1.0f + ulp / 2)), -(1.0f + ulp));
  EXPECT_EQ(round_to_tf32(1.0f + ulp * 3 / 2), 1.0f + 2 * ulp) << "not to even: away from zero";
  // A carry out of the mantissa moves to the next binade.
  EXPECT_EQ(round_to_tf32(2.0f - ulp / 4), 2.0f);
}

TEST(RoundToTf32Test, LeavesInfinityAndNanAlone) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(round_to_tf32(inf), inf);
  EXPECT_EQ(round_to_tf32(-inf), -inf);
  const float nan_with_low_bits = from_bits(0x7fc00001u);
  EXPECT_EQ(std::bit_cast<uint32_t>(round_to_tf32(nan_with_low_bits)), 0x7fc00001u);
}

TEST(GemmPrecisionTest, ParsesAndNamesBothPrecisions) {
  EXPECT_EQ(parse_precision("fp32"), GemmPrecision::kFp32);
  EXPECT_EQ(parse_precision("tf32"), GemmPrecision::kTf32);
  EXPECT_FALSE(parse_precision("fp16").has_value());
  EXPECT_FALSE(parse_precision("TF32").has_value());
  EXPECT_EQ(precision_name(GemmPrecision::kTf32), "tf32");
  EXPECT_EQ(precision_name(GemmPrecision::kFp32), "fp32");
}

struct Matrices {
  int m, n, k;
  std::vector<float> a, b, c;
  GemmProblem problem(bool transpose_a = false) {
    return GemmProblem{.m = m, .n = n, .k = k, .a = a.data(), .lda = transpose_a ? m : k,
                       .transpose_a = transpose_a, .b = b.data(), .ldb = n, .c = c.data(), .ldc = n};
  }
};

Matrices random_matrices(int m, int n, int k, Rng& rng) {
  return {m, n, k, test::random_uniform(size_t(m) * k, rng, -1.0f, 1.0f),
          test::random_uniform(size_t(k) * n, rng, -1.0f, 1.0f), std::vector<float>(size_t(m) * n, test::quiet_nan())};
}

// TF32 emulation is FP32 arithmetic on rounded operands: the same bits as rounding first.
TEST(GemmPrecisionTest, Tf32IsFp32OnRoundedOperands) {
  Rng rng(71);
  Matrices raw = random_matrices(70, 33, 129, rng);
  const std::vector<float> a_before = raw.a;
  Matrices rounded = raw;
  for (float& x : rounded.a) x = round_to_tf32(x);
  for (float& x : rounded.b) x = round_to_tf32(x);
  GemmProblem tf32 = raw.problem();
  grouped_gemm_cpu(std::span(&tf32, 1), GemmPrecision::kTf32);
  GemmProblem fp32 = rounded.problem();
  grouped_gemm_cpu(std::span(&fp32, 1), GemmPrecision::kFp32);
  EXPECT_TRUE(bitwise_equal(raw.c, rounded.c));
  // The caller's operands are not rounded in place.
  EXPECT_TRUE(bitwise_equal(raw.a, a_before));
}

// TF32 is measurably less exact than FP32, and still close: the error a user accepts
// with --precision tf32.
TEST(GemmPrecisionTest, Tf32ErrorAgainstDoubleIsAboutItsMantissa) {
  Rng rng(72);
  Matrices fp32 = random_matrices(64, 256, 784, rng);
  Matrices tf32 = fp32;
  GemmProblem p = fp32.problem(), q = tf32.problem();
  grouped_gemm_cpu(std::span(&p, 1), GemmPrecision::kFp32);
  grouped_gemm_cpu(std::span(&q, 1), GemmPrecision::kTf32);
  std::vector<double> exact(size_t(64) * 256, 0.0);
  for (int i = 0; i < 64; ++i)
    for (int j = 0; j < 256; ++j)
      for (int l = 0; l < 784; ++l) exact[size_t(i) * 256 + j] += double(fp32.a[size_t(i) * 784 + l]) * fp32.b[size_t(l) * 256 + j];
  const double fp32_error = relative_l2_error(fp32.c, exact), tf32_error = relative_l2_error(tf32.c, exact);
  EXPECT_LT(fp32_error, 1e-6);
  EXPECT_GT(tf32_error, 1e-5);
  EXPECT_LT(tf32_error, 1e-3);  // operand error 2^-11 each, partly cancelling over K
}

// A run-time M and K below the bounds: the result equals the smaller problem's bit for
// bit, and rows past the run-time M are not written.
TEST(GemmRunTimeSizeTest, DynamicMAndKActAsTheSmallerProblem) {
  Rng rng(73);
  for (GemmPrecision precision : {GemmPrecision::kFp32, GemmPrecision::kTf32}) {
    Matrices bound = random_matrices(128, 40, 50, rng);
    const std::vector<float> c_before = bound.c;
    Matrices small = bound;  // the first 37 rows are the live minibatch
    small.m = 37;
    const int32_t rows = 37;
    GemmProblem dynamic = bound.problem();
    dynamic.dynamic_m = &rows;
    grouped_gemm_cpu(std::span(&dynamic, 1), precision);
    GemmProblem fixed = small.problem();
    grouped_gemm_cpu(std::span(&fixed, 1), precision);
    EXPECT_TRUE(bitwise_equal(std::span(bound.c).first(37 * 40), std::span(small.c).first(37 * 40)));
    EXPECT_TRUE(bitwise_equal(std::span(bound.c).subspan(37 * 40), std::span(c_before).subspan(37 * 40)));

    // Weight gradient: K is the minibatch. A is stored K x M (transposed).
    Matrices w_bound = random_matrices(50, 40, 128, rng);
    Matrices w_small = w_bound;
    w_small.k = 37;
    GemmProblem w_dynamic = w_bound.problem(true);
    w_dynamic.dynamic_k = &rows;
    grouped_gemm_cpu(std::span(&w_dynamic, 1), precision);
    GemmProblem w_fixed = w_small.problem(true);
    grouped_gemm_cpu(std::span(&w_fixed, 1), precision);
    EXPECT_TRUE(bitwise_equal(w_bound.c, w_small.c));
  }
}

TEST(GemmRunTimeSizeTest, RunTimeSizeAboveTheBoundIsCappedAtTheBound) {
  Rng rng(74);
  Matrices bound = random_matrices(20, 10, 30, rng);
  Matrices reference = bound;
  const int32_t too_many = 1000;
  GemmProblem dynamic = bound.problem();
  dynamic.dynamic_m = &too_many;
  dynamic.dynamic_k = &too_many;
  grouped_gemm_cpu(std::span(&dynamic, 1));
  GemmProblem fixed = reference.problem();
  grouped_gemm_cpu(std::span(&fixed, 1));
  EXPECT_TRUE(bitwise_equal(bound.c, reference.c));
}

}  // namespace
}  // namespace gpu_tune::kernels
