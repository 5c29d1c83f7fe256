#include "search/sampler_factory.h"

#include <stdexcept>

#include "search/grid_sampler.h"
#include "search/random_sampler.h"
#include "search/tpe_sampler.h"

namespace gpu_tune::search {

std::unique_ptr<Sampler> make_sampler(const SamplerConfig& config) {
  if (config.name == "random") return std::make_unique<RandomSampler>(config.seed);
  if (config.name == "grid") return std::make_unique<GridSampler>(config.seed, config.grid_points);
  if (config.name == "tpe") {
    TpeOptions options = config.tpe;
    options.seed = config.seed;
    return std::make_unique<TpeSampler>(options);
  }
  throw std::invalid_argument("unknown sampler '" + config.name + "' (known: tpe, random, grid)");
}

}  // namespace gpu_tune::search
