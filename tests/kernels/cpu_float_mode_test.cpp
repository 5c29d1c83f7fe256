#include "kernels/cpu_float_mode.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/grouped_gemm.h"
#include "kernels/optimizer_update.h"
#include "tests/kernels/kernel_test_utils.h"

namespace gpu_tune::kernels {
namespace {

using test::ScopedThreadCount;

// Half the smallest normal float: a subnormal, which the CPU forms must read as zero.
const float kSubnormal = std::numeric_limits<float>::min() / 2;

TEST(CpuFloatMode, TheGuardFlushesAndThenRestoresTheThreadsMode) {
#if defined(__x86_64__) || defined(__aarch64__)
  ASSERT_FALSE(subnormals_flushed_on_this_thread()) << "the test process starts in the IEEE default mode";
  volatile float tiny = kSubnormal;  // volatile: computed at run time, in the thread's mode
  {
    const FlushSubnormalsToZero flush;
    EXPECT_TRUE(subnormals_flushed_on_this_thread());
    EXPECT_EQ(tiny * 1.0f, 0.0f);
    {
      const FlushSubnormalsToZero nested;
      EXPECT_TRUE(subnormals_flushed_on_this_thread());
    }
    EXPECT_TRUE(subnormals_flushed_on_this_thread()) << "a nested guard must not undo the outer one";
  }
  EXPECT_FALSE(subnormals_flushed_on_this_thread());
  EXPECT_EQ(tiny * 1.0f, kSubnormal);
#else
  GTEST_SKIP() << "this architecture's CPU forms leave the floating-point mode as it is";
#endif
}

// A GEMM whose A holds only subnormals: with them read as zero, C is exactly zero; in the
// IEEE default mode it would be k * kSubnormal, a normal number. On every path: one
// thread (pieces run by the caller) and several (pieces run by OpenMP's threads).
TEST(CpuFloatMode, TheGemmReadsSubnormalsAsZeroOnEveryThreadAndLeavesTheCallersMode) {
#if defined(__x86_64__) || defined(__aarch64__)
  const int m = 96, n = 160, k = 64;
  std::vector<float> a(static_cast<size_t>(m) * k, kSubnormal), b(static_cast<size_t>(k) * n, 1.0f);
  for (int threads : {1, 2, 4}) {
    const ScopedThreadCount scoped(threads);
    std::vector<float> c(static_cast<size_t>(m) * n, 1.0f);
    const GemmProblem problem{.m = m, .n = n, .k = k, .a = a.data(), .lda = k, .b = b.data(), .ldb = n,
                              .c = c.data(), .ldc = n};
    grouped_gemm_cpu({&problem, 1}, GemmPrecision::kFp32);
    for (float value : c) ASSERT_EQ(value, 0.0f) << threads << " thread(s)";
    EXPECT_FALSE(subnormals_flushed_on_this_thread()) << "the caller's mode must be restored";
  }
#else
  GTEST_SKIP() << "this architecture's CPU forms leave the floating-point mode as it is";
#endif
}

// Adam's first moment for a parameter whose gradient is zero decays by beta1 each step:
// from the smallest normal it would step into the subnormal range; flushed, it is zero.
TEST(CpuFloatMode, AdamMomentsDecayToZeroNotIntoSubnormals) {
#if defined(__x86_64__) || defined(__aarch64__)
  for (int threads : {1, 2}) {
    const ScopedThreadCount scoped(threads);
    const int64_t count = 1 << 16;  // enough elements for several pieces
    std::vector<float> params(count, 0.5f), grads(count, 0.0f), m(count, std::numeric_limits<float>::min()),
        v(count, 1e-6f);
    OptimizerProblem problem;
    problem.count = count;
    problem.params = params.data();
    problem.grads = grads.data();
    problem.first_moment = m.data();
    problem.second_moment = v.data();
    problem.settings.kind = OptimizerKind::kAdam;
    problem.settings.learning_rate = 1e-3f;
    problem.step = 5;
    optimizer_update_cpu({&problem, 1});
    for (float value : m) ASSERT_EQ(value, 0.0f) << threads << " thread(s)";
    for (float value : v) ASSERT_TRUE(std::isnormal(value)) << "normal values stay as they were computed";
  }
#else
  GTEST_SKIP() << "this architecture's CPU forms leave the floating-point mode as it is";
#endif
}

}  // namespace
}  // namespace gpu_tune::kernels
