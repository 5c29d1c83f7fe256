#include "engine/learning_rate_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace gpu_tune {

std::string_view schedule_name(LearningRateSchedule schedule) {
  switch (schedule) {
    case LearningRateSchedule::kConstant: return "constant";
    case LearningRateSchedule::kCosine: return "cosine";
  }
  return "?";
}

std::optional<LearningRateSchedule> parse_schedule(std::string_view name) {
  for (LearningRateSchedule s : {LearningRateSchedule::kConstant, LearningRateSchedule::kCosine})
    if (schedule_name(s) == name) return s;
  return std::nullopt;
}

float scheduled_learning_rate(LearningRateSchedule schedule, float base_rate, int64_t update,
                              int64_t planned_updates) {
  if (schedule == LearningRateSchedule::kConstant || planned_updates <= 0) return base_rate;
  const int64_t t = std::clamp<int64_t>(update, 0, planned_updates - 1);
  // In double: the phase of a long run's late updates differs from its neighbours' in the
  // eighth digit.
  const double phase = std::numbers::pi * static_cast<double>(t) / static_cast<double>(planned_updates);
  return static_cast<float>(0.5 * static_cast<double>(base_rate) * (1.0 + std::cos(phase)));
}

int64_t planned_updates(int64_t train_count, int batch_size, int max_epochs) {
  if (train_count <= 0 || batch_size <= 0 || max_epochs <= 0) return 0;
  const int64_t per_epoch = (train_count + batch_size - 1) / batch_size;
  return per_epoch * max_epochs;
}

}  // namespace gpu_tune
