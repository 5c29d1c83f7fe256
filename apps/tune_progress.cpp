#include "apps/tune_progress.h"

#include <cmath>
#include <cstdio>

namespace gpu_tune::app {

std::string format_duration(double seconds) {
  const long total = std::lround(std::max(seconds, 0.0));
  char text[32];
  if (total >= 3600) std::snprintf(text, sizeof text, "%ldh%02ldm", total / 3600, (total % 3600) / 60);
  else if (total >= 60) std::snprintf(text, sizeof text, "%ldm%02lds", total / 60, total % 60);
  else std::snprintf(text, sizeof text, "%lds", total);
  return text;
}

std::string progress_summary(const search::StudyProgress& p, bool study_running) {
  std::string text = std::to_string(p.done()) + "/" + std::to_string(p.budget) + " done, " +
                     std::to_string(p.running) + " running, " + std::to_string(p.failed - p.interrupted) + " failed";
  if (p.pruned > 0) text += ", " + std::to_string(p.pruned) + " pruned";  // only studies with a pruner have any
  if (p.best_value) {
    char best[64];
    std::snprintf(best, sizeof best, ", best %.5g (trial %lld)", *p.best_value, static_cast<long long>(p.best_trial));
    text += best;
  }
  text += ", " + format_duration(p.elapsed_seconds) + " elapsed";
  const int64_t remaining = p.budget - p.done();
  if (study_running && p.done() > 0 && remaining > 0) text += ", ETA " + format_duration(p.elapsed_seconds / p.done() * remaining);
  return text;
}

void TuneProgress::update(const search::StudyProgress& progress, const std::string& event) {
  if (!live_) {
    out_ << "[tune] " << event << " | " << progress_summary(progress) << "\n";
    out_.flush();
    return;
  }
  // Clear the live line, print the event above it, redraw the line.
  out_ << "\r\033[2K" << event << "\n" << "[tune] " << progress_summary(progress);
  out_.flush();
  line_open_ = true;
}

void TuneProgress::close() {
  if (line_open_) out_ << "\n";
  line_open_ = false;
  out_.flush();
}

}  // namespace gpu_tune::app
