#include "search/trial.h"

#include <chrono>

namespace gpu_tune::search {

std::string_view trial_state_name(TrialState state) {
  switch (state) {
    case TrialState::kWaiting: return "waiting";
    case TrialState::kRunning: return "running";
    case TrialState::kComplete: return "complete";
    case TrialState::kPruned: return "pruned";
    case TrialState::kFailed: return "failed";
  }
  return "?";
}

std::optional<TrialState> parse_trial_state(std::string_view name) {
  for (TrialState state : {TrialState::kWaiting, TrialState::kRunning, TrialState::kComplete, TrialState::kPruned,
                           TrialState::kFailed}) {
    if (trial_state_name(state) == name) return state;
  }
  return std::nullopt;
}

std::string_view direction_name(Direction direction) {
  switch (direction) {
    case Direction::kMinimize: return "minimize";
    case Direction::kMaximize: return "maximize";
  }
  return "?";
}

std::optional<Direction> parse_direction(std::string_view name) {
  for (Direction direction : {Direction::kMinimize, Direction::kMaximize}) {
    if (direction_name(direction) == name) return direction;
  }
  return std::nullopt;
}

double unix_time_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace gpu_tune::search
