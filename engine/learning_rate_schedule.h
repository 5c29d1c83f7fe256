#pragma once
// How a slot's learning rate changes over its training run. The rate is recomputed for
// every optimizer update and reaches the update through its step constants, so a captured
// step serves every step of a scheduled run as it does a constant one.
#include <cstdint>
#include <optional>
#include <string_view>

namespace gpu_tune {

enum class LearningRateSchedule : int {
  kConstant = 0,  // the base rate throughout
  // Half a cosine from the base rate down towards zero over the planned updates
  // (max_epochs x updates per epoch), updated every step: PyTorch's CosineAnnealingLR
  // with T_max = the planned updates and eta_min = 0, stepped after every batch.
  kCosine = 1,
};

std::string_view schedule_name(LearningRateSchedule schedule);
std::optional<LearningRateSchedule> parse_schedule(std::string_view name);

// The rate of update `update` (0-based) out of `planned_updates`. Updates past the plan
// (none in a normal run) keep the rate of the last planned one.
float scheduled_learning_rate(LearningRateSchedule schedule, float base_rate, int64_t update,
                              int64_t planned_updates);

// The updates `max_epochs` epochs of `train_count` images at `batch_size` make: every
// epoch ends with a short batch when the batch size does not divide the images.
int64_t planned_updates(int64_t train_count, int batch_size, int max_epochs);

}  // namespace gpu_tune
