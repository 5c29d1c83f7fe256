#pragma once
// The data `gpu_tune report` embeds in its page, as JSON; the page's script draws every
// chart and table from it and from nothing else.
//
//   study       {name, direction, metric}
//   space_note  why the search space is unknown ("" when it is known)
//   progress    {trials, complete, pruned, failed, interrupted, running, waiting}
//   parameters  [{name, scale: linear|log|categorical, integer, low, high, choices, distribution}]
//   trials      [{number, state, value, params: {name: number or choice label},
//                 steps: [[step, value], ...], started_at, finished_at, duration, metrics, error}]
//   best        {number, value, params: {name: label}, test_accuracy} or null
//   importance  {method, trials, minimum_trials, parameters: [{name, importance,
//                 variance_share, trials, groups}]}
// Numbers JSON cannot hold (NaN, infinities) are null; so are times not yet known.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "search/space.h"
#include "search/storage.h"
#include "search/trial.h"

namespace gpu_tune::app {

// `space` may be null when the study's space is unknown; space_note then says why.
nlohmann::json report_data(const search::StudyInfo& study, const search::SearchSpace* space,
                           const std::string& space_note, const std::vector<search::TrialRecord>& trials);

}  // namespace gpu_tune::app
