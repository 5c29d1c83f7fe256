#include "search/median_pruner.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace gpu_tune::search {
namespace {

// Whether `step` is the first step the trial reported at or after the latest pruning check
// point (warmup, warmup + interval, ...): a trial that skips steps is still checked once per
// interval, at the first value it reports past each point.
bool is_check_step(const TrialRecord& trial, int64_t step, int64_t warmup, int64_t interval) {
  const int64_t check_point = (step - warmup) / interval * interval + warmup;  // step >= warmup here
  std::optional<int64_t> previous;
  for (const StepRecord& s : trial.steps)
    if (s.step != step && (!previous || s.step > *previous)) previous = s.step;
  return !previous || *previous < check_point;
}

// The best of the trial's values so far, NaN ignored; NaN when every one is NaN.
double best_value(const TrialRecord& trial, Direction direction) {
  double best = std::nan("");
  for (const StepRecord& s : trial.steps)
    if (!std::isnan(s.value) && (std::isnan(best) || is_better(s.value, best, direction))) best = s.value;
  return best;
}

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : std::midpoint(values[middle - 1], values[middle]);
}

}  // namespace

MedianPruner::MedianPruner(MedianPrunerOptions options) : options_(options) {
  if (options_.startup_trials < 0) throw std::invalid_argument("median pruner: startup_trials must not be negative");
  if (options_.warmup_steps < 0) throw std::invalid_argument("median pruner: warmup_steps must not be negative");
  if (options_.interval_steps < 1) throw std::invalid_argument("median pruner: interval_steps must be at least 1");
  if (options_.min_trials < 1) throw std::invalid_argument("median pruner: min_trials must be at least 1");
}

PruneDecision MedianPruner::decide(const PruningContext& context, const TrialRecord& trial) const {
  std::vector<const TrialRecord*> complete;
  for (const TrialRecord& t : context.trials)
    if (t.state == TrialState::kComplete && t.number != trial.number) complete.push_back(&t);
  if (complete.empty() || complete.size() < static_cast<size_t>(options_.startup_trials)) return {};

  const StepRecord* last = last_step(trial);
  if (!last || last->step < options_.warmup_steps) return {};
  const int64_t step = last->step;
  if (!is_check_step(trial, step, options_.warmup_steps, options_.interval_steps)) return {};

  const double best = best_value(trial, context.direction);
  if (std::isnan(best)) return {true, "every value it reported is NaN", {}};

  // Complete trials that reported this step; a NaN among them counts toward min_trials but
  // not toward the median, as in Optuna.
  std::vector<double> values;
  size_t reported = 0;
  for (const TrialRecord* t : complete) {
    for (const StepRecord& s : t->steps) {
      if (s.step != step) continue;
      ++reported;
      if (!std::isnan(s.value)) values.push_back(s.value);
    }
  }
  if (reported < static_cast<size_t>(options_.min_trials) || values.empty()) return {};
  const double median = median_of(std::move(values));
  if (!is_better(median, best, context.direction)) return {};
  std::ostringstream why;
  why << "at step " << step << " its best value " << best << " is worse than the median " << median << " of "
      << reported << " complete trial(s)";
  return {true, why.str(), {}};
}

}  // namespace gpu_tune::search
