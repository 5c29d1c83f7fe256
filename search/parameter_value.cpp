#include "search/parameter_value.h"

#include <sstream>
#include <stdexcept>

namespace gpu_tune::search {

std::string to_string(const ParamValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return v;
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          std::ostringstream text;
          text.precision(17);
          text << v;
          return text.str();
        } else {
          return std::to_string(v);
        }
      },
      value);
}

std::string to_display_string(const ParamValue& value) {
  if (const auto* d = std::get_if<double>(&value)) {
    std::ostringstream text;
    text.precision(6);
    text << *d;
    return text.str();
  }
  return to_string(value);
}

double to_double(const ParamValue& value) {
  if (const auto* i = std::get_if<int64_t>(&value)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&value)) return *d;
  if (const auto* b = std::get_if<bool>(&value)) return *b ? 1.0 : 0.0;
  throw std::invalid_argument("'" + std::get<std::string>(value) + "' is not a number");
}

}  // namespace gpu_tune::search
