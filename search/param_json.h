#pragma once
// JSON forms of a trial's parameters and metrics, for storage and exports. Types survive a
// round trip: an int64 stays an integer, and a double stays a float even when it is integral
// (64.0 is written "64.0", never "64"), so a sampler reads back exactly what it proposed.
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "search/parameter_value.h"

namespace gpu_tune::search {

using MetricMap = std::map<std::string, double>;

// Throws std::invalid_argument for a non-finite double parameter (JSON has no such number,
// and writing it as a string would turn it into a different parameter type).
nlohmann::json params_to_json(const ParamMap& params);
// Throws std::invalid_argument, naming the parameter, for a value that is not an integer,
// float, bool or string, or an integer outside int64.
ParamMap params_from_json(const nlohmann::json& json);
std::string params_to_json_text(const ParamMap& params);
ParamMap params_from_json_text(std::string_view text);

// Metrics may be non-finite (a diverged loss is NaN): those are written as the strings
// "NaN", "Infinity" and "-Infinity" and read back as numbers; null reads as NaN.
nlohmann::json metrics_to_json(const MetricMap& metrics);
MetricMap metrics_from_json(const nlohmann::json& json);
std::string metrics_to_json_text(const MetricMap& metrics);
MetricMap metrics_from_json_text(std::string_view text);

}  // namespace gpu_tune::search
