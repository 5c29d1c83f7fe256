#include "apps/tune_events.h"

#include <nlohmann/json.hpp>  // event lines

#include <cmath>

#include "search/param_json.h"

namespace gpu_tune::app {
namespace {

using nlohmann::json;

json number(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }
json optional_number(const std::optional<double>& x) { return x ? number(*x) : json(nullptr); }

json progress_json(const search::StudyProgress& p) {
  return {{"done", p.done()},
          {"running", p.running},
          {"complete", p.complete},
          {"pruned", p.pruned},
          {"failed", p.failed - p.interrupted},
          {"interrupted", p.interrupted},
          {"budget", p.budget},
          {"best_trial", p.best_value ? json(p.best_trial) : json(nullptr)},
          {"best_value", optional_number(p.best_value)},
          {"elapsed", p.elapsed_seconds}};
}

}  // namespace

std::string study_event_json(const search::StudyEvent& event, const search::StudyProgress& progress) {
  using Kind = search::StudyEvent::Kind;
  json line;
  switch (event.kind) {
    case Kind::kTrialStarted:
      line = {{"event", "trial_started"},
              {"trial", event.trial},
              {"device", event.device},
              {"slot", event.slot},
              {"params", search::params_to_json(event.params)}};
      break;
    case Kind::kStep:
      line = {{"event", "epoch"}, {"trial", event.trial}, {"step", event.step}, {"value", number(event.step_value)}};
      break;
    case Kind::kTrialFinished:
      if (event.state == search::TrialState::kPruned) {
        line = {{"event", "trial_pruned"}, {"trial", event.trial}, {"value", optional_number(event.value)},
                {"reason", event.detail}};
      } else {
        line = {{"event", "trial_finished"},
                {"trial", event.trial},
                {"state", search::trial_state_name(event.state)},
                {"value", optional_number(event.value)},
                {"error", event.detail}};
      }
      break;
    case Kind::kNote:
      line = {{"event", "note"}, {"text", event.detail}};
      break;
  }
  line["progress"] = progress_json(progress);
  return line.dump();
}

std::string study_done_json(const search::StudyProgress& progress, const std::optional<std::string>& stopped_by,
                            const std::optional<std::string>& resume) {
  json line = {{"event", "study_done"},
               {"stopped_by", stopped_by ? json(*stopped_by) : json(nullptr)},
               {"resume", resume ? json(*resume) : json(nullptr)},
               {"progress", progress_json(progress)}};
  return line.dump();
}

}  // namespace gpu_tune::app
