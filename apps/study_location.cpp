#include "apps/study_location.h"

#include <filesystem>
#include <stdexcept>

#include "apps/seed_study.h"
#include "apps/tune_command.h"  // default_storage_path
#include "search/study_config.h"

namespace gpu_tune::app {

search::StorageLocation study_storage_location(const std::optional<std::string>& storage, const std::string& study_name) {
  if (!storage) {
    search::StorageLocation location;
    location.sqlite_file = default_storage_path(study_name);
    return location;
  }
  try {
    return search::parse_storage_location(*storage);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("--storage: ") + e.what());
  }
}

void add_study_selector(CLI::App& command, StudySelector& selector) {
  command.add_option_function<std::string>(
      "study", [&selector](const std::string& f) { selector.study_file = f; }, "the study file (YAML); default: the seed study");
  command.add_option_function<std::string>(
      "--study", [&selector](const std::string& n) { selector.study_name = n; }, "the study's name");
  command.add_option_function<std::string>(
      "--storage", [&selector](const std::string& s) { selector.storage = s; }, "where the study is kept: a SQLite file or sqlite:///FILE (default studies/STUDY/study.db), or postgresql://USER@HOST:PORT/DB");
}


OpenStudy open_study(const StudySelector& selector) {
  std::string name;
  if (selector.study_name) {
    name = *selector.study_name;
  } else if (selector.study_file) {
    name = search::load_study_config(*selector.study_file).name;
  } else {
    name = search::parse_study_config(kSeedStudyYaml, kSeedStudyName).name;
  }
  OpenStudy study;
  const search::StorageLocation location = study_storage_location(selector.storage, name);
  study.where = location.description();
  // Reading must not create: a mistyped path would otherwise leave an empty database behind.
  if (location.is_sqlite() && !std::filesystem::exists(location.sqlite_file))
    throw std::runtime_error("no study database at " + study.where + " (run gpu_tune tune first, or pass --storage)");
  // Read-only: a study the user may not write (an archived folder, another user's) still reads,
  // and reading never changes the file.
  study.storage = search::open_storage(location, search::StorageAccess::kReadOnly);
  std::optional<search::StudyInfo> info = study.storage->find_study(name);
  if (!info && selector.storage && !selector.study_name && !selector.study_file) {
    throw std::runtime_error(study.where + " holds no study named '" + name + "'; pass --study NAME");
  }
  if (!info) throw std::runtime_error(study.where + " holds no study named '" + name + "'");
  study.info = *info;
  return study;
}

search::SearchSpace study_space(const OpenStudy& study, const StudySelector& selector) {
  if (selector.study_file) return search::load_study_config(*selector.study_file).space;
  if (study.info.config.empty())
    throw std::runtime_error("study '" + study.info.name + "' keeps no study file to read its space from; pass the study file");
  return search::parse_study_config(study.info.config, study.where + " (study '" + study.info.name + "')").space;
}

}  // namespace gpu_tune::app
