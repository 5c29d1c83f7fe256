#pragma once
// Prints a training run as it happens: readable lines, or JSON lines (one object per
// event) for machines.
#include <ostream>

#include "engine/trainer.h"

namespace gpu_tune::app {

class TrainingLog final : public TrainingObserver {
 public:
  TrainingLog(std::ostream& out, bool json) : out_(out), json_(json) {}
  void on_slot_started(const TrainingJob& job, int slot) override;
  bool on_epoch_end(const TrainingJob& job, const EpochMetrics& metrics) override;
  void on_slot_finished(const SlotResult& result) override;

 private:
  std::ostream& out_;
  bool json_;
};

}  // namespace gpu_tune::app
