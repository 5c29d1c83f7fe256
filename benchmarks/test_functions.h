#pragma once
// The search benchmarks' test functions and spaces, shared by tpe_quality and tpe_speed.
// optuna_tpe.py defines the same functions, spaces and optima for Optuna: change both.
#include <cmath>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

#include "search/space.h"

namespace gpu_tune::benchmarks {

struct TestFunction {
  std::string name;
  search::SearchSpace space;
  std::function<double(const search::ParamMap&)> evaluate;
  double optimum;  // the global minimum, for regret
};

using search::bounded;

inline search::Distribution choice_of(const std::vector<std::string>& names) {
  search::Distribution d;
  d.kind = search::DistributionKind::kChoice;
  for (const std::string& name : names) d.options.push_back({name, {}});
  return d;
}

inline search::SearchSpace box(const std::vector<std::string>& names, double low, double high) {
  std::vector<search::Parameter> parameters;
  for (const std::string& name : names) parameters.push_back({name, bounded(search::DistributionKind::kUniform, low, high)});
  return search::SearchSpace(parameters);
}

inline double real(const search::ParamMap& params, const std::string& name) { return search::to_double(params.at(name)); }

// Branin on [-5, 10] x [0, 15]; three global minima of 0.397887.
inline TestFunction branin() {
  search::SearchSpace space({{"x1", bounded(search::DistributionKind::kUniform, -5, 10)},
                             {"x2", bounded(search::DistributionKind::kUniform, 0, 15)}});
  auto f = [](const search::ParamMap& p) {
    const double pi = std::numbers::pi;
    const double x1 = real(p, "x1"), x2 = real(p, "x2");
    const double b = 5.1 / (4 * pi * pi), c = 5 / pi, t = 1 / (8 * pi);
    const double u = x2 - b * x1 * x1 + c * x1 - 6;
    return u * u + 10 * (1 - t) * std::cos(x1) + 10;
  };
  return {"branin", space, f, 0.39788735772973816};
}

// Hartmann6 on [0, 1]^6; global minimum -3.32237.
inline TestFunction hartmann6() {
  auto f = [](const search::ParamMap& p) {
    static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
    static const double a[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                   {0.05, 10, 17, 0.1, 8, 14},
                                   {3, 3.5, 1.7, 10, 17, 8},
                                   {17, 8, 0.05, 10, 0.1, 14}};
    static const double centre[4][6] = {{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
                                        {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
                                        {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
                                        {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};
    static const char* const kNames[6] = {"x1", "x2", "x3", "x4", "x5", "x6"};
    double sum = 0;
    for (int i = 0; i < 4; ++i) {
      double inner = 0;
      for (int j = 0; j < 6; ++j) {
        const double d = real(p, kNames[j]) - centre[i][j];
        inner += a[i][j] * d * d;
      }
      sum += alpha[i] * std::exp(-inner);
    }
    return -sum;
  };
  return {"hartmann6", box({"x1", "x2", "x3", "x4", "x5", "x6"}, 0, 1), f, -3.3223680114155147};
}

// Rosenbrock in 4 dimensions on [-2, 2]^4; minimum 0 at (1, 1, 1, 1).
inline TestFunction rosenbrock4() {
  auto f = [](const search::ParamMap& p) {
    const double x[4] = {real(p, "x1"), real(p, "x2"), real(p, "x3"), real(p, "x4")};
    double sum = 0;
    for (int i = 0; i < 3; ++i) sum += 100 * std::pow(x[i + 1] - x[i] * x[i], 2) + std::pow(1 - x[i], 2);
    return sum;
  };
  return {"rosenbrock4", box({"x1", "x2", "x3", "x4"}, -2, 2), f, 0.0};
}

// A tuning-like space: log, integer, stepped and categorical parameters; minimum 0 at
// lr 1e-3, layers 3, units 128, activation tanh, dropout 0.2.
inline TestFunction mixed() {
  search::SearchSpace space({{"lr", bounded(search::DistributionKind::kLogUniform, 1e-5, 1)},
                             {"layers", bounded(search::DistributionKind::kUniformInt, 1, 8)},
                             {"units", bounded(search::DistributionKind::kQUniform, 16, 512, 16)},
                             {"activation", choice_of({"relu", "tanh", "sigmoid", "elu"})},
                             {"dropout", bounded(search::DistributionKind::kUniform, 0, 0.8)}});
  auto f = [](const search::ParamMap& p) {
    const double lr_term = std::pow(std::log10(real(p, "lr")) + 3, 2);
    const double layers_term = 0.3 * std::pow(real(p, "layers") - 3, 2);
    const double units_term = std::pow((real(p, "units") - 128) / 128, 2);
    const std::string& activation = std::get<std::string>(p.at("activation"));
    const double activation_term = activation == "tanh" ? 0 : activation == "elu" ? 0.25 : activation == "relu" ? 0.5 : 1.0;
    const double dropout_term = 4 * std::pow(real(p, "dropout") - 0.2, 2);
    return lr_term + layers_term + units_term + activation_term + dropout_term;
  };
  return {"mixed", space, f, 0.0};
}

inline std::vector<TestFunction> quality_functions() { return {branin(), hartmann6(), rosenbrock4(), mixed()}; }

// The suggestion-time space: ten parameters of every common shape.
inline search::SearchSpace speed_space() {
  using search::DistributionKind;
  return search::SearchSpace({{"lr", bounded(DistributionKind::kLogUniform, 1e-5, 1e-1)},
                              {"weight_decay", bounded(DistributionKind::kLogUniform, 1e-6, 1e-2)},
                              {"dropout", bounded(DistributionKind::kUniform, 0, 0.5)},
                              {"momentum", bounded(DistributionKind::kUniform, 0.8, 0.99)},
                              {"warmup", bounded(DistributionKind::kUniform, 0, 0.2)},
                              {"layers", bounded(DistributionKind::kUniformInt, 1, 4)},
                              {"width", bounded(DistributionKind::kUniformInt, 16, 1024)},
                              {"batch", bounded(DistributionKind::kQUniform, 16, 256, 16)},
                              {"activation", choice_of({"relu", "tanh", "gelu", "elu"})},
                              {"optimizer", choice_of({"adam", "sgd", "rmsprop"})}});
}

}  // namespace gpu_tune::benchmarks
