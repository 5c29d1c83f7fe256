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
  std::function<double(const search::ParamMap&)> evaluate;  // the noise-free value
  double optimum;         // the global minimum of evaluate, for regret
  double noise_sd = 0;    // the sampler sees evaluate + N(0, noise_sd^2); regret uses evaluate
};

using search::bounded;

inline search::Distribution choice_of(const std::vector<std::string>& names) {
  search::Distribution d;
  d.kind = search::DistributionKind::kChoice;
  for (const std::string& name : names) d.options.push_back({name, {}});
  return d;
}

template <typename T>
search::Distribution choice_of_values(const std::vector<T>& values) {
  search::Distribution d;
  d.kind = search::DistributionKind::kChoice;
  for (const T& value : values) d.options.push_back({search::ParamValue(value), {}});
  return d;
}

// An integer on a log scale, as a tuning space writes a width: qloguniform with step 1
// (Optuna's suggest_int(log=True)).
inline search::Distribution log_integer(double low, double high) {
  return bounded(search::DistributionKind::kQLogUniform, low, high, 1);
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

// Ackley in 5 dimensions on [-32.768, 32.768]^5: a nearly flat outer region full of local
// minima around one deep global minimum of 0 at the origin.
inline TestFunction ackley5() {
  auto f = [](const search::ParamMap& p) {
    static const char* const kNames[5] = {"x1", "x2", "x3", "x4", "x5"};
    double squares = 0, cosines = 0;
    for (const char* name : kNames) {
      const double x = real(p, name);
      squares += x * x;
      cosines += std::cos(2 * std::numbers::pi * x);
    }
    return -20 * std::exp(-0.2 * std::sqrt(squares / 5)) - std::exp(cosines / 5) + 20 + std::numbers::e;
  };
  return {"ackley5", box({"x1", "x2", "x3", "x4", "x5"}, -32.768, 32.768), f, 0.0};
}

// A tuning-like space whose best learning rate depends on the optimizer (the interaction a
// one-parameter-at-a-time model cannot see), with an integer width on a log scale. Minimum
// 0 at adam, lr 1e-3, width 256, dropout 0.1.
inline TestFunction mixed_interaction() {
  search::SearchSpace space({{"lr", bounded(search::DistributionKind::kLogUniform, 1e-5, 1)},
                             {"width", log_integer(16, 1024)},
                             {"optimizer", choice_of({"sgd", "adam", "rmsprop"})},
                             {"dropout", bounded(search::DistributionKind::kUniform, 0, 0.5)}});
  auto f = [](const search::ParamMap& p) {
    const std::string& optimizer = std::get<std::string>(p.at("optimizer"));
    const double best_log_lr = optimizer == "sgd" ? -1.0 : optimizer == "adam" ? -3.0 : -3.5;
    const double penalty = optimizer == "sgd" ? 0.3 : optimizer == "adam" ? 0.0 : 0.1;
    return std::pow(std::log10(real(p, "lr")) - best_log_lr, 2) + penalty +
           0.1 * std::pow(std::log2(real(p, "width")) - 8, 2) + 4 * std::pow(real(p, "dropout") - 0.1, 2);
  };
  return {"mixed_interaction", space, f, 0.0};
}

// Integers and numeric choices only, with interactions: the best width grows with the depth
// and the best batch depends on the kernel. Minimum 0 at layers 4, width 256, batch 128,
// kernel 3.
inline TestFunction integers() {
  search::SearchSpace space({{"layers", bounded(search::DistributionKind::kUniformInt, 1, 8)},
                             {"width", log_integer(16, 1024)},
                             {"batch", choice_of_values<int64_t>({32, 64, 128, 256})},
                             {"kernel", choice_of_values<int64_t>({3, 5, 7})}});
  auto f = [](const search::ParamMap& p) {
    const double layers = real(p, "layers");
    const double kernel = real(p, "kernel");
    const double best_log_batch = kernel == 3 ? 7 : 6;
    const double kernel_penalty = kernel == 3 ? 0 : kernel == 5 ? 0.1 : 0.3;
    return 0.25 * std::pow(layers - 4, 2) + 0.2 * std::pow(std::log2(real(p, "width")) - 6 - 0.5 * layers, 2) +
           0.3 * std::pow(std::log2(real(p, "batch")) - best_log_batch, 2) + kernel_penalty;
  };
  return {"integers", space, f, 0.0};
}

// A conditional space: each optimizer has parameters of its own, active only when it is
// chosen. Minimum 0 at adam, adam_lr 1e-3, beta1 0.9, dropout 0.1; sgd's best is 0.2.
inline TestFunction conditional() {
  using search::DistributionKind;
  search::Distribution optimizer = choice_of({"sgd", "adam"});
  optimizer.options[0].children = {{"sgd_lr", bounded(DistributionKind::kLogUniform, 1e-4, 1)},
                                   {"momentum", bounded(DistributionKind::kUniform, 0, 0.99)}};
  optimizer.options[1].children = {{"adam_lr", bounded(DistributionKind::kLogUniform, 1e-5, 1e-1)},
                                   {"beta1", bounded(DistributionKind::kUniform, 0.5, 0.999)}};
  search::SearchSpace space({{"optimizer", optimizer}, {"dropout", bounded(DistributionKind::kUniform, 0, 0.5)}});
  auto f = [](const search::ParamMap& p) {
    const double dropout_term = 4 * std::pow(real(p, "dropout") - 0.1, 2);
    if (std::get<std::string>(p.at("optimizer")) == "sgd")
      return 0.2 + std::pow(std::log10(real(p, "sgd_lr")) + 1, 2) + 10 * std::pow(real(p, "momentum") - 0.9, 2) + dropout_term;
    return std::pow(std::log10(real(p, "adam_lr")) + 3, 2) + 10 * std::pow(real(p, "beta1") - 0.9, 2) + dropout_term;
  };
  return {"conditional", space, f, 0.0};
}

// Hartmann6 observed through Gaussian noise of standard deviation 0.1 (about 3% of its
// range); regret is the noise-free value of the trial the sampler saw as best.
inline TestFunction noisy_hartmann6() {
  TestFunction f = hartmann6();
  f.name = "noisy_hartmann6";
  f.noise_sd = 0.1;
  return f;
}

inline std::vector<TestFunction> quality_functions() {
  return {branin(), hartmann6(), rosenbrock4(), ackley5(), mixed(), mixed_interaction(), integers(), conditional(),
          noisy_hartmann6()};
}

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
