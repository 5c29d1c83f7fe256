#pragma once
// Makes the pruner a study file names: median, asha or hyperband; none for "none".
#include <memory>

#include "search/pruner.h"
#include "search/study_config.h"

namespace gpu_tune::search {

// Null for "none". Throws std::invalid_argument for an unknown name or a bad setting.
std::unique_ptr<Pruner> make_pruner(const PrunerConfig& config);

}  // namespace gpu_tune::search
