#pragma once
// What the storage implementations say and decode alike: the problems they refuse with, and
// a trial read back from a database's rows (its state, parameters and metrics as text, its
// steps and attributes in rows ordered by trial number).
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "search/storage.h"

namespace gpu_tune::search {

// "study 3 ('mnist') trial 7"
std::string describe_trial(int64_t study_id, const std::string& study_name, int64_t number);
// Why a study of that name cannot be loaded for `requested`; empty when it can.
std::string study_mismatch(const StudyInfo& existing, const StudyInfo& requested);
// Why a trial cannot finish in `state`; empty when it can.
std::string finish_state_problem(int64_t study_id, int64_t number, TrialState state);

// A trial's state, parameters and metrics from their stored text. Throws
// std::invalid_argument saying which field is unreadable.
void decode_trial_fields(TrialRecord& trial, const std::string& state, std::string_view params_json,
                         std::string_view metrics_json);

// A trial from a row of: number, state, params, value, metrics, device, slot, started_at,
// finished_at, error, worker (NULL: none); `Row` reads a column by index (integer, real,
// optional_real, text, is_null). Throws std::invalid_argument naming what is unreadable.
template <typename Row>
TrialRecord decode_trial_row(const Row& row);
// A step from a row of: number, step, value, metrics.
template <typename Row>
StepRecord decode_step_row(const Row& row);

// Walks trials ordered by number alongside rows ordered by number (steps, attributes): the
// trial a row belongs to, or null when there is none (a row without its trial).
class TrialCursor {
 public:
  explicit TrialCursor(std::vector<TrialRecord>& trials) : next_(trials.begin()), end_(trials.end()) {}
  TrialRecord* find(int64_t number) {
    while (next_ != end_ && next_->number < number) ++next_;
    return next_ != end_ && next_->number == number ? &*next_ : nullptr;
  }

 private:
  std::vector<TrialRecord>::iterator next_, end_;
};

// JSON text of a trial's parameters or metrics, or the connection's StorageError naming the
// operation (a non-finite parameter cannot be stored). `Connection` has
// [[noreturn]] fail(operation, problem).
template <typename Connection>
std::string stored_params(Connection& connection, const ParamMap& params, std::string_view operation);
template <typename Connection>
std::string stored_metrics(Connection& connection, const std::map<std::string, double>& metrics,
                           std::string_view operation);

}  // namespace gpu_tune::search

#include "search/param_json.h"

namespace gpu_tune::search {

template <typename Row>
TrialRecord decode_trial_row(const Row& row) {
  TrialRecord trial;
  trial.number = row.integer(0);
  decode_trial_fields(trial, row.text(1), row.text(2), row.text(4));
  trial.value = row.optional_real(3);
  trial.device = row.text(5);
  trial.slot = static_cast<int>(row.integer(6));
  trial.started_at = row.real(7);
  trial.finished_at = row.optional_real(8).value_or(0.0);
  trial.error = row.text(9);
  if (!row.is_null(10)) trial.worker = row.text(10);
  return trial;
}

template <typename Row>
StepRecord decode_step_row(const Row& row) {
  StepRecord step;
  step.step = row.integer(1);
  step.value = row.optional_real(2).value_or(std::numeric_limits<double>::quiet_NaN());
  try {
    step.metrics = metrics_from_json_text(row.text(3));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("step " + std::to_string(step.step) + ": " + e.what());
  }
  return step;
}

template <typename Connection>
std::string stored_params(Connection& connection, const ParamMap& params, std::string_view operation) {
  try {
    return params_to_json_text(params);
  } catch (const std::invalid_argument& e) {
    connection.fail(operation, e.what());
  }
}

template <typename Connection>
std::string stored_metrics(Connection& connection, const std::map<std::string, double>& metrics,
                           std::string_view operation) {
  try {
    return metrics_to_json_text(metrics);
  } catch (const std::invalid_argument& e) {
    connection.fail(operation, e.what());
  }
}

}  // namespace gpu_tune::search
