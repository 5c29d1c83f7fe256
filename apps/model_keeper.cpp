#include "apps/model_keeper.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <system_error>

namespace gpu_tune::app {

namespace {
constexpr std::string_view kTrialInfix = "-trial-";
constexpr std::string_view kExtension = ".gtm";
}  // namespace

std::filesystem::path study_models_folder(const std::optional<std::filesystem::path>& sqlite_file, const std::string& study) {
  if (sqlite_file) return sqlite_file->parent_path() / "models";
  return std::filesystem::path("studies") / study / "models";
}

ModelKeeper::ModelKeeper(std::filesystem::path folder, std::string study, search::Direction direction, std::optional<int> keep)
    : folder_(std::move(folder)), study_(std::move(study)), direction_(direction), keep_(keep) {
  if (keep_ && *keep_ < 1)
    throw std::invalid_argument("a model keeper keeps at least 1 model, got " + std::to_string(*keep_) +
                                " (keep none by not making one)");
}

std::string ModelKeeper::file_name(int64_t trial) const {
  return study_ + std::string(kTrialInfix) + std::to_string(trial) + std::string(kExtension);
}

bool ModelKeeper::ranks_before(const Kept& a, const Kept& b) const {
  const bool a_nan = std::isnan(a.value), b_nan = std::isnan(b.value);
  if (a_nan != b_nan) return b_nan;
  if (!a_nan && a.value != b.value)
    return direction_ == search::Direction::kMinimize ? a.value < b.value : a.value > b.value;
  return a.trial < b.trial;
}

std::vector<ModelKeeper::Kept> ModelKeeper::kept_files() {
  std::vector<Kept> kept;
  std::map<std::string, double> seen;
  const std::string prefix = study_ + std::string(kTrialInfix);
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(folder_, error)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix) || !name.ends_with(kExtension)) continue;
    // Another study's name may start with this one's ("fm" and "fm-trial-x"): the rest
    // must be a trial number.
    const std::string_view digits =
        std::string_view(name).substr(prefix.size(), name.size() - prefix.size() - kExtension.size());
    int64_t trial = 0;
    const auto [end, parse_error] = std::from_chars(digits.data(), digits.data() + digits.size(), trial);
    if (digits.empty() || parse_error != std::errc() || end != digits.data() + digits.size()) continue;
    double value = 0;
    if (const auto cached = values_.find(name); cached != values_.end()) {
      value = cached->second;
    } else {
      try {
        value = read_model_header(entry.path()).origin.value;
      } catch (const ModelFileError&) {
        continue;  // not a model this keeper can rank (see the header)
      }
    }
    seen[name] = value;
    kept.push_back({trial, value, entry.path()});
  }
  values_ = std::move(seen);  // forget the files that are gone
  return kept;
}

std::optional<std::filesystem::path> ModelKeeper::offer(SavedModel model) {
  const std::lock_guard<std::mutex> lock(mutex_);
  model.origin.study = study_;
  const std::filesystem::path path = folder_ / file_name(model.origin.trial);
  std::error_code error;
  std::filesystem::create_directories(folder_, error);
  if (error) throw ModelFileError(folder_.string() + ": cannot create the models folder: " + error.message());
  if (!keep_) {
    write_model_file(path, model);
    return path;
  }
  std::vector<Kept> ranking = kept_files();
  std::erase_if(ranking, [&](const Kept& k) { return k.trial == model.origin.trial; });  // rewritten below if it ranks
  const Kept offered{model.origin.trial, model.origin.value, path};
  ranking.push_back(offered);
  std::sort(ranking.begin(), ranking.end(), [this](const Kept& a, const Kept& b) { return ranks_before(a, b); });
  const size_t keep = static_cast<size_t>(*keep_);
  const auto position = std::find_if(ranking.begin(), ranking.end(), [&](const Kept& k) { return k.path == path; });
  if (static_cast<size_t>(position - ranking.begin()) >= keep) return std::nullopt;
  write_model_file(path, model);
  values_[path.filename().string()] = offered.value;
  // Only now that the new model is whole do the ones it pushed out go.
  for (size_t i = keep; i < ranking.size(); ++i) {
    std::filesystem::remove(ranking[i].path, error);
    values_.erase(ranking[i].path.filename().string());
  }
  return path;
}

}  // namespace gpu_tune::app
