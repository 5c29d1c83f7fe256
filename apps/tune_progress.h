#pragma once
// The tune command's progress: on a terminal, one live line (trials done, running and
// failed; best so far; elapsed; ETA) with events printed above it; otherwise plain log
// lines, one per event.
#include <ostream>
#include <string>

#include "search/study_runner.h"

namespace gpu_tune::app {

std::string format_duration(double seconds);  // "1h02m", "3m05s", "12s"
// "3/10 done, 2 running, 0 failed, best ... , 1m05s elapsed, ETA 2m30s"; the ETA only while
// `study_running` (a study that has ended, budget spent or stopped, has none to give).
std::string progress_summary(const search::StudyProgress& progress, bool study_running = true);

class TuneProgress {
 public:
  TuneProgress(std::ostream& out, bool live) : out_(out), live_(live) {}
  void update(const search::StudyProgress& progress, const std::string& event);
  void close();  // ends the live line

 private:
  std::ostream& out_;
  bool live_;
  bool line_open_ = false;
};

}  // namespace gpu_tune::app
