#pragma once
// The CPU cores that a study's CPU workers (--devices cpu:N) share. While every worker has
// trials, each runs on its own core; a worker that runs out of trials hands its core to
// the workers still training, so a study's last, long trials do not leave cores idle
// (measured: with trials handed out as they come, one core idled for the last third of the
// CPU main job). Safe because every CPU form splits its work by shape alone, never by
// thread count (kernels/cpu_parallel.h): a trial's numbers are the same on one thread or
// several, so when its neighbours finish does not change them. What is offered here is
// taken only while it pays (apps/core_handover_check.h): on a busy machine it does not.
#include <mutex>
#include <vector>

namespace gpu_tune::app {

class CpuCoreShare {
 public:
  // `workers` workers, all running, on `cores` cores (at least one each).
  CpuCoreShare(int workers, int cores);

  // The threads worker `index` may use now: the cores split evenly among the workers still
  // running, the first of them taking the remainder.
  int threads_for(int index) const;
  // Worker `index` has no more trials: its cores go to the others.
  void leave(int index);

 private:
  mutable std::mutex mutex_;
  std::vector<bool> running_;
  int cores_;
};

}  // namespace gpu_tune::app
