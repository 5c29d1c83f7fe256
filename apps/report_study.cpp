#include "apps/report_study.h"

#include <stdexcept>

#include "apps/study_location.h"

namespace gpu_tune::app {

ReportStudy load_report_study(const StudySelector& selector) {
  const OpenStudy opened = open_study(selector);
  ReportStudy study;
  study.info = opened.info;
  study.trials = opened.storage->trials(opened.info.id);
  // A report is still worth having without the space (its axes are then guessed from the
  // values), so a space that cannot be read is a note in the report, not an error.
  try {
    study.space = study_space(opened, selector);
  } catch (const std::exception& e) {
    study.space_note = std::string("its space could not be read: ") + e.what();
  }
  return study;
}

}  // namespace gpu_tune::app
