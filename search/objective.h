#pragma once
// What the search asks of whatever trains the trials: run trials in up to capacity()
// slots, asking for the next trial whenever a slot is free, and report each trial's
// intermediate values and outcome. The engine's bundle is one objective; an external
// command (--objective-command) is another. The search never sees the engine itself.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "search/parameter_value.h"
#include "search/trial.h"

namespace gpu_tune::search {

struct TrialRequest {
  int64_t number = -1;
  ParamMap params;
};

struct TrialOutcome {
  TrialState state = TrialState::kComplete;  // complete, pruned or failed
  std::optional<double> value;               // the objective; none when failed
  std::map<std::string, double> metrics;
  std::string error;
};

class TrialReporter {
 public:
  virtual ~TrialReporter() = default;
  // An intermediate value of a running trial; returns false when the trial should stop
  // now (pruned).
  virtual bool report(int64_t number, const StepRecord& step) = 0;
  virtual void finish(int64_t number, const TrialOutcome& outcome) = 0;
};

class Objective {
 public:
  virtual ~Objective() = default;
  virtual int capacity() const = 0;
  virtual std::string device() const = 0;  // where trials run, e.g. "cpu" or "cuda:0"
  // Runs trials until next_trial returns nothing and every started trial has finished.
  // next_trial(slot) is called whenever `slot` is free.
  virtual void run(const std::function<std::optional<TrialRequest>(int slot)>& next_trial, TrialReporter& reporter) = 0;
};

}  // namespace gpu_tune::search
