#include "search/successive_halving_pruner.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace gpu_tune::search {
namespace {

// Whether `value` is in the top 1/eta of `values` (which holds it). With fewer than eta
// values it must be the best: a trial cannot wait for the rung to fill, so the first ones
// there are judged against each other (Optuna's rule for the same reason).
bool is_promotable(double value, std::vector<double> values, int eta, Direction direction, double& threshold) {
  const size_t kept = std::max<size_t>(values.size() / static_cast<size_t>(eta), 1);
  std::sort(values.begin(), values.end());
  if (direction == Direction::kMinimize) {
    threshold = values[kept - 1];
    return value <= threshold;
  }
  threshold = values[values.size() - kept];
  return value >= threshold;
}

}  // namespace

SuccessiveHalvingPruner::SuccessiveHalvingPruner(SuccessiveHalvingOptions options) : options_(options) {
  if (options_.min_resource < 1) throw std::invalid_argument("successive halving: min_resource must be at least 1");
  if (options_.reduction_factor < 2) throw std::invalid_argument("successive halving: reduction_factor must be at least 2");
  if (options_.min_early_stopping_rate < 0)
    throw std::invalid_argument("successive halving: min_early_stopping_rate must not be negative");
  if (options_.bootstrap_count < 0) throw std::invalid_argument("successive halving: bootstrap_count must not be negative");
}

std::optional<int64_t> SuccessiveHalvingPruner::rung_step(int rung) const {
  int64_t step = options_.min_resource;
  for (int i = 0; i < options_.min_early_stopping_rate + rung; ++i) {
    if (step > std::numeric_limits<int64_t>::max() / options_.reduction_factor) return std::nullopt;
    step *= options_.reduction_factor;
  }
  return step;
}

std::string SuccessiveHalvingPruner::rung_key(int rung) { return "rung_" + std::to_string(rung); }

PruneDecision SuccessiveHalvingPruner::decide(const PruningContext& context, const TrialRecord& trial) const {
  std::vector<const TrialRecord*> rivals;
  rivals.reserve(context.trials.size());
  for (const TrialRecord& t : context.trials) rivals.push_back(&t);
  return decide_among(trial, rivals, context.direction);
}

PruneDecision SuccessiveHalvingPruner::decide_among(const TrialRecord& trial, const std::vector<const TrialRecord*>& rivals,
                                                    Direction direction) const {
  PruneDecision decision;
  const StepRecord* last = last_step(trial);
  if (!last) return decision;
  const int64_t step = last->step;
  const double value = last->value;
  // Rungs it passed on earlier reports carry its value already; start at the first that doesn't.
  int rung = 0;
  while (trial.attributes.contains(rung_key(rung))) ++rung;
  // One report may pass several rungs when a trial skips steps; each is judged in turn.
  for (;; ++rung) {
    const std::optional<int64_t> at = rung_step(rung);
    if (!at || step < *at) return decision;
    std::ostringstream why;
    why << "at rung " << rung << " (step " << *at << ") ";
    if (std::isnan(value)) {
      why << "its value at step " << step << " is NaN";
      return {true, why.str(), decision.attributes};
    }
    const std::string key = rung_key(rung);
    decision.attributes[key] = value;
    std::vector<double> values{value};
    for (const TrialRecord* rival : rivals) {
      if (rival->number == trial.number) continue;
      if (const auto found = rival->attributes.find(key); found != rival->attributes.end()) values.push_back(found->second);
    }
    if (values.size() <= static_cast<size_t>(options_.bootstrap_count)) {
      why << "only " << values.size() << " value(s) are there, bootstrap_count is " << options_.bootstrap_count;
      return {true, why.str(), decision.attributes};
    }
    double threshold = 0;
    if (!is_promotable(value, values, options_.reduction_factor, direction, threshold)) {
      why << "its value " << value << " is not among the best 1/" << options_.reduction_factor << " of the "
          << values.size() << " there (" << threshold << " or better)";
      return {true, why.str(), decision.attributes};
    }
  }
}

}  // namespace gpu_tune::search
