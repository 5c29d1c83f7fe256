#include "search/random_sampler.h"

namespace gpu_tune::search {

ParamMap RandomSampler::sample(const SearchSpace& space, std::span<const TrialRecord> /*history*/,
                               Direction /*direction*/, int64_t trial_number) {
  Rng rng(seed_, static_cast<uint64_t>(trial_number));
  return assign_parameters(space, [&](const FlatParameter& parameter, int) { return sample_prior(parameter.distribution, rng); });
}

}  // namespace gpu_tune::search
