#include "apps/core_handover_check.h"

#include <algorithm>

namespace gpu_tune::app {

CoreHandoverCheck::CoreHandoverCheck(int threads) : threads_(std::max(threads, 1)) {}

void CoreHandoverCheck::settle(int threads) {
  threads_ = threads;
  probe_.reset();
  baseline_.clear();
}

void CoreHandoverCheck::record(double step_seconds) {
  if (!probe_) {
    baseline_.push_back(step_seconds);
    if (static_cast<int>(baseline_.size()) > kBaselineSteps) baseline_.erase(baseline_.begin());
    return;
  }
  if (probe_->warmup_left > 0) {
    --probe_->warmup_left;
    return;
  }
  (step_seconds < kSpeedup * probe_->baseline_median ? probe_->faster : probe_->slower) += 1;
}

int CoreHandoverCheck::before_step(double now_seconds, int offered) {
  offered = std::max(offered, 1);
  if (last_step_start_) record(now_seconds - *last_step_start_);
  last_step_start_ = now_seconds;

  if (probe_) {
    if (offered != probe_->threads) {
      // The offer changed mid-probe: start again from what was settled.
      probe_.reset();
    } else if (2 * probe_->faster > kProbeSteps) {
      settle(probe_->threads);
      return threads_;
    } else if (2 * probe_->slower > kProbeSteps) {
      refused_threads_ = probe_->threads;
      refused_until_ = now_seconds + kRetrySeconds;
      probe_.reset();  // back on threads_, whose baseline still holds
      return threads_;
    } else {
      return probe_->threads;
    }
  }
  if (offered < threads_) {
    settle(offered);
  } else if (offered > threads_ && static_cast<int>(baseline_.size()) == kBaselineSteps &&
             !(refused_threads_ == offered && now_seconds < refused_until_)) {
    std::vector<double> sorted = baseline_;
    std::nth_element(sorted.begin(), sorted.begin() + kBaselineSteps / 2, sorted.end());
    probe_ = Probe{offered, sorted[kBaselineSteps / 2]};
    return offered;
  }
  return threads_;
}

}  // namespace gpu_tune::app
