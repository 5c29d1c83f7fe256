#pragma once
// Parameter importances for `gpu_tune report`: a first-order, binned stand-in for the
// functional ANOVA (fANOVA) that Optuna computes with a random forest.
//
// For each parameter, the complete trials in which it was active are grouped: a categorical
// parameter by its value, a numeric one into quantile bins (about sqrt(n) of them, 2 to 10,
// ties kept together; quantiles do not depend on the scale, so a log parameter bins the same
// as its logarithm would). Its variance share is the bias-corrected share of the objective's
// variance that the group means explain (epsilon squared: (SSB - (G-1) MSW) / SST, clamped
// at 0), computed on the objective's ranks rather than its values so that one diverged
// trial cannot decide the result. Importances are the shares normalised to sum to 1.
//
// Limits (the report says them too): only main effects, so a parameter that matters
// through another (the learning rate per optimizer) is undervalued; a sampler that ties
// parameters together (TPE late in a study) lets one parameter take the credit of another;
// a nested parameter is judged on the trials where it was active only; pruned and failed
// trials are left out; with few trials the numbers are noisy (below kMinimumImportanceTrials
// a parameter gets none).
#include <string>
#include <vector>

#include "apps/report_parameters.h"
#include "search/trial.h"

namespace gpu_tune::app {

inline constexpr int kMinimumImportanceTrials = 5;

struct ParameterImportance {
  std::string name;
  double variance_share = 0;  // epsilon squared of the objective's ranks, in [0, 1]
  double importance = 0;      // variance_share over the sum of all parameters' (0 if that is 0)
  int trials = 0;             // complete trials in which the parameter was active
  int groups = 0;             // values or bins those trials fell in
};

struct ImportanceResult {
  std::vector<ParameterImportance> parameters;  // in the order given
  int trials = 0;                               // complete trials with a finite value
};

ImportanceResult binned_variance_importance(const std::vector<ReportParameter>& parameters,
                                            const std::vector<search::TrialRecord>& trials);

// The pieces, for tests.
// Ranks from 1, ties sharing their average rank.
std::vector<double> average_ranks(const std::vector<double>& values);
// A group (0, 1, ...) per value: `bins` quantile bins, equal values always in one bin, no
// bin left empty (so fewer than `bins` groups when ties or few values make some empty).
std::vector<int> quantile_bins(const std::vector<double>& values, int bins);
// Epsilon squared of `values` grouped by `groups`; 0 when undefined (no spread, one group,
// or no trial left to estimate the spread within groups).
double epsilon_squared(const std::vector<double>& values, const std::vector<int>& groups);

}  // namespace gpu_tune::app
