#pragma once
// A hyperparameter's value as the user sees it: choices are values, never indices.
#include <cstdint>
#include <map>
#include <string>
#include <variant>

namespace gpu_tune::search {

using ParamValue = std::variant<int64_t, double, std::string, bool>;

// Parameters of one trial, by name; only the parameters active in that trial appear.
using ParamMap = std::map<std::string, ParamValue>;

// Exact: a double round-trips (17 significant digits). For arguments and storage.
std::string to_string(const ParamValue& value);
// Short, for people: doubles with 6 significant digits.
std::string to_display_string(const ParamValue& value);
// The value as a double (bool as 0/1); throws std::invalid_argument for a string.
double to_double(const ParamValue& value);

}  // namespace gpu_tune::search
