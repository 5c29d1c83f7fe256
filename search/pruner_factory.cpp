#include "search/pruner_factory.h"

#include <stdexcept>

#include "search/hyperband_pruner.h"
#include "search/median_pruner.h"
#include "search/successive_halving_pruner.h"

namespace gpu_tune::search {

std::unique_ptr<Pruner> make_pruner(const PrunerConfig& config) {
  if (config.name == "none") return nullptr;
  if (config.name == "median") {
    return std::make_unique<MedianPruner>(
        MedianPrunerOptions{config.startup_trials, config.warmup_steps, config.interval_steps, config.min_trials});
  }
  if (config.name == "asha") {
    return std::make_unique<SuccessiveHalvingPruner>(SuccessiveHalvingOptions{
        config.min_resource, config.reduction_factor.value_or(4), config.min_early_stopping_rate, config.bootstrap_count});
  }
  if (config.name == "hyperband") {
    HyperbandOptions options;
    options.min_resource = config.min_resource;
    if (config.max_resource) options.max_resource = *config.max_resource;
    options.reduction_factor = config.reduction_factor.value_or(3);
    options.bootstrap_count = config.bootstrap_count;
    return std::make_unique<HyperbandPruner>(options);
  }
  throw std::invalid_argument("unknown pruner '" + config.name + "' (known: none, median, asha, hyperband)");
}

}  // namespace gpu_tune::search
