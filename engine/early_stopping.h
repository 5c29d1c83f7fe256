#pragma once
// Early stopping on validation loss with Keras's meaning of patience and min_delta.
#include "engine/training_config.h"

namespace gpu_tune {

class EarlyStopping {
 public:
  explicit EarlyStopping(const EarlyStoppingConfig& config) : config_(config) {}

  // Records an epoch's validation loss (epochs count from 1); returns true when it is an
  // improvement: below the best so far by more than min_delta. A non-finite loss never is.
  bool record(int epoch, double validation_loss);
  // True once `patience` epochs in a row have not improved.
  bool should_stop() const;

  int best_epoch() const { return best_epoch_; }  // 0 before any improvement
  double best_loss() const { return best_loss_; }

 private:
  EarlyStoppingConfig config_;
  int best_epoch_ = 0;
  double best_loss_ = 0.0;
  int epochs_without_improvement_ = 0;
};

}  // namespace gpu_tune
