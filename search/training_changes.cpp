#include "search/training_changes.h"

#include <stdexcept>

#include "search/keyed_changes.h"
#include "search/study_config.h"

namespace gpu_tune::search {

std::string training_changes(const TrainingDefaults& before, const TrainingDefaults& after) {
  return keyed_changes({before.begin(), before.end()}, {after.begin(), after.end()}, "");
}

std::optional<TrainingDefaults> stored_training_defaults(const std::string& stored_config_text) {
  if (stored_config_text.empty()) return std::nullopt;
  try {
    return parse_study_config(stored_config_text, "the stored study file").training;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace gpu_tune::search
