#include "kernels/cpu_parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "tests/kernels/kernel_test_utils.h"

namespace gpu_tune::kernels {
namespace {

using test::ScopedThreadCount;

TEST(CpuParallel, SplitRangeCoversEverythingOnceInNearEqualPieces) {
  for (int64_t n : {0, 1, 7, 64, 1000}) {
    for (int64_t parts : {1, 2, 3, 8}) {
      int64_t expected_begin = 0;
      for (int64_t p = 0; p < parts; ++p) {
        const Range r = split_range(n, parts, p);
        EXPECT_EQ(r.begin, expected_begin);
        EXPECT_LE(r.end - r.begin, n / parts + 1);
        EXPECT_GE(r.end - r.begin, n / parts);
        expected_begin = r.end;
      }
      EXPECT_EQ(expected_begin, n);
    }
  }
}

TEST(CpuParallel, PieceCountRespectsMinimumAndThreads) {
  EXPECT_EQ(piece_count(10, 16, 8), 1);
  EXPECT_EQ(piece_count(64, 16, 8), 4);
  EXPECT_EQ(piece_count(1000, 16, 2), 2);
  EXPECT_EQ(piece_count(0, 16, 4), 1);
}

TEST(CpuParallel, ParallelForRunsEveryIndexExactlyOnce) {
  std::vector<std::atomic<int>> hits(257);
  parallel_for(257, [&](int64_t i) { hits[i].fetch_add(1); });
  for (const auto& h : hits) EXPECT_EQ(h.load(), 1);
}

// A CPU form called from a parallel_for body (a convolution chunk's GEMM) must split its
// work the same way whether that parallel_for ran one body inline or many on OpenMP's
// threads: both see one thread, and the count is back once the bodies are done.
TEST(CpuParallel, BodiesSeeOneThreadWhetherRunInlineOrSpread) {
  ScopedThreadCount threads(4);
  ASSERT_EQ(cpu_thread_count(), 4);
  for (int64_t count : {1, 2, 9}) {
    std::vector<int> seen(static_cast<size_t>(count), -1);
    parallel_for(count, [&](int64_t i) { seen[static_cast<size_t>(i)] = cpu_thread_count(); });
    for (int s : seen) EXPECT_EQ(s, 1) << "parallel_for of " << count;
    EXPECT_EQ(cpu_thread_count(), 4) << "after a parallel_for of " << count;
  }
}

}  // namespace
}  // namespace gpu_tune::kernels
