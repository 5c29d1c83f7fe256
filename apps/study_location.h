#pragma once
// Where a command finds a study: --storage as given (a file, sqlite:///FILE or
// postgresql://...), or else the study's own folder, studies/NAME/study.db; and a study
// opened for reading by the commands that read one (status, best, trials, export, report).
#include <CLI/CLI.hpp>  // the selector's options

#include <memory>
#include <optional>
#include <string>

#include "search/space.h"
#include "search/storage.h"
#include "search/storage_url.h"

namespace gpu_tune::app {

struct StudySelector {
  std::optional<std::string> study_file;  // the study's YAML: its name finds the database
  std::optional<std::string> study_name;  // --study NAME
  std::optional<std::string> storage;     // --storage FILE or URL
};

// The selector's options: STUDY.yaml, --study NAME, --storage FILE|URL.
void add_study_selector(CLI::App& command, StudySelector& selector);

struct OpenStudy {
  std::unique_ptr<search::Storage> storage;
  search::StudyInfo info;
  std::string where;  // the storage's file, or its URL without the password
};

// The selected study (the seed study's when none is named), opened read-only. Never creates
// or changes a database or a study: throws std::runtime_error naming the storage or the study when either is missing.
OpenStudy open_study(const StudySelector& selector);

// The study's search space: from the study file when one was named, else from the copy of
// it kept with the study. Throws std::runtime_error when neither can be read.
search::SearchSpace study_space(const OpenStudy& study, const StudySelector& selector);

// Throws std::invalid_argument naming --storage's value and the problem.
search::StorageLocation study_storage_location(const std::optional<std::string>& storage, const std::string& study_name);

}  // namespace gpu_tune::app
