#pragma once
// Makes the sampler a study file names: random, grid or tpe.
#include <memory>

#include "search/sampler.h"
#include "search/study_config.h"

namespace gpu_tune::search {

// Throws std::invalid_argument for an unknown name.
std::unique_ptr<Sampler> make_sampler(const SamplerConfig& config);

}  // namespace gpu_tune::search
