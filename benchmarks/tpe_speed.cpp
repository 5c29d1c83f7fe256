// Time of one TPE suggestion in a ten-parameter space (log, uniform, integer, stepped and
// categorical) with a long history of finished trials, in independent and multivariate
// mode. One JSON line per mode; medians, since the machines are shared and noisy.
#include <CLI/CLI.hpp>        // flags
#include <nlohmann/json.hpp>  // output lines

#include <algorithm>
#include <chrono>
#include <iostream>
#include <vector>

#include "benchmarks/statistics.h"
#include "benchmarks/test_functions.h"
#include "search/random_sampler.h"
#include "search/tpe_sampler.h"

using namespace gpu_tune;

namespace {

using benchmarks::quantile;

// Finished trials with prior-drawn parameters and random values: the TPE model sees the
// same amount of data as in a long study, which is what its cost depends on.
std::vector<search::TrialRecord> random_history(const search::SearchSpace& space, int trials, uint64_t seed) {
  search::RandomSampler random(seed);
  search::Rng values(seed, 0xfeedULL);
  std::vector<search::TrialRecord> history;
  for (int n = 0; n < trials; ++n) {
    search::TrialRecord t;
    t.number = n;
    t.state = search::TrialState::kComplete;
    t.params = random.sample(space, history, search::Direction::kMinimize, n);
    t.value = values.uniform();
    history.push_back(std::move(t));
  }
  return history;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"TPE suggestion time"};
  int trials = 1000, suggestions = 50;
  uint64_t seed = 1;
  app.add_option("--trials", trials, "finished trials in the history")->capture_default_str();
  app.add_option("--suggestions", suggestions, "timed suggestions per mode")->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const search::SearchSpace space = benchmarks::speed_space();
  const std::vector<search::TrialRecord> history = random_history(space, trials, seed);
  for (bool multivariate : {false, true}) {
    search::TpeOptions options;
    options.seed = seed;
    options.multivariate = multivariate;
    search::TpeSampler sampler(options);
    sampler.sample(space, history, search::Direction::kMinimize, trials);  // warm the caches
    std::vector<double> milliseconds;
    for (int i = 0; i < suggestions; ++i) {
      const auto start = std::chrono::steady_clock::now();
      const search::ParamMap params = sampler.sample(space, history, search::Direction::kMinimize, trials + i);
      const auto stop = std::chrono::steady_clock::now();
      if (!space.contains(params)) {
        std::cerr << "tpe_speed: a suggestion fell outside the space\n";
        return 1;
      }
      milliseconds.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
    }
    std::cout << nlohmann::json{{"impl", "gpu_tune"},
                                {"benchmark", "suggestion_time"},
                                {"mode", multivariate ? "multivariate" : "independent"},
                                {"trials", trials},
                                {"params", space.flat().size()},
                                {"suggestions", suggestions},
                                {"median_ms", quantile(milliseconds, 0.5)},
                                {"p10_ms", quantile(milliseconds, 0.1)},
                                {"p90_ms", quantile(milliseconds, 0.9)}}
                     .dump()
              << std::endl;
  }
  return 0;
}
