#pragma once
// Where a command finds a study: --storage as given (a file, sqlite:///FILE or
// postgresql://...), or else the study's own folder, studies/NAME/study.db.
#include <optional>
#include <string>

#include "search/storage_url.h"

namespace gpu_tune::app {

// Throws std::invalid_argument naming --storage's value and the problem.
search::StorageLocation study_storage_location(const std::optional<std::string>& storage, const std::string& study_name);

}  // namespace gpu_tune::app
