#pragma once
// How `gpu_tune report` draws each parameter: its axis (linear, log or categorical) and
// bounds, read from the study's search space; for a study whose space is unknown, or a
// parameter it lacks, guessed from the trials' values.
#include <optional>
#include <string>
#include <vector>

#include "search/space.h"
#include "search/trial.h"

namespace gpu_tune::app {

enum class AxisScale { kLinear, kLog, kCategorical };

struct ReportParameter {
  std::string name;
  AxisScale scale = AxisScale::kLinear;
  bool integer = false;                // values are whole numbers (int kinds, qloguniform q=1)
  std::optional<double> low, high;     // the distribution's bounds, when it has them
  std::vector<std::string> choices;    // kCategorical: option labels, in the space's order
  std::string distribution;            // for people, e.g. "loguniform(0.0001, 0.1)"
};

// Every parameter of the space (parents before their nested children), then any other
// parameter the trials carry, by name. `space` may be null: everything is then guessed
// (strings and booleans categorical, numbers linear).
std::vector<ReportParameter> report_parameters(const search::SearchSpace* space,
                                               const std::vector<search::TrialRecord>& trials);

// A categorical value's label, the same for a trial's value and for a choice's option.
std::string category_label(const search::ParamValue& value);

}  // namespace gpu_tune::app
