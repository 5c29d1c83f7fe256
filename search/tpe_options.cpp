#include "search/tpe_options.h"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace gpu_tune::search {
namespace {

std::invalid_argument bad_value(std::string_view name, std::string_view value, std::string_view expected) {
  return std::invalid_argument("tpe option " + std::string(name) + ": '" + std::string(value) + "' is not " +
                               std::string(expected));
}

bool parse_bool(std::string_view name, std::string_view value) {
  if (value == "true") return true;
  if (value == "false") return false;
  throw bad_value(name, value, "true or false");
}

long long parse_integer(std::string_view name, std::string_view value) {
  long long result = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), result);
  if (error != std::errc() || end != value.data() + value.size()) throw bad_value(name, value, "an integer");
  return result;
}

double parse_real(std::string_view name, std::string_view value) {
  try {
    size_t used = 0;
    const double result = std::stod(std::string(value), &used);
    if (used == value.size()) return result;
  } catch (const std::exception&) {
  }
  throw bad_value(name, value, "a number");
}

}  // namespace

const std::vector<std::string>& tpe_option_names() {
  static const std::vector<std::string> names = {
      "seed",          "startup_trials", "ei_candidates",       "multivariate",   "joint_max_running",
      "prior_weight",  "consider_magic_clip", "consider_endpoints", "constant_liar", "split",
      "gamma",         "gamma_cap",      "weights",             "bandwidth",      "min_bandwidth",
      "joint_min_bandwidth", "bandwidth_weighted_density"};
  return names;
}

void set_tpe_option(TpeOptions& target, std::string_view name, std::string_view value) {
  TpeOptions options = target;  // target stays as it was when the value is refused
  if (name == "seed") {
    const long long seed = parse_integer(name, value);
    if (seed < 0) throw bad_value(name, value, "a non-negative integer");
    options.seed = static_cast<uint64_t>(seed);
  } else if (name == "startup_trials") {
    options.startup_trials = static_cast<int>(parse_integer(name, value));
  } else if (name == "ei_candidates") {
    options.ei_candidates = static_cast<int>(parse_integer(name, value));
  } else if (name == "multivariate") {
    options.multivariate = parse_bool(name, value);
  } else if (name == "joint_max_running") {
    options.joint_max_running = static_cast<int>(parse_integer(name, value));
  } else if (name == "prior_weight") {
    options.prior_weight = parse_real(name, value);
  } else if (name == "consider_magic_clip") {
    options.consider_magic_clip = parse_bool(name, value);
  } else if (name == "consider_endpoints") {
    options.consider_endpoints = parse_bool(name, value);
  } else if (name == "constant_liar") {
    options.constant_liar = parse_bool(name, value);
  } else if (name == "split") {
    if (value == "linear") options.split = TpeSplit::kLinear;
    else if (value == "sqrt") options.split = TpeSplit::kSqrt;
    else throw bad_value(name, value, "linear or sqrt");
  } else if (name == "gamma") {
    options.gamma = parse_real(name, value);
  } else if (name == "gamma_cap") {
    options.gamma_cap = static_cast<int>(parse_integer(name, value));
  } else if (name == "weights") {
    if (value == "optuna") options.weights = TpeWeights::kOptuna;
    else if (value == "uniform") options.weights = TpeWeights::kUniform;
    else if (value == "ei") options.weights = TpeWeights::kExpectedImprovement;
    else throw bad_value(name, value, "optuna, uniform or ei");
  } else if (name == "bandwidth") {
    if (value == "neighbour") options.bandwidth = TpeBandwidth::kNeighbour;
    else if (value == "scott") options.bandwidth = TpeBandwidth::kScott;
    else throw bad_value(name, value, "neighbour or scott");
  } else if (name == "min_bandwidth") {
    options.min_bandwidth = parse_real(name, value);
  } else if (name == "joint_min_bandwidth") {
    options.joint_min_bandwidth = parse_real(name, value);
  } else if (name == "bandwidth_weighted_density") {
    options.bandwidth_weighted_density = parse_bool(name, value);
  } else {
    std::string known;
    for (const std::string& n : tpe_option_names()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown tpe option '" + std::string(name) + "' (known: " + known + ")");
  }
  validate(options);
  target = options;
}

void validate(const TpeOptions& options) {
  if (options.startup_trials < 0)
    throw std::invalid_argument("tpe: startup_trials must not be negative, got " + std::to_string(options.startup_trials));
  if (options.joint_max_running < 0)
    throw std::invalid_argument("tpe: joint_max_running must not be negative, got " +
                                std::to_string(options.joint_max_running));
  if (options.ei_candidates < 1)
    throw std::invalid_argument("tpe: ei_candidates must be at least 1, got " + std::to_string(options.ei_candidates));
  if (!(options.prior_weight > 0) || !std::isfinite(options.prior_weight))
    throw std::invalid_argument("tpe: prior_weight must be a positive number, got " + std::to_string(options.prior_weight));
  if (!(options.gamma > 0) || !std::isfinite(options.gamma))
    throw std::invalid_argument("tpe: gamma must be a positive number, got " + std::to_string(options.gamma));
  if (options.gamma_cap < 0)
    throw std::invalid_argument("tpe: gamma_cap must not be negative, got " + std::to_string(options.gamma_cap));
  if (!(options.min_bandwidth >= 0 && options.min_bandwidth < 1))
    throw std::invalid_argument("tpe: min_bandwidth must be in [0, 1), got " + std::to_string(options.min_bandwidth));
  if (!(options.joint_min_bandwidth >= 0 && options.joint_min_bandwidth < 1))
    throw std::invalid_argument("tpe: joint_min_bandwidth must be in [0, 1), got " +
                                std::to_string(options.joint_min_bandwidth));
}

}  // namespace gpu_tune::search
