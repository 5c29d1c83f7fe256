// Search quality: the best value that TPE (independent and multivariate) and random
// sampling reach on standard test functions at a fixed budget, trial after trial, over
// many seeds. One JSON line per (function, sampler) with the median log10 regret.
#include <CLI/CLI.hpp>        // flags
#include <nlohmann/json.hpp>  // output lines

#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "benchmarks/statistics.h"
#include "benchmarks/test_functions.h"
#include "search/random_sampler.h"
#include "search/tpe_sampler.h"

using namespace gpu_tune;

namespace {

using benchmarks::quantile;

std::unique_ptr<search::Sampler> make_sampler(const std::string& name, uint64_t seed) {
  if (name == "random") return std::make_unique<search::RandomSampler>(seed);
  search::TpeOptions options;
  options.seed = seed;
  options.multivariate = name == "tpe-multivariate";
  if (name != "tpe" && !options.multivariate) throw std::invalid_argument("unknown sampler '" + name + "'");
  return std::make_unique<search::TpeSampler>(options);
}

// Sequential study of `budget` trials; the regret of its best value (floored, as some
// optima are reached exactly and log10(0) is no number).
double best_regret(search::Sampler& sampler, const benchmarks::TestFunction& function, int budget) {
  std::vector<search::TrialRecord> history;
  double best = INFINITY;
  for (int n = 0; n < budget; ++n) {
    search::TrialRecord t;
    t.number = n;
    t.state = search::TrialState::kComplete;
    t.params = sampler.sample(function.space, history, search::Direction::kMinimize, n);
    t.value = function.evaluate(t.params);
    best = std::min(best, *t.value);
    history.push_back(std::move(t));
  }
  return std::max(best - function.optimum, 1e-12);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"TPE search quality"};
  int seeds = 30, budget = 80;
  std::vector<std::string> samplers = {"tpe", "tpe-multivariate", "random"};
  std::vector<std::string> only;
  app.add_option("--seeds", seeds, "studies per function and sampler (seeds 1..N)")->capture_default_str();
  app.add_option("--budget", budget, "trials per study")->capture_default_str();
  app.add_option("--sampler", samplers, "tpe, tpe-multivariate, random")->delimiter(',');
  app.add_option("--function", only, "branin, hartmann6, rosenbrock4, mixed (default: all)")->delimiter(',');
  CLI11_PARSE(app, argc, argv);

  try {
    for (const benchmarks::TestFunction& function : benchmarks::quality_functions()) {
      if (!only.empty() && std::find(only.begin(), only.end(), function.name) == only.end()) continue;
      for (const std::string& name : samplers) {
        std::vector<double> log_regrets;
        for (int seed = 1; seed <= seeds; ++seed) {
          auto sampler = make_sampler(name, static_cast<uint64_t>(seed));
          log_regrets.push_back(std::log10(best_regret(*sampler, function, budget)));
        }
        std::cout << nlohmann::json{{"impl", "gpu_tune"},
                                    {"benchmark", "quality"},
                                    {"function", function.name},
                                    {"sampler", name},
                                    {"seeds", seeds},
                                    {"budget", budget},
                                    {"median_log10_regret", quantile(log_regrets, 0.5)},
                                    {"p25_log10_regret", quantile(log_regrets, 0.25)},
                                    {"p75_log10_regret", quantile(log_regrets, 0.75)}}
                         .dump()
                  << std::endl;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "tpe_quality: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
