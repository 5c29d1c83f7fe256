#include "search/param_json.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace gpu_tune::search {
namespace {

nlohmann::json parse_object(std::string_view text, const char* what) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw std::invalid_argument(std::string("invalid JSON for ") + what + ": " + e.what());
  }
  if (!json.is_object()) {
    throw std::invalid_argument(std::string("JSON for ") + what + " must be an object, got " + json.type_name());
  }
  return json;
}

void require_object(const nlohmann::json& json, const char* what) {
  if (!json.is_object()) {
    throw std::invalid_argument(std::string("JSON for ") + what + " must be an object, got " + json.type_name());
  }
}

// JSON text must be UTF-8; a name or string that is not fails here rather than in a reader.
std::string dump_text(const nlohmann::json& json, const char* what) {
  try {
    return json.dump();
  } catch (const nlohmann::json::type_error& e) {
    throw std::invalid_argument(std::string(what) + " cannot be written as JSON: " + e.what());
  }
}

}  // namespace

nlohmann::json params_to_json(const ParamMap& params) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [name, value] : params) {
    if (const auto* d = std::get_if<double>(&value); d && !std::isfinite(*d)) {
      throw std::invalid_argument("parameter '" + name + "' is " + to_string(value) + ", which JSON cannot hold");
    }
    // An init-capture, not &name: clang before 16 cannot capture a structured binding.
    std::visit([&json, &key = name](const auto& v) { json[key] = v; }, value);
  }
  return json;
}

ParamMap params_from_json(const nlohmann::json& json) {
  require_object(json, "parameters");
  ParamMap params;
  for (const auto& [name, value] : json.items()) {
    if (value.is_boolean()) {
      params[name] = value.get<bool>();
    } else if (value.is_number_unsigned()) {
      const auto u = value.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        throw std::invalid_argument("parameter '" + name + "' = " + value.dump() + " does not fit in int64");
      }
      params[name] = static_cast<int64_t>(u);
    } else if (value.is_number_integer()) {
      params[name] = value.get<int64_t>();
    } else if (value.is_number_float()) {
      params[name] = value.get<double>();
    } else if (value.is_string()) {
      params[name] = value.get<std::string>();
    } else {
      throw std::invalid_argument("parameter '" + name + "' must be an integer, float, bool or string, got " +
                                  std::string(value.type_name()) + " " + value.dump());
    }
  }
  return params;
}

std::string params_to_json_text(const ParamMap& params) { return dump_text(params_to_json(params), "parameters"); }

ParamMap params_from_json_text(std::string_view text) { return params_from_json(parse_object(text, "parameters")); }

nlohmann::json metrics_to_json(const MetricMap& metrics) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [name, value] : metrics) {
    if (std::isnan(value)) {
      json[name] = "NaN";
    } else if (std::isinf(value)) {
      json[name] = value > 0 ? "Infinity" : "-Infinity";
    } else {
      json[name] = value;
    }
  }
  return json;
}

MetricMap metrics_from_json(const nlohmann::json& json) {
  require_object(json, "metrics");
  MetricMap metrics;
  for (const auto& [name, value] : json.items()) {
    if (value.is_number()) {
      metrics[name] = value.get<double>();
    } else if (value.is_null() || value == "NaN") {
      metrics[name] = std::numeric_limits<double>::quiet_NaN();
    } else if (value == "Infinity") {
      metrics[name] = std::numeric_limits<double>::infinity();
    } else if (value == "-Infinity") {
      metrics[name] = -std::numeric_limits<double>::infinity();
    } else {
      throw std::invalid_argument("metric '" + name + "' must be a number, got " + value.dump());
    }
  }
  return metrics;
}

std::string metrics_to_json_text(const MetricMap& metrics) { return dump_text(metrics_to_json(metrics), "metrics"); }

MetricMap metrics_from_json_text(std::string_view text) { return metrics_from_json(parse_object(text, "metrics")); }

}  // namespace gpu_tune::search
