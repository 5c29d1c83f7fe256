// CPU workers share their cores: evenly while all run, and a finished worker's cores go to
// those still running.
#include "apps/cpu_core_share.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace gpu_tune::app {
namespace {

TEST(CpuCoreShare, EachWorkerHasItsCoreWhileAllRun) {
  CpuCoreShare share(2, 2);
  EXPECT_EQ(share.threads_for(0), 1);
  EXPECT_EQ(share.threads_for(1), 1);
}

TEST(CpuCoreShare, AFinishedWorkersCoresGoToThoseStillRunning) {
  CpuCoreShare share(3, 3);
  share.leave(1);
  // Three cores, two workers: the first running one takes the remainder.
  EXPECT_EQ(share.threads_for(0), 2);
  EXPECT_EQ(share.threads_for(2), 1);
  share.leave(0);
  EXPECT_EQ(share.threads_for(2), 3);
}

TEST(CpuCoreShare, EveryWorkerHasAtLeastOneThread) {
  CpuCoreShare share(4, 2);  // cpu:4 on fewer cores: one thread each, as asked
  for (int i = 0; i < 4; ++i) EXPECT_EQ(share.threads_for(i), 1);
  share.leave(3);
  share.leave(2);
  EXPECT_EQ(share.threads_for(0), 2);
  EXPECT_EQ(share.threads_for(1), 2);
  EXPECT_THROW(CpuCoreShare(0, 2), std::invalid_argument);
}

}  // namespace
}  // namespace gpu_tune::app
