#include "apps/study_location.h"

#include <stdexcept>

#include "apps/tune_command.h"  // default_storage_path

namespace gpu_tune::app {

search::StorageLocation study_storage_location(const std::optional<std::string>& storage, const std::string& study_name) {
  if (!storage) {
    search::StorageLocation location;
    location.sqlite_file = default_storage_path(study_name);
    return location;
  }
  try {
    return search::parse_storage_location(*storage);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("--storage: ") + e.what());
  }
}

}  // namespace gpu_tune::app
