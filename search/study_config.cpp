#include "search/study_config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string_view>

namespace gpu_tune::search {
namespace {

using KeyList = std::vector<std::string_view>;

const KeyList kTopKeys = {"study",  "dataset", "data",    "objective", "budget", "sampler",
                          "pruner", "workers", "models", "training",  "space"};
const KeyList kWorkersKeys = {"heartbeat", "grace", "retry_interrupted"};
const KeyList kModelsKeys = {"keep"};
const KeyList kObjectiveKeys = {"metric", "direction"};
const KeyList kBudgetKeys = {"trials", "parallel", "time_limit", "target"};
// name, seed and grid_points, then every TPE option but the seed (tpe_options.h).
const KeyList& sampler_keys() {
  static const KeyList keys = [] {
    KeyList k = {"name", "seed", "grid_points"};
    for (const std::string& option : tpe_option_names())
      if (option != "seed") k.push_back(option);
    return k;
  }();
  return keys;
}
const KeyList kTrainingKeys = {"model", "activation", "init",    "optimizer", "lr",        "batch",
                               "beta1", "beta2",      "eps",     "wd",        "momentum",  "nesterov",
                               "dropout", "seed",     "epochs",  "patience",  "min_delta", "restore_best",
                               "schedule"};
const KeyList kMetrics = {"validation_loss", "validation_accuracy"};
const KeyList kSamplerNames = {"tpe", "random", "grid"};
const KeyList kPrunerNames = {"none", "median", "asha", "hyperband"};
const KeyList kPrunerKeys = {"name",         "startup_trials", "warmup_steps",     "interval_steps",
                             "min_trials",   "min_resource",   "max_resource",     "reduction_factor",
                             "min_early_stopping_rate", "bootstrap_count"};
const KeyList kOptionKeys = {"value", "parameters"};

constexpr DistributionKind kAllKinds[] = {
    DistributionKind::kUniform,   DistributionKind::kQUniform,   DistributionKind::kLogUniform,
    DistributionKind::kQLogUniform, DistributionKind::kNormal,   DistributionKind::kQNormal,
    DistributionKind::kLogNormal, DistributionKind::kQLogNormal, DistributionKind::kRandInt,
    DistributionKind::kUniformInt, DistributionKind::kChoice};

std::string joined(const KeyList& words) {
  std::string text;
  for (std::string_view word : words) text += (text.empty() ? "" : ", ") + std::string(word);
  return text;
}

bool listed(const KeyList& words, std::string_view word) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

// The keys a distribution takes besides "distribution" itself.
KeyList keys_of(DistributionKind kind) {
  Distribution d;
  d.kind = kind;
  const bool q = d.is_quantized();
  if (kind == DistributionKind::kChoice) return {"options"};
  if (d.is_bounded()) return q ? KeyList{"low", "high", "q"} : KeyList{"low", "high"};
  return q ? KeyList{"mu", "sigma", "q"} : KeyList{"mu", "sigma"};
}

// Where a value sits: its dotted key path and its 1-based line.
struct Where {
  std::string path;
  int line = 1;
};

std::string child_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// yaml-cpp marks an empty value at the next token, possibly lines later, so an empty value
// borrows its key's line.
int line_of(const YAML::Node& node, int fallback) {
  if (!node.IsDefined() || node.IsNull() || node.Mark().is_null()) return fallback;
  return node.Mark().line + 1;
}

struct Entry {
  std::string key;
  YAML::Node value;
  Where at;          // this key's path; the value's line, where a problem with the value is
  int key_line = 1;  // where a key missing from the value (a map) is reported
  Where key_at() const { return {at.path, key_line}; }
};

// Quoted scalars are strings in YAML, so "64" is not a number where a number is asked for.
bool is_quoted(const YAML::Node& node) { return node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str"; }

std::optional<int64_t> parse_integer(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty() || text.front() == '+') return std::nullopt;
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// YAML's core-schema reals: 1.5, 1e-4, -.5, .inf, .nan (not C's "inf" or hex floats).
std::optional<double> parse_real(std::string_view text) {
  bool negative = false;
  if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  if (text == ".inf" || text == ".Inf" || text == ".INF")
    return negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  if (text == ".nan" || text == ".NaN" || text == ".NAN") return std::numeric_limits<double>::quiet_NaN();
  if (text.empty() || text.front() == '+' || text.front() == '-' ||
      text.find_first_not_of("0123456789.eE+-") != std::string_view::npos)
    return std::nullopt;
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return negative ? -value : value;
}

std::optional<bool> parse_bool(std::string_view text) {
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  return std::nullopt;
}

// What a node is, for "expected X, got Y" messages.
std::string describe(const YAML::Node& node) {
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  return (is_quoted(node) ? "the quoted string \"" : "'") + node.Scalar() + (is_quoted(node) ? "\"" : "'");
}

std::string format_number(double value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

class Reader {
 public:
  explicit Reader(std::string source_name) : source_name_(std::move(source_name)) {}

  [[noreturn]] void fail(const Where& at, const std::string& problem) const {
    const std::string key = at.path.empty() ? "" : "key '" + at.path + "': ";
    throw StudyConfigError(source_name_ + ":" + std::to_string(at.line) + ": " + key + problem);
  }

  // A map's entries in file order. Every key must be a plain scalar, appear once, and (unless
  // `allowed` is null) be one of `allowed`.
  std::vector<Entry> entries(const YAML::Node& map, const Where& at, const KeyList* allowed) const {
    if (!map.IsMap()) fail(at, "expected a map of keys, got " + describe(map));
    std::vector<Entry> result;
    std::map<std::string, int> first_line;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const int key_line = line_of(it->first, at.line);
      if (!it->first.IsScalar()) fail({at.path, key_line}, "keys must be plain names, got " + describe(it->first));
      const std::string key = it->first.Scalar();
      const Where key_at{child_path(at.path, key), key_line};
      if (allowed && !listed(*allowed, key)) fail(key_at, "unknown key (expected one of: " + joined(*allowed) + ")");
      if (const auto [seen, inserted] = first_line.emplace(key, key_line); !inserted)
        fail(key_at, "appears twice (first at line " + std::to_string(seen->second) + ")");
      result.push_back({key, it->second, {key_at.path, line_of(it->second, key_line)}, key_line});
    }
    return result;
  }

  static const Entry* find(const std::vector<Entry>& entries, std::string_view key) {
    for (const Entry& entry : entries)
      if (entry.key == key) return &entry;
    return nullptr;
  }

  const Entry& require(const std::vector<Entry>& entries, std::string_view key, const Where& map_at) const {
    if (const Entry* entry = find(entries, key)) return *entry;
    fail({child_path(map_at.path, std::string(key)), map_at.line}, "missing (it is required)");
  }

  // A non-empty scalar, as written.
  std::string text(const Entry& entry) const {
    if (!entry.value.IsScalar() || entry.value.Scalar().empty())
      fail(entry.at, "expected a value, got " + describe(entry.value));
    return entry.value.Scalar();
  }

  int64_t integer(const Entry& entry) const {
    const std::optional<int64_t> value =
        entry.value.IsScalar() && !is_quoted(entry.value) ? parse_integer(entry.value.Scalar()) : std::nullopt;
    if (!value) fail(entry.at, "expected an integer, got " + describe(entry.value));
    return *value;
  }

  int integer_at_least(const Entry& entry, int minimum) const {
    const int64_t value = integer(entry);
    if (value < minimum) fail(entry.at, "must be at least " + std::to_string(minimum) + ", got " + std::to_string(value));
    if (value > INT_MAX) fail(entry.at, "is too large: " + std::to_string(value));
    return static_cast<int>(value);
  }

  double number(const Entry& entry) const {
    const std::optional<double> value =
        entry.value.IsScalar() && !is_quoted(entry.value) ? parse_real(entry.value.Scalar()) : std::nullopt;
    if (!value) fail(entry.at, "expected a number, got " + describe(entry.value));
    return *value;
  }

  bool boolean(const Entry& entry) const {
    const std::optional<bool> value =
        entry.value.IsScalar() && !is_quoted(entry.value) ? parse_bool(entry.value.Scalar()) : std::nullopt;
    if (!value) fail(entry.at, "expected true or false, got " + describe(entry.value));
    return *value;
  }

  // One of `words`, or an error listing them.
  std::string word(const Entry& entry, const KeyList& words, const std::string& what) const {
    const std::string value = text(entry);
    if (!listed(words, value)) fail(entry.at, "unknown " + what + " '" + value + "' (expected one of: " + joined(words) + ")");
    return value;
  }

 private:
  std::string source_name_;
};

// --- the search space ---------------------------------------------------------------------

class SpaceParser {
 public:
  explicit SpaceParser(const Reader& reader) : reader_(reader) {}

  std::vector<Parameter> parameters(const YAML::Node& map, const Where& at) {
    std::vector<Parameter> result;
    for (const Entry& entry : reader_.entries(map, at, nullptr)) {
      if (entry.key.empty()) reader_.fail(entry.at, "a parameter needs a name");
      // Names are unique across branches too: a trial's parameters are one flat map.
      if (const auto [seen, inserted] = defined_at_.emplace(entry.key, entry.at.line); !inserted)
        reader_.fail(entry.at, "parameter '" + entry.key + "' is already defined at line " + std::to_string(seen->second) +
                                   " (names must be unique across the whole space, branches included)");
      parameter_keys[entry.key] = entry.at.path;
      key_lines[entry.at.path] = entry.key_line;
      result.push_back({entry.key, distribution(entry)});
    }
    return result;
  }

  // Filled as parameters are read, for StudyConfig's fields of the same names.
  std::map<std::string, std::string> parameter_keys;  // name -> dotted key path
  std::map<std::string, int> key_lines;                // dotted key path -> line

 private:
  Distribution distribution(const Entry& parameter) {
    const std::vector<Entry> entries = reader_.entries(parameter.value, parameter.at, nullptr);
    const Entry& kind_entry = reader_.require(entries, "distribution", parameter.key_at());
    Distribution d;
    d.kind = kind_from(kind_entry);
    const KeyList allowed = keys_of(d.kind);
    for (const Entry& entry : entries)
      if (entry.key != "distribution" && !listed(allowed, entry.key))
        reader_.fail(entry.at, "unknown key for a " + std::string(distribution_kind_name(d.kind)) +
                                   " distribution (it takes: " + joined(allowed) + ")");
    auto required = [&](std::string_view key) -> const Entry& { return reader_.require(entries, key, parameter.key_at()); };

    if (d.kind == DistributionKind::kChoice) {
      d.options = options(required("options"));
    } else if (d.is_bounded()) {
      const Entry& low = required("low");
      const Entry& high = required("high");
      d.low = d.is_integer() ? static_cast<double>(reader_.integer(low)) : reader_.number(low);
      d.high = d.is_integer() ? static_cast<double>(reader_.integer(high)) : reader_.number(high);
      if (!std::isfinite(d.low)) reader_.fail(low.at, "must be finite");
      if (!std::isfinite(d.high)) reader_.fail(high.at, "must be finite");
      if (d.is_log()) {
        const std::string why = " (bounds of log distributions are real values such as 1e-4, not exponents)";
        if (d.low <= 0) reader_.fail(low.at, "must be positive, got " + format_number(d.low) + why);
        if (d.high <= 0) reader_.fail(high.at, "must be positive, got " + format_number(d.high) + why);
      }
      if (!(d.low < d.high))
        reader_.fail(low.at, "low (" + format_number(d.low) + ") must be below high (" + format_number(d.high) + ")");
    } else {
      d.mu = reader_.number(required("mu"));
      const Entry& sigma = required("sigma");
      d.sigma = reader_.number(sigma);
      if (!std::isfinite(d.mu)) reader_.fail(required("mu").at, "must be finite");
      if (!(d.sigma > 0 && std::isfinite(d.sigma)))
        reader_.fail(sigma.at, "must be positive and finite, got " + format_number(d.sigma));
    }
    if (d.is_quantized()) {
      const Entry& q = required("q");
      d.q = reader_.number(q);
      if (!(d.q > 0 && std::isfinite(d.q))) reader_.fail(q.at, "must be positive, got " + format_number(d.q));
    }
    // The checks above name the exact key; this catches anything the space adds later.
    try {
      d.validate();
    } catch (const std::invalid_argument& e) {
      reader_.fail(parameter.key_at(), e.what());
    }
    return d;
  }

  DistributionKind kind_from(const Entry& entry) const {
    const std::string name = reader_.text(entry);
    KeyList names;
    for (DistributionKind kind : kAllKinds) {
      if (distribution_kind_name(kind) == name) return kind;
      names.push_back(distribution_kind_name(kind));
    }
    reader_.fail(entry.at, "unknown distribution '" + name + "' (expected one of: " + joined(names) + ")");
  }

  std::vector<ChoiceOption> options(const Entry& entry) {
    if (!entry.value.IsSequence()) reader_.fail(entry.at, "expected a list of options, got " + describe(entry.value));
    if (entry.value.size() == 0) reader_.fail(entry.at, "a choice needs at least one option");
    std::vector<ChoiceOption> result;
    for (size_t i = 0; i < entry.value.size(); ++i) {
      const YAML::Node item = entry.value[i];
      const Where at{entry.at.path + "[" + std::to_string(i) + "]", line_of(item, entry.at.line)};
      ChoiceOption option;
      if (item.IsMap()) {
        const std::vector<Entry> entries = reader_.entries(item, at, &kOptionKeys);
        const Entry& value = reader_.require(entries, "value", at);
        option.value = scalar_value(value.value, value.at);
        if (const Entry* children = Reader::find(entries, "parameters")) option.children = parameters(children->value, children->at);
      } else {
        option.value = scalar_value(item, at);
      }
      for (const ChoiceOption& earlier : result)
        if (earlier.value == option.value) reader_.fail(at, "option '" + to_string(option.value) + "' appears twice");
      result.push_back(std::move(option));
    }
    return result;
  }

  // Plain scalars take their YAML type (int64, double, bool); anything else is a string.
  ParamValue scalar_value(const YAML::Node& node, const Where& at) const {
    if (!node.IsScalar())
      reader_.fail(at, "an option is a value or {value: ..., parameters: {...}}, got " + describe(node));
    const std::string& text = node.Scalar();
    if (is_quoted(node)) return text;
    if (const auto integer = parse_integer(text)) return *integer;
    if (const auto real = parse_real(text)) return *real;
    if (const auto flag = parse_bool(text)) return *flag;
    return text;
  }

  const Reader& reader_;
  std::map<std::string, int> defined_at_;
};

// --- the rest of the file ------------------------------------------------------------------


// Seconds as a number, or a number with one unit: 90s, 30m, 2h.
double time_limit(const Reader& reader, const Entry& entry) {
  const std::string problem = "expected seconds as a number or a duration such as 90s, 30m or 2h, got ";
  if (!entry.value.IsScalar()) reader.fail(entry.at, problem + describe(entry.value));
  std::string text = entry.value.Scalar();
  double unit = 1;
  if (!text.empty() && (text.back() == 's' || text.back() == 'm' || text.back() == 'h')) {
    unit = text.back() == 's' ? 1 : text.back() == 'm' ? 60 : 3600;
    text.pop_back();
  }
  const std::optional<double> amount = parse_real(text);
  if (!amount) reader.fail(entry.at, problem + describe(entry.value));
  const double seconds = *amount * unit;
  if (!(seconds > 0 && std::isfinite(seconds))) reader.fail(entry.at, "must be positive and finite, got " + describe(entry.value));
  return seconds;
}

void read_objective(const Reader& reader, const Entry& objective, StudyConfig& config) {
  const std::vector<Entry> entries = reader.entries(objective.value, objective.at, &kObjectiveKeys);
  config.key_lines[objective.at.path] = objective.key_line;
  for (const Entry& entry : entries) config.key_lines[entry.at.path] = entry.at.line;
  if (const Entry* metric = Reader::find(entries, "metric")) config.metric = reader.word(*metric, kMetrics, "metric");
  const bool is_loss = config.metric.ends_with("_loss");
  config.direction = is_loss ? Direction::kMinimize : Direction::kMaximize;
  if (const Entry* direction = Reader::find(entries, "direction"))
    config.direction = reader.word(*direction, {"minimize", "maximize"}, "direction") == "minimize" ? Direction::kMinimize
                                                                                                  : Direction::kMaximize;
}

void read_budget(const Reader& reader, const Entry& budget, BudgetConfig& config) {
  for (const Entry& entry : reader.entries(budget.value, budget.at, &kBudgetKeys)) {
    if (entry.key == "trials") {
      config.trials = reader.integer(entry);
      if (config.trials < 1) reader.fail(entry.at, "must be at least 1, got " + std::to_string(config.trials));
    } else if (entry.key == "parallel") {
      config.parallel = reader.integer_at_least(entry, 1);
    } else if (entry.key == "target") {
      config.target = reader.number(entry);
      if (!std::isfinite(*config.target)) reader.fail(entry.at, "must be a finite number");
    } else {
      config.time_limit_seconds = time_limit(reader, entry);
    }
  }
}

void read_sampler(const Reader& reader, const Entry& sampler, SamplerConfig& config) {
  for (const Entry& entry : reader.entries(sampler.value, sampler.at, &sampler_keys())) {
    if (entry.key == "name") {
      config.name = reader.word(entry, kSamplerNames, "sampler");
    } else if (entry.key == "seed") {
      const int64_t seed = reader.integer(entry);
      if (seed < 0) reader.fail(entry.at, "must not be negative, got " + std::to_string(seed));
      config.seed = static_cast<uint64_t>(seed);
    } else if (entry.key == "grid_points") {
      config.grid_points = reader.integer_at_least(entry, 1);
    } else {
      try {
        set_tpe_option(config.tpe, entry.key, reader.text(entry));
      } catch (const std::invalid_argument& e) {
        reader.fail(entry.at, e.what());
      }
    }
  }
}

// The settings each pruner takes besides its name.
KeyList pruner_settings(std::string_view name) {
  if (name == "median") return {"startup_trials", "warmup_steps", "interval_steps", "min_trials"};
  if (name == "asha") return {"min_resource", "reduction_factor", "min_early_stopping_rate", "bootstrap_count"};
  if (name == "hyperband") return {"min_resource", "max_resource", "reduction_factor", "bootstrap_count"};
  return {};
}

void read_pruner(const Reader& reader, const Entry& pruner, PrunerConfig& config) {
  const std::vector<Entry> entries = reader.entries(pruner.value, pruner.at, &kPrunerKeys);
  config.name = reader.word(reader.require(entries, "name", pruner.key_at()), kPrunerNames, "pruner");
  const KeyList settings = pruner_settings(config.name);
  const Entry* max_resource = nullptr;
  const Entry* bootstrap_count = nullptr;
  for (const Entry& entry : entries) {
    if (entry.key == "name") continue;
    // A setting of another pruner would be silently ignored, so it is an error too.
    if (!listed(settings, entry.key)) {
      reader.fail(entry.at, settings.empty() ? "the pruner 'none' takes no settings"
                                             : "not a setting of the " + config.name + " pruner (it takes: " +
                                                   joined(settings) + ")");
    }
    if (entry.key == "startup_trials") {
      config.startup_trials = reader.integer_at_least(entry, 0);
    } else if (entry.key == "warmup_steps") {
      config.warmup_steps = reader.integer_at_least(entry, 0);
    } else if (entry.key == "interval_steps") {
      config.interval_steps = reader.integer_at_least(entry, 1);
    } else if (entry.key == "min_trials") {
      config.min_trials = reader.integer_at_least(entry, 1);
    } else if (entry.key == "min_resource") {
      config.min_resource = reader.integer_at_least(entry, 1);
    } else if (entry.key == "max_resource") {
      max_resource = &entry;
      if (entry.value.IsScalar() && entry.value.Scalar() == "auto") {
        config.max_resource.reset();
      } else if (entry.value.IsScalar() && !is_quoted(entry.value) && parse_integer(entry.value.Scalar())) {
        config.max_resource = reader.integer_at_least(entry, 1);
      } else {
        reader.fail(entry.at, "expected an integer or auto, got " + describe(entry.value));
      }
    } else if (entry.key == "reduction_factor") {
      config.reduction_factor = reader.integer_at_least(entry, 2);
    } else if (entry.key == "min_early_stopping_rate") {
      config.min_early_stopping_rate = reader.integer_at_least(entry, 0);
    } else {
      bootstrap_count = &entry;
      config.bootstrap_count = reader.integer_at_least(entry, 0);
    }
  }
  if (config.max_resource && *config.max_resource < config.min_resource)
    reader.fail(max_resource->at, "must be at least min_resource (" + std::to_string(config.min_resource) + "), got " +
                                      std::to_string(*config.max_resource));
  if (config.name == "hyperband" && config.bootstrap_count > 0 && !config.max_resource)
    reader.fail(bootstrap_count->at, "needs max_resource set: with max_resource auto, trials that run before the first "
                                     "one completes keep no rung values");
}

void read_training(const Reader& reader, const Entry& training, StudyConfig& config) {
  config.key_lines[training.at.path] = training.key_line;
  for (const Entry& entry : reader.entries(training.value, training.at, &kTrainingKeys)) {
    if (!entry.value.IsScalar()) reader.fail(entry.at, "expected a single value, got " + describe(entry.value));
    config.training.emplace_back(entry.key, reader.text(entry));
    config.key_lines[entry.at.path] = entry.at.line;
  }
}

void read_workers(const Reader& reader, const Entry& workers, WorkersConfig& config) {
  for (const Entry& entry : reader.entries(workers.value, workers.at, &kWorkersKeys)) {
    if (entry.key == "heartbeat") {
      config.heartbeat_seconds = time_limit(reader, entry);
    } else if (entry.key == "grace") {
      config.grace_seconds = time_limit(reader, entry);
    } else {
      config.retry_interrupted = reader.integer_at_least(entry, 0);
    }
  }
  if (config.grace_seconds <= config.heartbeat_seconds)
    reader.fail(workers.at, "grace (" + std::to_string(config.grace_seconds) + " s) must be longer than heartbeat (" +
                                std::to_string(config.heartbeat_seconds) + " s), or live trials would be given up");
}

void read_models(const Reader& reader, const Entry& models, ModelsConfig& config) {
  for (const Entry& entry : reader.entries(models.value, models.at, &kModelsKeys)) {
    // keep: all | N
    if (entry.value.IsScalar() && !is_quoted(entry.value) && entry.value.Scalar() == "all") {
      config.keep.reset();
    } else if (entry.value.IsScalar() && !is_quoted(entry.value) && parse_integer(entry.value.Scalar())) {
      config.keep = reader.integer_at_least(entry, 0);
    } else {
      reader.fail(entry.at, "expected a number of models (0 for none) or all, got " + describe(entry.value));
    }
  }
}

StudyConfig read_document(const YAML::Node& root, const Reader& reader) {
  const Where top{"", 1};  // a key missing from the whole file is reported at its start
  if (!root.IsMap()) reader.fail(top, "a study file is a map of keys (study, space, ...), got " + describe(root));
  const std::vector<Entry> entries = reader.entries(root, top, &kTopKeys);
  StudyConfig config;

  const Entry& study = reader.require(entries, "study", top);
  config.name = reader.text(study);
  if (const std::optional<std::string> problem = study_name_problem(config.name)) reader.fail(study.at, *problem);
  if (const Entry* dataset = Reader::find(entries, "dataset")) config.dataset = reader.text(*dataset);
  if (const Entry* data = Reader::find(entries, "data")) config.data_dir = reader.text(*data);
  if (const Entry* objective = Reader::find(entries, "objective")) read_objective(reader, *objective, config);
  if (const Entry* budget = Reader::find(entries, "budget")) read_budget(reader, *budget, config.budget);
  if (const Entry* sampler = Reader::find(entries, "sampler")) read_sampler(reader, *sampler, config.sampler);
  if (const Entry* pruner = Reader::find(entries, "pruner")) read_pruner(reader, *pruner, config.pruner);
  if (const Entry* workers = Reader::find(entries, "workers")) read_workers(reader, *workers, config.workers);
  if (const Entry* models = Reader::find(entries, "models")) read_models(reader, *models, config.models);
  if (const Entry* training = Reader::find(entries, "training")) read_training(reader, *training, config);

  const Entry& space = reader.require(entries, "space", top);
  if (space.value.IsMap() && space.value.size() == 0) reader.fail(space.at, "the space needs at least one parameter");
  SpaceParser parser(reader);
  std::vector<Parameter> parameters = parser.parameters(space.value, space.at);
  config.key_lines.merge(parser.key_lines);
  config.key_lines[space.at.path] = space.key_line;
  config.parameter_keys = std::move(parser.parameter_keys);
  try {
    config.space = SearchSpace(std::move(parameters));
  } catch (const std::invalid_argument& e) {
    reader.fail(space.key_at(), e.what());
  }
  return config;
}

// Where the second YAML document of a stream starts, if it has one. yaml-cpp 0.7's LoadAll
// never returns on some malformed streams (one whose first line starts with ',', yaml-cpp
// issue 1040): its parser keeps reporting empty documents without consuming anything. So the
// study file's document comes from YAML::Load, and this asks the parser for at most two.
std::optional<YAML::Mark> second_document(const std::string& text) {
  // Records the first node of the document being parsed: where that document starts.
  struct FirstNode final : YAML::EventHandler {
    std::optional<YAML::Mark> mark;
    void OnDocumentStart(const YAML::Mark&) override {}
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& m, YAML::anchor_t) override { take(m); }
    void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { take(m); }
    void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override { take(m); }
    void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
      take(m);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
      take(m);
    }
    void OnMapEnd() override {}
    void take(const YAML::Mark& m) {
      if (!mark) mark = m;
    }
  };
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  FirstNode first, second;
  if (!parser.HandleNextDocument(first) || !parser.HandleNextDocument(second)) return std::nullopt;
  return second.mark.value_or(YAML::Mark::null_mark());
}

// Bytes a text file holds no place for: a control character other than tab, newline and
// carriage return, or a byte that is not UTF-8. Named by position, never echoed, so that a
// binary file given by mistake does not fill the terminal with garbage.
std::optional<std::string> not_text_problem(const std::string& text) {
  int line = 1;
  for (size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    auto problem = [&](const char* what) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", byte);
      return std::string(what) + " byte " + hex + " on line " + std::to_string(line);
    };
    if (byte == '\n') ++line;
    if (byte < 0x80) {
      if ((byte < 0x20 && byte != '\t' && byte != '\n' && byte != '\r') || byte == 0x7f) return problem("control");
      ++i;
      continue;
    }
    // A UTF-8 sequence: a lead byte saying how many continuation bytes (10xxxxxx) follow.
    const size_t continuation = (byte & 0xe0) == 0xc0 ? 1 : (byte & 0xf0) == 0xe0 ? 2 : (byte & 0xf8) == 0xf0 ? 3 : 0;
    if (continuation == 0 || byte == 0xc0 || byte == 0xc1 || byte > 0xf4) return problem("non-UTF-8");
    for (size_t k = 1; k <= continuation; ++k)
      if (i + k >= text.size() || (static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return problem("non-UTF-8");
    i += continuation + 1;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> study_name_problem(const std::string& name) {
  const bool allowed = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
  // The name is a folder under studies/ (studies/NAME/study.db): "." or ".." would leave it,
  // a leading '-' reads as a flag on a command line.
  if (allowed && name.front() != '.' && name.front() != '-') return std::nullopt;
  return "'" + name + "' is not a study name: use letters, digits, '_', '.' and '-', starting with a letter, digit or '_'";
}

StudyConfig parse_study_config(const std::string& text, const std::string& source_name) {
  if (const std::optional<std::string> problem = not_text_problem(text))
    throw StudyConfigError(source_name + ": not a text file (" + *problem + "); a study file is YAML text");
  auto error_at = [&](const YAML::Mark& mark, const std::string& problem) {
    const int line = mark.is_null() ? 1 : std::max(1, mark.line + 1);
    return StudyConfigError(source_name + ":" + std::to_string(line) + ": " + problem);
  };
  YAML::Node document;
  std::optional<YAML::Mark> second;
  try {
    document = YAML::Load(text);
    second = second_document(text);
  } catch (const YAML::Exception& e) {
    throw error_at(e.mark, "YAML syntax error: " + e.msg);
  }
  if (document.IsNull())
    throw StudyConfigError(source_name + ":1: the study file is empty (it needs at least 'study' and 'space')");
  if (second) throw error_at(*second, "a study file holds one YAML document, this one holds more");

  const Reader reader(source_name);
  StudyConfig config;
  try {
    config = read_document(document, reader);
  } catch (const YAML::Exception& e) {
    throw error_at(e.mark, "unreadable YAML: " + e.msg);
  }
  config.source_text = text;
  config.source_name = source_name;
  return config;
}

std::string StudyConfig::locate(const std::string& key_path) const {
  const auto line = key_lines.find(key_path);
  return source_name + ":" + std::to_string(line == key_lines.end() ? 1 : line->second) + ": key '" + key_path + "': ";
}

StudyConfig load_study_config(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::error_code error;
  if (!std::filesystem::exists(path, error)) throw StudyConfigError(name + ": cannot read the study file: no such file");
  if (std::filesystem::is_directory(path, error))
    throw StudyConfigError(name + ": cannot read the study file: it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw StudyConfigError(name + ": cannot open the study file: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw StudyConfigError(name + ": cannot read the study file: " + std::strerror(errno));
  return parse_study_config(text.str(), name);
}

std::string study_config_help() {
  return R"(A study file is one YAML map. Keys (only these; an unknown key is an error):
  study: NAME                 required; letters, digits, '_', '.', '-'
  dataset: fashion-mnist      optional
  data: DIR                   optional; where the dataset's files are
  objective: {metric: validation_loss | validation_accuracy, direction: minimize | maximize}
                              direction defaults to minimize for a loss, maximize for an accuracy
  budget: {trials: 64, parallel: 8, time_limit: 2h, target: 0.92}
                              time_limit: seconds, or a duration such as 90s, 30m, 2h
                              target: no new trial starts once the best value reaches it
                              (at or below for minimize, at or above for maximize)
  sampler: {name: tpe | random | grid, seed: 0, grid_points: 5, and TPE's settings:
            startup_trials: 10, ei_candidates: 8, multivariate: true,
            joint_max_running: 3, bandwidth_weighted_density: true,
            split: linear | sqrt, gamma: 0.15, gamma_cap: 25,
            weights: ei | optuna | uniform, bandwidth: neighbour | scott,
            min_bandwidth: 0, joint_min_bandwidth: 0.03, prior_weight: 1,
            consider_magic_clip: true,
            consider_endpoints: false, constant_liar: true}
  pruner: {name: none | median | asha | hyperband, ...}
                              stops poor trials after an epoch; off (none) by default
                              median: startup_trials 5, warmup_steps 0, interval_steps 1, min_trials 1
                              asha: min_resource 1, reduction_factor 4, min_early_stopping_rate 0,
                                    bootstrap_count 0
                              hyperband: min_resource 1, max_resource auto, reduction_factor 3,
                                         bootstrap_count 0
  workers: {heartbeat: 10s, grace: 60s, retry_interrupted: 0}
                              several gpu_tune processes on one study: a running trial's
                              heartbeat interval; a trial silent for longer than grace is
                              interrupted; run an interrupted trial's parameters again at
                              most retry_interrupted times
  models: {keep: 1}           the trained models kept as files in the study's folder (models/):
                              the best N trials' by the study's value, all, or 0 for none
                              (engine only; see `gpu_tune evaluate` and `gpu_tune predict`)
  training: {KEY: VALUE, ...} defaults for every trial; keys: model, activation, init, optimizer,
                              lr, schedule, batch, beta1, beta2, eps, wd, momentum, nesterov,
                              dropout, seed, epochs, patience, min_delta, restore_best
  space:                      required; NAME: {distribution: KIND, ...} per parameter
Distributions (hyperopt's names and meanings):
  uniform      low, high      real in [low, high]
  quniform     low, high, q   round(uniform / q) * q
  loguniform   low, high      exp(uniform(log low, log high)); low > 0
  qloguniform  low, high, q   round(loguniform / q) * q
  normal       mu, sigma      real, unbounded
  qnormal      mu, sigma, q   round(normal / q) * q
  lognormal    mu, sigma      exp(normal(mu, sigma)); mu and sigma in log space
  qlognormal   mu, sigma, q   round(lognormal / q) * q
  randint      low, high      integer in [low, high)
  uniformint   low, high      integer in [low, high]
  choice       options        a list of values; an option may be {value: V, parameters: {...}}
                              whose parameters exist only when that option is chosen
Bounds of loguniform and qloguniform are real values (low: 1.0e-4, high: 0.1),
NOT exponents as in hyperopt's hp.loguniform(label, log(1e-4), log(0.1)).
)";
}

}  // namespace gpu_tune::search
