#include "apps/report_data.h"

#include <cmath>
#include <map>

#include "apps/report_importance.h"
#include "apps/report_parameters.h"
#include "search/study_progress.h"

namespace gpu_tune::app {
namespace {

using nlohmann::json;

json number(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }
json optional_number(const std::optional<double>& x) { return x ? number(*x) : json(nullptr); }

std::string_view scale_name(AxisScale scale) {
  switch (scale) {
    case AxisScale::kLinear: return "linear";
    case AxisScale::kLog: return "log";
    case AxisScale::kCategorical: return "categorical";
  }
  return "linear";
}

json parameter_json(const ReportParameter& p) {
  return {{"name", p.name},
          {"scale", scale_name(p.scale)},
          {"integer", p.integer},
          {"low", optional_number(p.low)},
          {"high", optional_number(p.high)},
          {"choices", p.choices},
          {"distribution", p.distribution}};
}

// A value where its axis puts it: a choice's label on a categorical axis, else the number.
json axis_value(const ReportParameter* p, const search::ParamValue& value) {
  const bool categorical = !p || p->scale == AxisScale::kCategorical;
  if (categorical || std::holds_alternative<std::string>(value)) return category_label(value);
  if (const auto* whole = std::get_if<int64_t>(&value)) return *whole;
  return number(search::to_double(value));
}

using ParameterIndex = std::map<std::string, const ReportParameter*>;

json trial_json(const search::TrialRecord& t, const ParameterIndex& parameters) {
  json params = json::object();
  for (const auto& [name, value] : t.params) {
    const auto found = parameters.find(name);
    params[name] = axis_value(found == parameters.end() ? nullptr : found->second, value);
  }
  json steps = json::array();
  for (const search::StepRecord& s : t.steps) steps.push_back({s.step, number(s.value)});
  json metrics = json::object();
  for (const auto& [name, value] : t.metrics) metrics[name] = number(value);
  const bool timed = search::is_finished(t.state) && t.started_at > 0 && t.finished_at >= t.started_at;
  return {{"number", t.number},
          {"state", search::trial_state_name(t.state)},
          {"value", optional_number(t.value)},
          {"params", params},
          {"steps", steps},
          {"started_at", t.started_at > 0 ? number(t.started_at) : json(nullptr)},
          {"finished_at", t.finished_at > 0 ? number(t.finished_at) : json(nullptr)},
          {"duration", timed ? number(t.finished_at - t.started_at) : json(nullptr)},
          {"metrics", metrics},
          {"error", t.error}};
}

json best_json(const search::StudyProgress& progress, const std::vector<search::TrialRecord>& trials) {
  if (!progress.best_value) return nullptr;
  for (const search::TrialRecord& t : trials) {
    if (t.number != progress.best_trial) continue;
    json params = json::object();
    for (const auto& [name, value] : t.params) params[name] = category_label(value);
    const auto accuracy = t.metrics.find("test_accuracy");
    return {{"number", t.number},
            {"value", number(*progress.best_value)},
            {"params", params},
            {"test_accuracy", accuracy == t.metrics.end() ? json(nullptr) : number(accuracy->second)}};
  }
  return nullptr;
}

json importance_json(const ImportanceResult& result) {
  json parameters = json::array();
  for (const ParameterImportance& p : result.parameters)
    parameters.push_back({{"name", p.name},
                          {"importance", p.importance},
                          {"variance_share", p.variance_share},
                          {"trials", p.trials},
                          {"groups", p.groups}});
  return {{"method", "binned first-order variance share (epsilon squared of the objective's ranks)"},
          {"trials", result.trials},
          {"minimum_trials", kMinimumImportanceTrials},
          {"parameters", parameters}};
}

}  // namespace

json report_data(const search::StudyInfo& study, const search::SearchSpace* space, const std::string& space_note,
                 const std::vector<search::TrialRecord>& trials) {
  const std::vector<ReportParameter> parameters = report_parameters(space, trials);
  const search::StudyProgress progress = search::summarize(trials, study.direction);
  int64_t waiting = 0;
  for (const search::TrialRecord& t : trials) waiting += t.state == search::TrialState::kWaiting;

  json parameter_list = json::array();
  ParameterIndex by_name;
  for (const ReportParameter& p : parameters) {
    parameter_list.push_back(parameter_json(p));
    by_name[p.name] = &p;
  }
  json trial_list = json::array();
  for (const search::TrialRecord& t : trials) trial_list.push_back(trial_json(t, by_name));
  return {{"study", {{"name", study.name}, {"direction", search::direction_name(study.direction)}, {"metric", study.metric}}},
          {"space_note", space ? "" : space_note},
          {"progress",
           {{"trials", trials.size()},
            {"complete", progress.complete},
            {"pruned", progress.pruned},
            {"failed", progress.failed},
            {"interrupted", progress.interrupted},
            {"running", progress.running},
            {"waiting", waiting}}},
          {"parameters", parameter_list},
          {"trials", trial_list},
          {"best", best_json(progress, trials)},
          {"importance", importance_json(binned_variance_importance(parameters, trials))}};
}

}  // namespace gpu_tune::app
