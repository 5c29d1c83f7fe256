#pragma once
// `gpu_tune tune --json`: one JSON object per line for each study event, so that programs
// can follow a study without parsing log lines. Every object has "event" and "progress"
// (done, running, failed, pruned, interrupted, budget, best_trial, best_value, elapsed):
//   trial_started   trial, device, slot, params
//   epoch           trial, step, value
//   trial_pruned    trial, value, reason
//   trial_finished  trial, state (complete or failed), value, error
//   note            text (a resume, a target reached, a device's slots shrunk, ...)
//   study_done      stopped_by (null, "SIGINT" or "SIGTERM"), resume (the command that goes
//                   on, when stopped)
#include <optional>
#include <string>

#include "search/study_event.h"
#include "search/study_progress.h"

namespace gpu_tune::app {

std::string study_event_json(const search::StudyEvent& event, const search::StudyProgress& progress);
std::string study_done_json(const search::StudyProgress& progress, const std::optional<std::string>& stopped_by,
                            const std::optional<std::string>& resume);

}  // namespace gpu_tune::app
