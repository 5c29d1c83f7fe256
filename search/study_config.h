#pragma once
// The study file: one YAML document naming the study, its objective, budget, sampler,
// training defaults and search space. Parsing checks every key of every map, so a typo is
// an error with its file and line instead of a setting silently ignored.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "search/space.h"
#include "search/tpe_options.h"
#include "search/trial.h"

namespace gpu_tune::search {

// "FILE:LINE: key 'space.lr.low': problem" (or "FILE:LINE: YAML syntax error: ...").
class StudyConfigError : public std::runtime_error {
  using runtime_error::runtime_error;
};

struct SamplerConfig {
  std::string name = "tpe";  // tpe | random | grid
  uint64_t seed = 0;
  TpeOptions tpe;            // TPE's settings (its seed is the one above)
  int grid_points = 5;       // grid: values per plain continuous parameter
};

// The `pruner:` section; off unless named. Each pruner takes only its own keys.
struct PrunerConfig {
  std::string name = "none";  // none | median | asha | hyperband
  // median
  int startup_trials = 5;
  int warmup_steps = 0;
  int interval_steps = 1;
  int min_trials = 1;
  // asha and hyperband
  int min_resource = 1;
  std::optional<int> max_resource;      // hyperband; none: from the first complete trial ("auto")
  std::optional<int> reduction_factor;  // none: the pruner's own default (asha 4, hyperband 3)
  int min_early_stopping_rate = 0;      // asha
  int bootstrap_count = 0;
};

struct BudgetConfig {
  int64_t trials = 64;
  int parallel = 8;
  std::optional<double> time_limit_seconds;
  std::optional<double> target;  // no new trials start once the best value reaches it
};

// The `workers:` section: how workers sharing the study tell that one has stopped.
struct WorkersConfig {
  double heartbeat_seconds = 10;  // a running trial's heartbeat is refreshed this often
  double grace_seconds = 60;      // a trial whose heartbeat is older is given up as interrupted
  int retry_interrupted = 0;      // run such a trial's parameters again, at most this many times
};

// The `models:` section: which completed trials keep their trained model as a file.
struct ModelsConfig {
  std::optional<int> keep = 1;  // the best this many by the study's value (0: none); none: all (`keep: all`)
};

struct StudyConfig {
  std::string name;                        // required
  std::string dataset = "fashion-mnist";
  std::optional<std::string> data_dir;     // key "data"
  std::string metric = "validation_loss";  // validation_loss | validation_accuracy
  Direction direction = Direction::kMinimize;  // default: minimize for *_loss, maximize for *_accuracy
  BudgetConfig budget;
  SamplerConfig sampler;
  PrunerConfig pruner;
  WorkersConfig workers;
  ModelsConfig models;
  std::vector<std::pair<std::string, std::string>> training;  // training defaults as key -> scalar text, in file order
  SearchSpace space;
  std::string source_text;  // the whole file
  std::string source_name;  // file path or name used in errors

  // Where keys are, for checks made after parsing (e.g. that the engine accepts a training
  // value): dotted key path ("training.optimizer", "objective.direction", "space") -> line,
  // and each parameter's name -> its dotted key path ("width1" ->
  // "space.model.options[1].parameters.width1").
  std::map<std::string, int> key_lines;
  std::map<std::string, std::string> parameter_keys;
  // "FILE:LINE: key 'PATH': " for a key path (line 1 when unknown), so an error found later
  // reads like one found while parsing.
  std::string locate(const std::string& key_path) const;
};

// Why `name` cannot name a study, or none when it can. A study's name is a folder under
// studies/, so it is letters, digits, '_', '.' and '-', and starts with a letter, digit or '_'
// (never ".", ".." or a path).
std::optional<std::string> study_name_problem(const std::string& name);

// Parses a whole study file; throws StudyConfigError (never returns anything half-parsed).
// A file that is not text (control characters, bytes that are not UTF-8) is an error naming
// the first such byte's value and line, never echoing it.
StudyConfig parse_study_config(const std::string& text, const std::string& source_name);

// Reads and parses `path`; a missing or unreadable file is a StudyConfigError naming it.
StudyConfig load_study_config(const std::filesystem::path& path);

// A short text listing the keys and distributions, for --help.
std::string study_config_help();

}  // namespace gpu_tune::search
