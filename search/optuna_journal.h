#pragma once
// A study in Optuna's JournalStorage file format (Optuna 3.1 and later; optuna-dashboard
// reads it too): one CREATE_STUDY line, then one CREATE_TRIAL line per trial carrying its
// state, value, start and end times, parameters with their distributions, intermediate
// values and metrics (as user attributes). Load it with
//   optuna.storages.JournalStorage(optuna.storages.JournalFileStorage(path))
//
// Distributions map as Optuna defines them: uniform -> FloatDistribution; quniform ->
// FloatDistribution with step (when both bounds lie on the step's grid, else without);
// loguniform -> FloatDistribution(log); qloguniform -> IntDistribution(log) for q = 1 and
// integer bounds, else FloatDistribution(log) (Optuna has no log scale with a step);
// randint [low, high) -> IntDistribution(low, high - 1); uniformint -> IntDistribution;
// choice -> CategoricalDistribution of its option values. A nested choice's parameters are
// the trial's parameters where they were active. The normal family has no Optuna
// counterpart (it is unbounded) and is refused.
#include <ostream>
#include <string>
#include <vector>

#include "search/space.h"
#include "search/storage.h"
#include "search/trial.h"

namespace gpu_tune::search {

// Optuna's distribution JSON ({"name": ..., "attributes": {...}}) for one of ours. Throws
// std::invalid_argument naming the distribution when Optuna has no counterpart.
std::string optuna_distribution_json(const Distribution& distribution);

// Writes the journal. Throws std::invalid_argument naming the parameter for a distribution
// Optuna cannot hold, before anything is written.
void write_optuna_journal(const StudyInfo& study, const SearchSpace& space, const std::vector<TrialRecord>& trials,
                          std::ostream& out);

}  // namespace gpu_tune::search
