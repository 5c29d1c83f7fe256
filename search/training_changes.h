#pragma once
// Whether a study file's training defaults still are those its study began with. Every
// trial of a study is trained with them, so a resume under other defaults (another epoch
// budget, optimizer or schedule) would rank trials trained two ways against each other, and
// the sampler would learn from both as if they were one problem.
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gpu_tune::search {

using TrainingDefaults = std::vector<std::pair<std::string, std::string>>;  // key -> scalar text

// What changed from `before` to `after`, one clause per key: "'epochs' changed from 10 to
// 20", "'schedule' added (cosine)", "'patience' removed (was 2)", joined by "; ". Order does
// not matter; empty when they agree.
std::string training_changes(const TrainingDefaults& before, const TrainingDefaults& after);

// The training defaults of the study file a study stored when it began (StudyInfo::config),
// or nothing when that text is not a study file this version reads (then nothing can be
// compared, and a resume goes on as before).
std::optional<TrainingDefaults> stored_training_defaults(const std::string& stored_config_text);

}  // namespace gpu_tune::search
