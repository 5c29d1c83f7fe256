#pragma once
// A study read back for `gpu_tune report`: its record, its trials and, where it can be
// known, its search space (from the study file named, else from the copy of that file kept
// with the study).
#include <optional>
#include <string>
#include <vector>

#include "apps/study_location.h"
#include "search/space.h"
#include "search/storage.h"
#include "search/trial.h"

namespace gpu_tune::app {

struct ReportStudy {
  search::StudyInfo info;
  std::vector<search::TrialRecord> trials;
  std::optional<search::SearchSpace> space;
  std::string space_note;  // why `space` is empty, when it is
};

// Throws std::runtime_error naming the database or study when either is missing.
ReportStudy load_report_study(const StudySelector& selector);

}  // namespace gpu_tune::app
