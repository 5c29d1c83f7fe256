#include "apps/cpu_core_share.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace gpu_tune::app {

CpuCoreShare::CpuCoreShare(int workers, int cores) : running_(static_cast<size_t>(std::max(workers, 0)), true),
                                                     cores_(std::max(cores, workers)) {
  if (workers < 1) throw std::invalid_argument("CpuCoreShare: at least one worker, got " + std::to_string(workers));
}

int CpuCoreShare::threads_for(int index) const {
  std::lock_guard lock(mutex_);
  const int running = static_cast<int>(std::count(running_.begin(), running_.end(), true));
  if (running == 0) return cores_;
  const int rank = static_cast<int>(std::count(running_.begin(), running_.begin() + index, true));
  return cores_ / running + (rank < cores_ % running ? 1 : 0);
}

void CpuCoreShare::leave(int index) {
  std::lock_guard lock(mutex_);
  running_.at(static_cast<size_t>(index)) = false;
}

}  // namespace gpu_tune::app
