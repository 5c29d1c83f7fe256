#include "kernels/cpu_parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace gpu_tune::kernels {
namespace {

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

}  // namespace
}  // namespace gpu_tune::kernels
