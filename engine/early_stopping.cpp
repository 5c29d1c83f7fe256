#include "engine/early_stopping.h"

#include <algorithm>
#include <cmath>

namespace gpu_tune {

bool EarlyStopping::record(int epoch, double validation_loss) {
  const bool improved = std::isfinite(validation_loss) &&
                        (best_epoch_ == 0 || validation_loss < best_loss_ - config_.min_delta);
  if (improved) {
    best_epoch_ = epoch;
    best_loss_ = validation_loss;
    epochs_without_improvement_ = 0;
  } else {
    epochs_without_improvement_ += 1;
  }
  return improved;
}

bool EarlyStopping::should_stop() const {
  // Patience 0 stops at the first epoch that does not improve.
  return config_.patience.has_value() && epochs_without_improvement_ >= std::max(*config_.patience, 1);
}

}  // namespace gpu_tune
