#pragma once
// What happens in a study, as data: for programs that follow a study as it runs (gpu_tune
// tune --json prints one JSON object per event) without parsing log lines.
#include <cstdint>
#include <optional>
#include <string>

#include "search/parameter_value.h"
#include "search/trial.h"

namespace gpu_tune::search {

struct StudyEvent {
  enum class Kind {
    kTrialStarted,   // trial, device, slot, params
    kStep,           // trial, step, step_value: an epoch's intermediate value
    kTrialFinished,  // trial, state (complete, pruned or failed), value, detail (the error,
                     // or why it was pruned)
    kNote,           // detail: a line about the study (resumed, target reached, a device's
                     // slots shrunk, ...)
  };
  Kind kind = Kind::kNote;
  int64_t trial = -1;
  std::string device;
  int slot = -1;
  ParamMap params;
  int64_t step = -1;
  double step_value = 0;
  TrialState state = TrialState::kRunning;
  std::optional<double> value;
  std::string detail;
};

}  // namespace gpu_tune::search
