#include "apps/report_parameters.h"

#include <nlohmann/json.hpp>  // Optuna's distribution JSON

#include <cstdio>
#include <set>
#include <stdexcept>
#include <variant>

#include "search/optuna_journal.h"

namespace gpu_tune::app {
namespace {

std::string short_number(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", x);
  return text;
}

std::string describe(const search::Distribution& d) {
  std::string text = std::string(search::distribution_kind_name(d.kind)) + "(";
  if (d.kind == search::DistributionKind::kChoice) {
    for (size_t i = 0; i < d.options.size(); ++i) text += (i ? ", " : "") + category_label(d.options[i].value);
  } else if (d.is_bounded()) {
    text += short_number(d.low) + ", " + short_number(d.high);
  } else {
    text += "mu " + short_number(d.mu) + ", sigma " + short_number(d.sigma);
  }
  if (d.is_quantized()) text += ", q " + short_number(d.q);
  return text + ")";
}

// Scale and bounds as Optuna sees the distribution (search/optuna_journal.h has the mapping:
// randint's exclusive high, qloguniform as an integer log scale, ...), so the report's axes
// match what an Optuna export of the same study shows. The normal family, which Optuna
// refuses, is unbounded: linear, or log for the lognormals.
ReportParameter from_distribution(const std::string& name, const search::Distribution& d) {
  ReportParameter p;
  p.name = name;
  p.distribution = describe(d);
  if (d.kind == search::DistributionKind::kChoice) {
    p.scale = AxisScale::kCategorical;
    for (const search::ChoiceOption& option : d.options) p.choices.push_back(category_label(option.value));
    return p;
  }
  try {
    const nlohmann::json optuna = nlohmann::json::parse(search::optuna_distribution_json(d));
    const nlohmann::json& attributes = optuna.at("attributes");
    p.scale = attributes.at("log").get<bool>() ? AxisScale::kLog : AxisScale::kLinear;
    p.integer = optuna.at("name") == "IntDistribution";
    p.low = attributes.at("low").get<double>();
    p.high = attributes.at("high").get<double>();
  } catch (const std::invalid_argument&) {
    p.scale = d.is_log() ? AxisScale::kLog : AxisScale::kLinear;
  }
  return p;
}

ReportParameter guessed(const std::string& name, const std::vector<search::TrialRecord>& trials, const std::string& why) {
  ReportParameter p;
  p.name = name;
  p.integer = true;  // until a value that is not an integer shows up
  p.distribution = why + ": axis from the trials' values";
  std::set<std::string> labels;
  for (const search::TrialRecord& t : trials) {
    const auto found = t.params.find(name);
    if (found == t.params.end()) continue;
    const search::ParamValue& v = found->second;
    if (std::holds_alternative<std::string>(v) || std::holds_alternative<bool>(v)) p.scale = AxisScale::kCategorical;
    if (!std::holds_alternative<int64_t>(v)) p.integer = false;
    labels.insert(category_label(v));
  }
  if (p.scale == AxisScale::kCategorical) {
    p.integer = false;
    p.choices.assign(labels.begin(), labels.end());
  }
  return p;
}

}  // namespace

std::string category_label(const search::ParamValue& value) { return search::to_display_string(value); }

std::vector<ReportParameter> report_parameters(const search::SearchSpace* space,
                                               const std::vector<search::TrialRecord>& trials) {
  std::vector<ReportParameter> parameters;
  std::set<std::string> named;
  if (space) {
    for (const search::FlatParameter& flat : space->flat()) {
      parameters.push_back(from_distribution(flat.name, flat.distribution));
      named.insert(flat.name);
    }
  }
  std::set<std::string> others;
  for (const search::TrialRecord& t : trials)
    for (const auto& [name, value] : t.params)
      if (!named.contains(name)) others.insert(name);
  const std::string why = space ? "not in the study's space" : "the study's space is unknown";
  for (const std::string& name : others) parameters.push_back(guessed(name, trials, why));
  return parameters;
}

}  // namespace gpu_tune::app
