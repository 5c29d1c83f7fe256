#include "search/storage_rows.h"

#include "search/param_json.h"

namespace gpu_tune::search {

std::string describe_trial(int64_t study_id, const std::string& study_name, int64_t number) {
  return "study " + std::to_string(study_id) + " ('" + study_name + "') trial " + std::to_string(number);
}

std::string study_mismatch(const StudyInfo& existing, const StudyInfo& requested) {
  if (existing.direction == requested.direction && existing.metric == requested.metric) return "";
  return "study '" + requested.name + "' exists to " + std::string(direction_name(existing.direction)) + " " +
         existing.metric + ", but was asked to " + std::string(direction_name(requested.direction)) + " " +
         requested.metric;
}

std::string finish_state_problem(int64_t study_id, int64_t number, TrialState state) {
  if (is_finished(state)) return "";
  return "study " + std::to_string(study_id) + " trial " + std::to_string(number) + " cannot finish as '" +
         std::string(trial_state_name(state)) + "'; it must be complete, pruned or failed";
}

void decode_trial_fields(TrialRecord& trial, const std::string& state, std::string_view params_json,
                         std::string_view metrics_json) {
  const auto parsed = parse_trial_state(state);
  if (!parsed) throw std::invalid_argument("unknown state '" + state + "'");
  trial.state = *parsed;
  trial.params = params_from_json_text(params_json);
  trial.metrics = metrics_from_json_text(metrics_json);
}

}  // namespace gpu_tune::search
