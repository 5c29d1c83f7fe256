// Search quality: the best value that TPE and random sampling reach on the test functions
// at a fixed budget, over many seeds, one trial at a time or with several in flight. One
// JSON line per (function, sampler, trials in flight) with every seed's log10 regret, so
// that the summary can put bootstrap intervals around the medians.
#include <CLI/CLI.hpp>        // flags
#include <nlohmann/json.hpp>  // output lines

#include <algorithm>
#include <cmath>
#include <deque>
#include <iostream>
#include <limits>
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

// Regrets below this count as the optimum found (optuna_tpe.py uses the same floor): on
// discrete spaces the optimum is often hit exactly, and log10(0) is no number.
constexpr double kRegretFloor = 1e-6;

// tpe: the default options (a joint model, one parameter at a time with more than
// joint_max_running trials running); tpe-independent: one parameter at a time always;
// tpe-multivariate: the joint model always (as Optuna's multivariate TPE); random.
// `settings` (KEY=VALUE, as in a study file's sampler section)
// change the TPE options further, for experiments.
std::unique_ptr<search::Sampler> make_sampler(const std::string& name, uint64_t seed,
                                              const std::vector<std::string>& settings) {
  if (name == "random") return std::make_unique<search::RandomSampler>(seed);
  search::TpeOptions options;
  if (name == "tpe-multivariate") {
    options.multivariate = true;
    options.joint_max_running = std::numeric_limits<int>::max();
  } else if (name == "tpe-independent") {
    options.multivariate = false;
  } else if (name != "tpe") {
    throw std::invalid_argument("unknown sampler '" + name + "' (known: tpe, tpe-independent, tpe-multivariate, random)");
  }
  for (const std::string& setting : settings) {
    const size_t equals = setting.find('=');
    if (equals == std::string::npos) throw std::invalid_argument("--tpe '" + setting + "': expected KEY=VALUE");
    search::set_tpe_option(options, setting.substr(0, equals), setting.substr(equals + 1));
  }
  options.seed = seed;
  return std::make_unique<search::TpeSampler>(options);
}

// A study of `budget` trials with up to `in_flight` of them running at once: trials are
// asked until that many run, then the oldest finishes (its value becomes visible) and the
// next is asked. in_flight 1 is a sequential study. Returns the regret of the trial seen as
// best (its noise-free value), floored at kRegretFloor.
double best_regret(search::Sampler& sampler, const benchmarks::TestFunction& function, int budget, int in_flight,
                   uint64_t seed) {
  std::vector<search::TrialRecord> history;
  std::vector<double> true_values;
  std::deque<size_t> running;
  search::Rng noise(seed, 0x6e6f697365ULL);
  double best_seen = INFINITY, best_true = INFINITY;
  int asked = 0;
  while (asked < budget || !running.empty()) {
    while (asked < budget && static_cast<int>(running.size()) < in_flight) {
      search::TrialRecord t;
      t.number = asked;
      t.state = search::TrialState::kRunning;
      t.params = sampler.sample(function.space, history, search::Direction::kMinimize, asked);
      true_values.push_back(function.evaluate(t.params));
      running.push_back(history.size());
      history.push_back(std::move(t));
      ++asked;
    }
    const size_t done = running.front();
    running.pop_front();
    const double seen = true_values[done] + function.noise_sd * noise.normal();
    history[done].state = search::TrialState::kComplete;
    history[done].value = seen;
    if (seen < best_seen) best_seen = seen, best_true = true_values[done];
  }
  return std::max(best_true - function.optimum, kRegretFloor);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"TPE search quality"};
  int seeds = 20, budget = 100, first_seed = 1;
  std::vector<int> in_flight = {1};
  std::vector<std::string> samplers = {"tpe", "tpe-independent", "tpe-multivariate", "random"};
  std::vector<std::string> only, settings;
  std::string label;
  app.add_option("--seeds", seeds, "studies per function and sampler")->capture_default_str();
  app.add_option("--first-seed", first_seed, "the first of the seeds (choose defaults on other seeds than you report)")
      ->capture_default_str();
  app.add_option("--budget", budget, "trials per study")->capture_default_str();
  app.add_option("--in-flight", in_flight, "trials running at once (1: sequential); several runs, e.g. 1,8")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app.add_option("--sampler", samplers, "tpe, tpe-independent, tpe-multivariate, random")->delimiter(',');
  app.add_option("--function", only, "test functions (default: all)")->delimiter(',');
  app.add_option("--tpe", settings, "TPE option KEY=VALUE for every TPE sampler (repeatable)");
  app.add_option("--label", label, "implementation label in the output (default gpu_tune)");
  CLI11_PARSE(app, argc, argv);

  try {
    for (const benchmarks::TestFunction& function : benchmarks::quality_functions()) {
      if (!only.empty() && std::find(only.begin(), only.end(), function.name) == only.end()) continue;
      for (const int flight : in_flight) {
        for (const std::string& name : samplers) {
          if (name == "random" && flight > 1) continue;  // in flight or not, random draws the same
          std::vector<double> log_regrets;
          for (int seed = first_seed; seed < first_seed + seeds; ++seed) {
            auto sampler = make_sampler(name, static_cast<uint64_t>(seed), settings);
            log_regrets.push_back(std::log10(best_regret(*sampler, function, budget, flight, static_cast<uint64_t>(seed))));
          }
          std::cout << nlohmann::json{{"impl", label.empty() ? "gpu_tune" : label},
                                      {"benchmark", "quality"},
                                      {"function", function.name},
                                      {"sampler", name},
                                      {"in_flight", flight},
                                      {"seeds", seeds},
                                      {"budget", budget},
                                      {"median_log10_regret", quantile(log_regrets, 0.5)},
                                      {"log10_regrets", log_regrets}}
                           .dump()
                    << std::endl;
        }
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "tpe_quality: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
