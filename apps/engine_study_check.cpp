#include "apps/engine_study_check.h"

#include <cmath>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/slot_spec.h"

namespace gpu_tune::app {
namespace {

[[noreturn]] void fail(const search::StudyConfig& study, const std::string& key_path, const std::string& problem) {
  throw search::StudyConfigError(study.locate(key_path) + problem);
}

std::string key_of(const search::StudyConfig& study, const std::string& parameter) {
  const auto key = study.parameter_keys.find(parameter);
  return key == study.parameter_keys.end() ? "space" : key->second;
}

// The values a parameter is checked at: those that most often break a setting (the ends
// of a range), and every option, since each may be a different kind of model.
std::vector<search::ParamValue> representative_values(const search::Distribution& d) {
  using search::DistributionKind;
  if (d.kind == DistributionKind::kChoice) {
    std::vector<search::ParamValue> values;
    for (const search::ChoiceOption& option : d.options) values.push_back(option.value);
    return values;
  }
  if (!d.is_bounded()) return {search::value_from_raw(d, d.mu)};
  const double low = d.is_log() ? std::log(d.low) : d.low;
  const double high = d.is_log() ? std::log(d.high) : d.high;
  return {search::value_from_raw(d, low), search::value_from_raw(d, high)};
}

void check_metric(const search::StudyConfig& study) {
  const bool is_loss = study.metric.ends_with("_loss");
  const search::Direction natural = is_loss ? search::Direction::kMinimize : search::Direction::kMaximize;
  if (study.direction == natural) return;
  fail(study, "objective.direction",
       std::string(search::direction_name(study.direction)) + " " + study.metric + " would rank the worst model first (" +
           (is_loss ? "a loss is minimized" : "an accuracy is maximized") + ")");
}

void check_training_defaults(const search::StudyConfig& study, const EngineObjectiveOptions& options) {
  for (const auto& [key, value] : study.training) {
    TrainingConfig config;
    try {
      apply_slot_setting(config, key, value);
    } catch (const std::invalid_argument& e) {
      fail(study, "training." + key, e.what());
    }
  }
  try {
    trial_training_config({}, options, 0);
  } catch (const std::invalid_argument& e) {
    fail(study, "training", e.what());
  }
}

void check_parameters(const search::StudyConfig& study, const EngineObjectiveOptions& options) {
  const std::vector<search::FlatParameter>& flat = study.space.flat();
  std::vector<std::vector<search::ParamValue>> values;
  for (const search::FlatParameter& p : flat) values.push_back(representative_values(p.distribution));

  // A trial with parameter `target` at `value`, its enclosing choices at the options that
  // hold it, and every other active parameter at its first representative value.
  auto trial_with = [&](int target, const search::ParamValue& value) {
    std::map<int, search::ParamValue> forced;
    if (target >= 0) {
      forced.emplace(target, value);
      for (int child = target; flat[static_cast<size_t>(child)].parent >= 0;) {
        const search::FlatParameter& p = flat[static_cast<size_t>(child)];
        forced.emplace(p.parent, flat[static_cast<size_t>(p.parent)].distribution.options[static_cast<size_t>(p.parent_option)].value);
        child = p.parent;
      }
    }
    return search::assign_parameters(study.space, [&](const search::FlatParameter&, int index) {
      const auto f = forced.find(index);
      return f != forced.end() ? f->second : values[static_cast<size_t>(index)].front();
    });
  };
  auto describe = [](const search::ParamMap& params) {
    std::string text;
    for (const auto& [name, value] : params) text += (text.empty() ? "" : ", ") + name + "=" + search::to_display_string(value);
    return text;
  };

  // First the plainest trial; a failure there names its culprit in the message.
  const search::ParamMap plain = trial_with(-1, {});
  try {
    trial_training_config(plain, options, 0);
  } catch (const std::invalid_argument& e) {
    std::string key = "space";
    for (const auto& [name, value] : plain)
      if (std::string(e.what()).starts_with("parameter " + name + ":") || std::string(e.what()).starts_with("parameter " + name + " "))
        key = key_of(study, name);
    std::string problem = e.what();
    if (problem.find("unknown key") != std::string::npos)
      problem += "; a model built from parts also takes width1, width2, ..., conv1, conv2, ... and kernel";
    fail(study, key, problem + " (in a trial with " + describe(plain) + ")");
  }
  // Then each parameter at each of its values: what fails now is that value's doing. Last
  // to first, so a branch's parameters are blamed before the choice that holds them (a
  // bad width1 fails the `custom` option too).
  for (size_t i = flat.size(); i-- > 0;) {
    for (const search::ParamValue& value : values[i]) {
      const search::ParamMap params = trial_with(static_cast<int>(i), value);
      try {
        trial_training_config(params, options, 0);
      } catch (const std::invalid_argument& e) {
        std::string problem = e.what();
        if (problem.find("unknown key") != std::string::npos)
          problem += "; a model built from parts also takes width1, width2, ..., conv1, conv2, ... and kernel";
        fail(study, key_of(study, flat[i].name),
             "the engine cannot train " + flat[i].name + "=" + search::to_display_string(value) + ": " + problem +
                 " (in a trial with " + describe(params) + ")");
      }
    }
  }
}

}  // namespace

void check_engine_study(const search::StudyConfig& study, const EngineObjectiveOptions& options) {
  check_metric(study);
  check_training_defaults(study, options);
  check_parameters(study, options);
}

}  // namespace gpu_tune::app
