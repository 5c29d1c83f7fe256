#pragma once
// Parses a slot's configuration from the command line: comma-separated KEY=VALUE pairs,
// e.g. "model=mlp_medium,lr=3e-4,batch=128,optimizer=adamw,wd=1e-4,dropout=0.2,seed=7".
#include <string>
#include <string_view>
#include <vector>

#include "engine/training_config.h"

namespace gpu_tune::app {

// Keys a slot spec accepts, with one line of help each.
const std::vector<std::pair<std::string, std::string>>& slot_spec_keys();

// Sets one key of a slot's configuration. Throws std::invalid_argument naming the key
// and the problem (unknown key, bad value); does not validate the whole config.
void apply_slot_setting(TrainingConfig& config, std::string_view key, std::string_view value);

// Values not given come from `defaults`. Throws std::invalid_argument naming the spec,
// the key and the problem (a key given twice is one); the result is validated.
TrainingConfig parse_slot_spec(std::string_view spec, const TrainingConfig& defaults);

}  // namespace gpu_tune::app
