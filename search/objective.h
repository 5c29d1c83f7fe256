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
  // True once the study is stopping (Ctrl-C, or another worker failed). An objective then
  // starts nothing, stops its running trials at their next step (the engine: between bundle
  // steps; a command: its process group is terminated) and returns without finishing them;
  // the study records them as interrupted. Cheap enough to ask after every step.
  virtual bool should_stop() const { return false; }
  // A line for the study's log that belongs to no one trial, e.g. "cuda:0: out of memory
  // adding a slot; this device now runs 12 slots". Thread-safe like the rest.
  virtual void note(const std::string& event) { (void)event; }
};

class Objective {
 public:
  virtual ~Objective() = default;
  virtual int capacity() const = 0;
  virtual std::string device() const = 0;  // where trials run, e.g. "cpu" or "cuda:0"
  // Runs trials until next_trial returns nothing and every started trial has finished, or
  // until reporter.should_stop(). next_trial(slot) is called whenever `slot` is free; once it
  // returns nothing it has nothing more for this run. Several objectives (one per device) may
  // run at once in their own threads, sharing one reporter, which is then thread-safe.
  virtual void run(const std::function<std::optional<TrialRequest>(int slot)>& next_trial, TrialReporter& reporter) = 0;
};

}  // namespace gpu_tune::search
