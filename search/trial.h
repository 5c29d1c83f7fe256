#pragma once
// What a study records of each trial.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "search/parameter_value.h"

namespace gpu_tune::search {

enum class TrialState { kWaiting, kRunning, kComplete, kPruned, kFailed };
std::string_view trial_state_name(TrialState state);
std::optional<TrialState> parse_trial_state(std::string_view name);
inline bool is_finished(TrialState s) { return s == TrialState::kComplete || s == TrialState::kPruned || s == TrialState::kFailed; }

enum class Direction { kMinimize, kMaximize };
std::string_view direction_name(Direction direction);
std::optional<Direction> parse_direction(std::string_view name);

// Now, as trials count time: seconds since the Unix epoch (started_at, finished_at).
double unix_time_now();

// One intermediate report: the objective's value at a step (an epoch) and any metrics.
struct StepRecord {
  int64_t step = 0;
  double value = 0;
  std::map<std::string, double> metrics;
};

struct TrialRecord {
  int64_t number = -1;  // 0, 1, 2, ... within its study, in creation order
  TrialState state = TrialState::kWaiting;
  ParamMap params;
  std::optional<double> value;             // the objective, once complete (or pruned at a step)
  std::vector<StepRecord> steps;           // intermediate values, in step order
  std::map<std::string, double> metrics;   // final metrics, e.g. test_accuracy, best_epoch
  // What a pruner keeps with the trial while it runs, e.g. "rung_0" -> the value with which
  // it reached successive halving's first rung. Written by the study runner, read back by
  // the pruner as part of the history.
  std::map<std::string, double> attributes;
  std::string device;                      // where it ran, e.g. "cpu" or "cuda:0"
  std::string worker;                      // the process that ran it (worker_id.h); may be empty
  int slot = -1;
  double started_at = 0, finished_at = 0;  // seconds since the Unix epoch; 0 when not yet
  std::string error;                       // why it failed
};

}  // namespace gpu_tune::search
