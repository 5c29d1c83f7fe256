#pragma once
// Keeps a study's trained models as files: every completed trial's, or only the best k by
// the study's value (the study file's `models: {keep: k}`). Files are
// FOLDER/STUDY-trial-N.gtm (engine/model_file.h), FOLDER normally `models` beside the
// study's database (study_models_folder); the study's name in it keeps apart the models of
// studies that share a database.
//
// The ranking is read from the folder each time (each file's header, once), not kept in
// memory only: a resumed study, and several gpu_tune processes on one study and folder,
// all keep the same best k. Two processes deciding at the same instant may leave k + 1
// files until the next decision removes the extra one. A file whose header cannot be read
// takes no part: it is neither counted nor deleted.
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/model_file.h"
#include "search/trial.h"

namespace gpu_tune::app {

// Where a study's models go: `models` beside its SQLite file, or studies/STUDY/models for
// a study kept in no local file (a database server).
std::filesystem::path study_models_folder(const std::optional<std::filesystem::path>& sqlite_file, const std::string& study);

class ModelKeeper {
 public:
  // keep: how many of the best to keep, at least 1; none: all of them.
  ModelKeeper(std::filesystem::path folder, std::string study, search::Direction direction, std::optional<int> keep);

  // Writes the model of a completed trial (origin.trial and origin.value rank it; its
  // origin.study is set to this keeper's) when it ranks among the best k, then deletes the
  // files that dropped out, only once the new one is whole. Returns the file written, or
  // none when the model did not rank. Safe to call from several threads. Throws
  // ModelFileError when the folder or the file cannot be written.
  std::optional<std::filesystem::path> offer(SavedModel model);

  const std::filesystem::path& folder() const { return folder_; }
  std::string file_name(int64_t trial) const;  // "STUDY-trial-N.gtm"

 private:
  struct Kept {
    int64_t trial = 0;
    double value = 0;
    std::filesystem::path path;
  };
  // This study's model files in the folder, with their values.
  std::vector<Kept> kept_files();
  // Better first: by value in the study's direction, NaN last, an earlier trial on ties.
  bool ranks_before(const Kept& a, const Kept& b) const;

  std::filesystem::path folder_;
  std::string study_;
  search::Direction direction_;
  std::optional<int> keep_;
  std::mutex mutex_;
  std::map<std::string, double> values_;  // file name -> value, read once per file
};

}  // namespace gpu_tune::app
