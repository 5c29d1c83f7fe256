#include "search/optuna_journal.h"

#include <nlohmann/json.hpp>  // journal lines

#include <cmath>
#include <ctime>
#include <map>
#include <stdexcept>
#include <string>

namespace gpu_tune::search {
namespace {

using nlohmann::json;

// Optuna's journal operation codes and trial states (optuna.storages._journal, TrialState).
constexpr int kCreateStudy = 0;
constexpr int kCreateTrial = 4;
constexpr const char* kWorker = "gpu_tune-export";

int optuna_state(TrialState state) {
  switch (state) {
    case TrialState::kRunning: return 0;
    case TrialState::kComplete: return 1;
    case TrialState::kPruned: return 2;
    case TrialState::kFailed: return 3;
    case TrialState::kWaiting: return 4;
  }
  return 3;
}

bool is_whole(double x) { return std::isfinite(x) && std::floor(x) == x; }

// A multiple of `step` away from `origin`, to rounding.
bool on_grid(double x, double origin, double step) {
  const double steps = (x - origin) / step;
  return std::abs(steps - std::round(steps)) < 1e-9 * std::max(1.0, std::abs(steps));
}

json float_distribution(double low, double high, std::optional<double> step, bool log) {
  return {{"name", "FloatDistribution"},
          {"attributes", {{"step", step ? json(*step) : json(nullptr)}, {"low", low}, {"high", high}, {"log", log}}}};
}

json int_distribution(double low, double high, bool log) {
  return {{"name", "IntDistribution"},
          {"attributes",
           {{"log", log}, {"step", 1}, {"low", static_cast<int64_t>(low)}, {"high", static_cast<int64_t>(high)}}}};
}

json choice_value(const ParamValue& value) {
  return std::visit([](const auto& v) { return json(v); }, value);
}

json distribution_json(const Distribution& d) {
  switch (d.kind) {
    case DistributionKind::kUniform:
      return float_distribution(d.low, d.high, std::nullopt, false);
    case DistributionKind::kQUniform:
      // Optuna's grid starts at low and must end at high; hyperopt's is the multiples of q.
      if (on_grid(d.low, 0, d.q) && on_grid(d.high, d.low, d.q)) return float_distribution(d.low, d.high, d.q, false);
      return float_distribution(d.low, d.high, std::nullopt, false);
    case DistributionKind::kLogUniform:
      return float_distribution(d.low, d.high, std::nullopt, true);
    case DistributionKind::kQLogUniform:
      if (d.q == 1 && is_whole(d.low) && is_whole(d.high)) return int_distribution(d.low, d.high, true);
      return float_distribution(d.low, d.high, std::nullopt, true);
    case DistributionKind::kRandInt:
      return int_distribution(d.low, d.high - 1, false);
    case DistributionKind::kUniformInt:
      return int_distribution(d.low, d.high, false);
    case DistributionKind::kChoice: {
      json choices = json::array();
      for (const ChoiceOption& option : d.options) choices.push_back(choice_value(option.value));
      return {{"name", "CategoricalDistribution"}, {"attributes", {{"choices", choices}}}};
    }
    default:
      throw std::invalid_argument(std::string(distribution_kind_name(d.kind)) +
                                  " is unbounded, and Optuna has no unbounded distribution");
  }
}

// Optuna's internal representation: a choice's option index, else the number.
double internal_value(const Distribution& d, const ParamValue& value) {
  if (d.kind != DistributionKind::kChoice) return to_double(value);
  for (size_t i = 0; i < d.options.size(); ++i)
    if (d.options[i].value == value) return static_cast<double>(i);
  throw std::invalid_argument("value " + to_display_string(value) + " is not one of the choice's options");
}

// A number as JSON; NaN and infinities, which JSON cannot hold, as null.
json number(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

// Optuna's datetime: local time, ISO 8601 with microseconds, no zone.
std::string local_iso_time(double unix_seconds) {
  const std::time_t whole = static_cast<std::time_t>(std::floor(unix_seconds));
  long micro = std::lround((unix_seconds - static_cast<double>(whole)) * 1e6);
  std::time_t seconds = whole;
  if (micro >= 1000000) seconds += 1, micro -= 1000000;
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[64];
  const size_t n = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &local);
  std::snprintf(text + n, sizeof(text) - n, ".%06ld", micro);
  return text;
}

}  // namespace

std::string optuna_distribution_json(const Distribution& distribution) { return distribution_json(distribution).dump(); }

void write_optuna_journal(const StudyInfo& study, const SearchSpace& space, const std::vector<TrialRecord>& trials,
                          std::ostream& out) {
  // Every distribution first, so that a refused one leaves nothing half written.
  std::map<std::string, std::pair<const Distribution*, std::string>> distributions;
  for (const FlatParameter& p : space.flat()) {
    try {
      distributions.emplace(p.name, std::make_pair(&p.distribution, optuna_distribution_json(p.distribution)));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("parameter '" + p.name + "': " + e.what());
    }
  }
  std::vector<json> lines;
  lines.push_back({{"op_code", kCreateStudy},
                   {"worker_id", kWorker},
                   {"study_name", study.name},
                   {"directions", json::array({study.direction == Direction::kMinimize ? 1 : 2})}});
  for (const TrialRecord& t : trials) {
    json params = json::object(), dists = json::object(), steps = json::object(), attrs = json::object();
    for (const auto& [name, value] : t.params) {
      const auto found = distributions.find(name);
      if (found == distributions.end())
        throw std::invalid_argument("trial " + std::to_string(t.number) + ": parameter '" + name +
                                    "' is not in the study's space");
      try {
        params[name] = internal_value(*found->second.first, value);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("trial " + std::to_string(t.number) + ": parameter '" + name + "': " + e.what());
      }
      dists[name] = found->second.second;
    }
    for (const StepRecord& step : t.steps) steps[std::to_string(step.step)] = number(step.value);
    for (const auto& [name, value] : t.metrics) attrs[name] = number(value);
    if (!t.error.empty()) attrs["error"] = t.error;
    json line = {{"op_code", kCreateTrial},
                 {"worker_id", kWorker},
                 {"study_id", 0},
                 {"state", optuna_state(t.state)},
                 {"value", t.value ? number(*t.value) : json(nullptr)},
                 {"values", nullptr},
                 {"datetime_start", t.started_at > 0 ? json(local_iso_time(t.started_at)) : json(nullptr)},
                 {"distributions", dists},
                 {"params", params},
                 {"user_attrs", attrs},
                 {"system_attrs", json::object()},
                 {"intermediate_values", steps}};
    if (is_finished(t.state) && t.finished_at > 0) line["datetime_complete"] = local_iso_time(t.finished_at);
    lines.push_back(std::move(line));
  }
  for (const json& line : lines) out << line.dump() << "\n";
}

}  // namespace gpu_tune::search
