// The study file: a full file parses into the expected settings and space; every kind of
// mistake is an error naming the file, the line and the key.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "search/study_config.h"

namespace gpu_tune::search {
namespace {

const char* const kFullStudy = R"(study: fashion_mnist_mlp
dataset: kmnist
data: /data/kmnist
objective: {metric: validation_loss, direction: minimize}
budget: {trials: 32, parallel: 4, time_limit: 2h, target: 0.25}
sampler: {name: random, seed: 7, startup_trials: 5, multivariate: true, ei_candidates: 48, grid_points: 3}
workers: {heartbeat: 5s, grace: 2m, retry_interrupted: 2}
training: {epochs: 50, patience: 3, optimizer: adam}
space:
  lr: {distribution: loguniform, low: 1.0e-4, high: 1.0e-1}
  batch: {distribution: choice, options: [32, 64, 128, 256]}
  model:
    distribution: choice
    options:
      - mlp_small
      - value: custom
        parameters:
          width1: {distribution: quniform, low: 64, high: 512, q: 32}
  dropout: {distribution: normal, mu: 0.1, sigma: 0.05}
)";

TEST(StudyConfig, FullFileGivesItsSettings) {
  const StudyConfig config = parse_study_config(kFullStudy, "full.yaml");
  EXPECT_EQ(config.name, "fashion_mnist_mlp");
  EXPECT_EQ(config.dataset, "kmnist");
  ASSERT_TRUE(config.data_dir.has_value());
  EXPECT_EQ(*config.data_dir, "/data/kmnist");
  EXPECT_EQ(config.metric, "validation_loss");
  EXPECT_EQ(config.direction, Direction::kMinimize);
  EXPECT_EQ(config.budget.trials, 32);
  EXPECT_EQ(config.budget.parallel, 4);
  ASSERT_TRUE(config.budget.time_limit_seconds.has_value());
  EXPECT_DOUBLE_EQ(*config.budget.time_limit_seconds, 2 * 3600.0);
  ASSERT_TRUE(config.budget.target.has_value());
  EXPECT_DOUBLE_EQ(*config.budget.target, 0.25);
  EXPECT_EQ(config.sampler.name, "random");
  EXPECT_EQ(config.sampler.seed, 7u);
  EXPECT_EQ(config.sampler.tpe.startup_trials, 5);
  EXPECT_TRUE(config.sampler.tpe.multivariate);
  EXPECT_EQ(config.sampler.tpe.ei_candidates, 48);
  EXPECT_EQ(config.sampler.grid_points, 3);
  EXPECT_DOUBLE_EQ(config.workers.heartbeat_seconds, 5.0);
  EXPECT_DOUBLE_EQ(config.workers.grace_seconds, 120.0);
  EXPECT_EQ(config.workers.retry_interrupted, 2);
  const std::vector<std::pair<std::string, std::string>> training = {{"epochs", "50"}, {"patience", "3"}, {"optimizer", "adam"}};
  EXPECT_EQ(config.training, training);
  EXPECT_EQ(config.source_text, kFullStudy);
  EXPECT_EQ(config.source_name, "full.yaml");
}

TEST(StudyConfig, FullFileGivesItsSpaceInFileOrder) {
  const SearchSpace space = parse_study_config(kFullStudy, "full.yaml").space;
  const std::vector<Parameter>& top = space.parameters();
  ASSERT_EQ(top.size(), 4u);
  EXPECT_EQ(top[0].name, "lr");
  EXPECT_EQ(top[1].name, "batch");
  EXPECT_EQ(top[2].name, "model");
  EXPECT_EQ(top[3].name, "dropout");

  const Distribution& lr = top[0].distribution;
  EXPECT_EQ(lr.kind, DistributionKind::kLogUniform);
  EXPECT_DOUBLE_EQ(lr.low, 1e-4);
  EXPECT_DOUBLE_EQ(lr.high, 1e-1);

  const Distribution& batch = top[1].distribution;
  ASSERT_EQ(batch.kind, DistributionKind::kChoice);
  const std::vector<int64_t> batches = {32, 64, 128, 256};
  ASSERT_EQ(batch.options.size(), batches.size());
  for (size_t i = 0; i < batches.size(); ++i) EXPECT_EQ(batch.options[i].value, ParamValue(batches[i]));

  const Distribution& model = top[2].distribution;
  ASSERT_EQ(model.options.size(), 2u);
  EXPECT_EQ(model.options[0].value, ParamValue(std::string("mlp_small")));
  EXPECT_TRUE(model.options[0].children.empty());
  EXPECT_EQ(model.options[1].value, ParamValue(std::string("custom")));
  ASSERT_EQ(model.options[1].children.size(), 1u);
  const Parameter& width = model.options[1].children[0];
  EXPECT_EQ(width.name, "width1");
  EXPECT_EQ(width.distribution.kind, DistributionKind::kQUniform);
  EXPECT_DOUBLE_EQ(width.distribution.low, 64);
  EXPECT_DOUBLE_EQ(width.distribution.high, 512);
  EXPECT_DOUBLE_EQ(width.distribution.q, 32);

  const Distribution& dropout = top[3].distribution;
  EXPECT_EQ(dropout.kind, DistributionKind::kNormal);
  EXPECT_DOUBLE_EQ(dropout.mu, 0.1);
  EXPECT_DOUBLE_EQ(dropout.sigma, 0.05);

  // width1 is conditional on model = custom.
  const int width_index = space.index_of("width1");
  ASSERT_GE(width_index, 0);
  EXPECT_EQ(space.flat()[width_index].parent, space.index_of("model"));
  EXPECT_EQ(space.flat()[width_index].parent_option, 1);
}

TEST(StudyConfig, OmittedKeysTakeTheirDefaults) {
  const StudyConfig config = parse_study_config("study: s\nspace: {x: {distribution: uniform, low: 0, high: 1}}\n", "min.yaml");
  const StudyConfig defaults;
  EXPECT_EQ(config.dataset, defaults.dataset);
  EXPECT_FALSE(config.data_dir.has_value());
  EXPECT_EQ(config.metric, "validation_loss");
  EXPECT_EQ(config.direction, Direction::kMinimize);
  EXPECT_EQ(config.budget.trials, defaults.budget.trials);
  EXPECT_EQ(config.budget.parallel, defaults.budget.parallel);
  EXPECT_FALSE(config.budget.time_limit_seconds.has_value());
  EXPECT_EQ(config.sampler.name, defaults.sampler.name);
  EXPECT_EQ(config.sampler.seed, defaults.sampler.seed);
  EXPECT_EQ(config.sampler.grid_points, defaults.sampler.grid_points);
  EXPECT_TRUE(config.training.empty());
}

TEST(StudyConfig, AccuracyIsMaximisedUnlessToldOtherwise) {
  const std::string space = "space: {x: {distribution: uniform, low: 0, high: 1}}\n";
  EXPECT_EQ(parse_study_config("study: s\nobjective: {metric: validation_accuracy}\n" + space, "a.yaml").direction,
            Direction::kMaximize);
  EXPECT_EQ(parse_study_config("study: s\nobjective: {metric: validation_accuracy, direction: minimize}\n" + space, "a.yaml")
                .direction,
            Direction::kMinimize);
}

TEST(StudyConfig, ModelsKeepTheBestOneUnlessToldOtherwise) {
  const std::string space = "space: {x: {distribution: uniform, low: 0, high: 1}}\n";
  EXPECT_EQ(parse_study_config("study: s\n" + space, "m.yaml").models.keep, std::optional<int>(1));
  EXPECT_EQ(parse_study_config("study: s\nmodels: {keep: 3}\n" + space, "m.yaml").models.keep, std::optional<int>(3));
  EXPECT_EQ(parse_study_config("study: s\nmodels: {keep: 0}\n" + space, "m.yaml").models.keep, std::optional<int>(0));
  EXPECT_EQ(parse_study_config("study: s\nmodels: {keep: all}\n" + space, "m.yaml").models.keep, std::nullopt);
}

TEST(StudyConfig, ChoiceOptionsKeepTheirYamlTypes) {
  const StudyConfig config = parse_study_config(
      "study: s\nspace: {x: {distribution: choice, options: [7, -2, 2.5, 1e-3, true, \"64\", relu]}}\n", "types.yaml");
  const std::vector<ChoiceOption>& options = config.space.parameters()[0].distribution.options;
  const std::vector<ParamValue> expected = {int64_t{7}, int64_t{-2}, 2.5, 1e-3, true, std::string("64"), std::string("relu")};
  ASSERT_EQ(options.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(options[i].value, expected[i]) << "option " << i;
}

TEST(StudyConfig, TimeLimitTakesSecondsOrAUnit) {
  const std::vector<std::pair<std::string, double>> cases = {{"90", 90}, {"90s", 90}, {"30m", 1800}, {"2h", 7200}, {"1.5h", 5400}};
  for (const auto& [text, seconds] : cases) {
    const StudyConfig config = parse_study_config(
        "study: s\nbudget: {time_limit: " + text + "}\nspace: {x: {distribution: uniform, low: 0, high: 1}}\n", "t.yaml");
    ASSERT_TRUE(config.budget.time_limit_seconds.has_value()) << text;
    EXPECT_DOUBLE_EQ(*config.budget.time_limit_seconds, seconds) << text;
  }
}

TEST(StudyConfig, PrunerIsOffUnlessNamed) {
  const std::string space = "space: {x: {distribution: uniform, low: 0, high: 1}}\n";
  EXPECT_EQ(parse_study_config("study: s\n" + space, "p.yaml").pruner.name, "none");
  EXPECT_EQ(parse_study_config("study: s\npruner: {name: none}\n" + space, "p.yaml").pruner.name, "none");
}

TEST(StudyConfig, PrunerSectionGivesItsSettings) {
  const std::string space = "space: {x: {distribution: uniform, low: 0, high: 1}}\n";
  const PrunerConfig median = parse_study_config(
      "study: s\npruner: {name: median, startup_trials: 3, warmup_steps: 2, interval_steps: 4, min_trials: 2}\n" + space,
      "p.yaml").pruner;
  EXPECT_EQ(median.name, "median");
  EXPECT_EQ(median.startup_trials, 3);
  EXPECT_EQ(median.warmup_steps, 2);
  EXPECT_EQ(median.interval_steps, 4);
  EXPECT_EQ(median.min_trials, 2);

  const PrunerConfig asha = parse_study_config(
      "study: s\npruner:\n  name: asha\n  min_resource: 2\n  reduction_factor: 3\n  min_early_stopping_rate: 1\n"
      "  bootstrap_count: 4\n" + space, "p.yaml").pruner;
  EXPECT_EQ(asha.name, "asha");
  EXPECT_EQ(asha.min_resource, 2);
  EXPECT_EQ(asha.reduction_factor, 3);
  EXPECT_EQ(asha.min_early_stopping_rate, 1);
  EXPECT_EQ(asha.bootstrap_count, 4);

  const PrunerConfig hyperband =
      parse_study_config("study: s\npruner: {name: hyperband, min_resource: 1, max_resource: 27}\n" + space, "p.yaml").pruner;
  EXPECT_EQ(hyperband.name, "hyperband");
  EXPECT_EQ(hyperband.max_resource, 27);
  EXPECT_FALSE(hyperband.reduction_factor.has_value());  // the pruner's own default
  const PrunerConfig automatic =
      parse_study_config("study: s\npruner: {name: hyperband, max_resource: auto}\n" + space, "p.yaml").pruner;
  EXPECT_FALSE(automatic.max_resource.has_value());
}

struct BadCase {
  const char* what;
  std::string text;  // the line the error must name is marked "# <-"
  std::string key;   // empty where the error is not about a key (YAML syntax)
  std::string problem;
};

int marked_line(const std::string& text) {
  int line = 1;
  for (size_t i = 0; i < text.find("# <-"); ++i) line += text[i] == '\n';
  return line;
}

const std::string kSpace = "space:\n  x: {distribution: uniform, low: 0, high: 1}\n";

std::vector<BadCase> bad_cases() {
  return {
      {"grace not longer than heartbeat", "study: s\nworkers: {heartbeat: 30s, grace: 20s}  # <-\n" + kSpace, "workers",
       "must be longer than heartbeat"},
      {"negative retries", "study: s\nworkers: {retry_interrupted: -1}  # <-\n" + kSpace, "workers.retry_interrupted",
       "at least 0"},
      {"models to keep negative", "study: s\nmodels: {keep: -1}  # <-\n" + kSpace, "models.keep", "at least 0"},
      {"models to keep not a number", "study: s\nmodels:\n  keep: best  # <-\n" + kSpace, "models.keep",
       "expected a number of models (0 for none) or all, got 'best'"},
      {"models to keep quoted", "study: s\nmodels: {keep: \"all\"}  # <-\n" + kSpace, "models.keep",
       "or all, got the quoted string"},
      {"unknown models key", "study: s\nmodels: {best: 2}  # <-\n" + kSpace, "models.best", "unknown key (expected one of: keep)"},
      {"unknown top-level key", "study: s\nstudy_name: t  # <-\n" + kSpace, "study_name", "unknown key"},
      {"unknown distribution key", "study: s\nspace:\n  lr: {distribution: uniform, low: 0, high: 1, lwo: 3}  # <-\n",
       "space.lr.lwo", "unknown key"},
      {"key of another distribution", "study: s\nspace:\n  lr:\n    distribution: uniform\n    low: 0\n    high: 1\n    q: 2  # <-\n",
       "space.lr.q", "unknown key"},
      {"trials not a number", "study: s\nbudget:\n  trials: many  # <-\n" + kSpace, "budget.trials", "expected an integer"},
      {"low a quoted string", "study: s\nspace:\n  lr:\n    distribution: uniform\n    low: \"abc\"  # <-\n    high: 1\n",
       "space.lr.low", "expected a number"},
      {"bool not a bool", "study: s\nsampler: {multivariate: maybe}  # <-\n" + kSpace, "sampler.multivariate", "true or false"},
      {"study missing", "# <-\ndataset: fashion-mnist\n" + kSpace, "study", "missing"},
      {"space missing", "study: s  # <-\nbudget: {trials: 4}\n", "space", "missing"},
      {"distribution missing", "study: s\nspace:\n  lr:  # <-\n    low: 0\n    high: 1\n", "space.lr.distribution", "missing"},
      {"bound missing", "study: s\nspace:\n  lr: {distribution: uniform, low: 0}  # <-\n", "space.lr.high", "missing"},
      {"low not below high", "study: s\nspace:\n  lr:\n    distribution: uniform\n    low: 2  # <-\n    high: 1\n",
       "space.lr.low", "must be below high"},
      {"log bound not positive", "study: s\nspace:\n  lr: {distribution: loguniform, low: -9.2, high: -2.3}  # <-\n",
       "space.lr.low", "not exponents"},
      {"empty choice", "study: s\nspace:\n  batch: {distribution: choice, options: []}  # <-\n", "space.batch.options",
       "at least one option"},
      {"choice option repeated", "study: s\nspace:\n  batch: {distribution: choice, options: [32, 32]}  # <-\n",
       "space.batch.options[1]", "appears twice"},
      {"q not positive", "study: s\nspace:\n  w: {distribution: quniform, low: 0, high: 8, q: 0}  # <-\n", "space.w.q",
       "must be positive"},
      {"sigma not positive", "study: s\nspace:\n  d: {distribution: normal, mu: 0, sigma: -1}  # <-\n", "space.d.sigma",
       "must be positive"},
      {"integer bound not an integer", "study: s\nspace:\n  n: {distribution: randint, low: 0, high: 4.5}  # <-\n",
       "space.n.high", "expected an integer"},
      {"unknown distribution", "study: s\nspace:\n  lr: {distribution: log_uniform, low: 0, high: 1}  # <-\n",
       "space.lr.distribution", "unknown distribution"},
      {"unknown sampler", "study: s\nsampler:\n  name: cmaes  # <-\n" + kSpace, "sampler.name", "unknown sampler"},
      {"unknown metric", "study: s\nobjective: {metric: test_accuracy}  # <-\n" + kSpace, "objective.metric", "unknown metric"},
      {"unknown direction", "study: s\nobjective: {direction: lower}  # <-\n" + kSpace, "objective.direction",
       "unknown direction"},
      {"parallel below 1", "study: s\nbudget: {parallel: 0}  # <-\n" + kSpace, "budget.parallel", "at least 1"},
      {"trials below 1", "study: s\nbudget: {trials: -3}  # <-\n" + kSpace, "budget.trials", "at least 1"},
      {"time limit unreadable", "study: s\nbudget: {time_limit: soon}  # <-\n" + kSpace, "budget.time_limit", "such as 90s"},
      {"time limit not positive", "study: s\nbudget: {time_limit: 0m}  # <-\n" + kSpace, "budget.time_limit", "positive"},
      {"target not a number", "study: s\nbudget: {target: high}  # <-\n" + kSpace, "budget.target", "expected a number"},
      {"target not finite", "study: s\nbudget: {target: .nan}  # <-\n" + kSpace, "budget.target", "finite"},
      {"bad study name", "study: my study  # <-\n" + kSpace, "study", "not a study name"},
      {"unknown training key", "study: s\ntraining:\n  epochs: 5\n  epoch: 5  # <-\n" + kSpace, "training.epoch", "unknown key"},
      {"training value not a scalar", "study: s\ntraining:\n  lr: [0.1, 0.01]  # <-\n" + kSpace, "training.lr",
       "single value"},
      {"key twice", "study: s\nstudy: t  # <-\n" + kSpace, "study", "appears twice"},
      {"empty space", "study: s\nspace: {}  # <-\n", "space", "at least one parameter"},
      {"nested parameter error",
       "study: s\nspace:\n  model:\n    distribution: choice\n    options:\n      - small\n      - value: custom\n"
       "        parameters:\n          width1: {distribution: quniform, low: 64, high: 512, q: -32}  # <-\n",
       "space.model.options[1].parameters.width1.q", "must be positive"},
      {"name repeated in a branch",
       "study: s\nspace:\n  lr: {distribution: uniform, low: 0, high: 1}\n  model:\n    distribution: choice\n"
       "    options:\n      - value: custom\n        parameters:\n          lr: {distribution: uniform, low: 0, high: 1}  # <-\n",
       "space.model.options[0].parameters.lr", "already defined at line 3"},
      {"YAML syntax error", "study: s\n  budget: 4  # <-\n" + kSpace, "", "YAML syntax error"},
      {"unknown pruner", "study: s\npruner:\n  name: percentile  # <-\n" + kSpace, "pruner.name", "unknown pruner"},
      {"pruner without a name", "study: s\npruner:  # <-\n  min_resource: 2\n" + kSpace, "pruner.name", "missing"},
      {"Optuna's spelling of a key", "study: s\npruner:\n  name: median\n  n_startup_trials: 3  # <-\n" + kSpace,
       "pruner.n_startup_trials", "unknown key"},
      {"another pruner's setting", "study: s\npruner:\n  name: asha\n  max_resource: 9  # <-\n" + kSpace,
       "pruner.max_resource", "not a setting of the asha pruner"},
      {"a setting for no pruner", "study: s\npruner:\n  name: none\n  warmup_steps: 2  # <-\n" + kSpace,
       "pruner.warmup_steps", "takes no settings"},
      {"reduction factor below 2", "study: s\npruner: {name: asha, reduction_factor: 1}  # <-\n" + kSpace,
       "pruner.reduction_factor", "at least 2"},
      {"interval of zero", "study: s\npruner: {name: median, interval_steps: 0}  # <-\n" + kSpace,
       "pruner.interval_steps", "at least 1"},
      {"negative warmup", "study: s\npruner: {name: median, warmup_steps: -1}  # <-\n" + kSpace, "pruner.warmup_steps",
       "at least 0"},
      {"min resource not an integer", "study: s\npruner: {name: hyperband, min_resource: 1.5}  # <-\n" + kSpace,
       "pruner.min_resource", "expected an integer"},
      {"max resource neither integer nor auto", "study: s\npruner:\n  name: hyperband\n  max_resource: all  # <-\n" + kSpace,
       "pruner.max_resource", "an integer or auto"},
      {"max resource below min resource",
       "study: s\npruner:\n  name: hyperband\n  max_resource: 2  # <-\n  min_resource: 3\n" + kSpace,
       "pruner.max_resource", "at least min_resource (3)"},
      {"bootstrap with an automatic max resource",
       "study: s\npruner:\n  name: hyperband\n  bootstrap_count: 2  # <-\n" + kSpace, "pruner.bootstrap_count",
       "needs max_resource"},
      {"pruner not a map", "study: s\npruner: median  # <-\n" + kSpace, "pruner", "expected a map"},
  };
}

TEST(StudyConfig, EveryMistakeNamesFileLineAndKey) {
  for (const BadCase& bad : bad_cases()) {
    SCOPED_TRACE(bad.what);
    try {
      parse_study_config(bad.text, "bad.yaml");
      ADD_FAILURE() << "no error for:\n" << bad.text;
    } catch (const StudyConfigError& e) {
      const std::string message = e.what();
      const std::string location = "bad.yaml:" + std::to_string(marked_line(bad.text)) + ": ";
      EXPECT_EQ(message.rfind(location, 0), 0u) << message;
      if (!bad.key.empty()) {
        EXPECT_NE(message.find("key '" + bad.key + "'"), std::string::npos) << message;
      }
      EXPECT_NE(message.find(bad.problem), std::string::npos) << message;
    }
  }
}

TEST(StudyConfig, EmptyOrNonMapFileIsAnError) {
  for (const std::string& text : {std::string(""), std::string("# nothing\n"), std::string("- a\n- b\n")}) {
    try {
      parse_study_config(text, "empty.yaml");
      ADD_FAILURE() << "no error for '" << text << "'";
    } catch (const StudyConfigError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("empty.yaml:1: ", 0), 0u) << e.what();
    }
  }
}

TEST(StudyConfig, MissingFileIsAnErrorNamingIt) {
  const std::filesystem::path missing = std::filesystem::temp_directory_path() / "no_such_study_config_file.yaml";
  try {
    load_study_config(missing);
    ADD_FAILURE() << "no error";
  } catch (const StudyConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
}

TEST(StudyConfig, LoadedFileErrorsNameThePath) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() / "study_config_test_bad.yaml";
  std::ofstream(path) << "study: s\n" << kSpace << "budget: {trials: lots}\n";
  try {
    load_study_config(path);
    ADD_FAILURE() << "no error";
  } catch (const StudyConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path.string() + ":4: key 'budget.trials'", 0), 0u) << e.what();
  }
  std::filesystem::remove(path);
}

TEST(StudyConfig, EveryExampleStudyParses) {
  const std::filesystem::path examples = std::filesystem::path(__FILE__).parent_path() / "../../examples";
  const std::pair<const char*, const char*> files[] = {
      {"fashion_mnist.yaml", "fashion_mnist"}, {"fashion_mnist_cpu.yaml", "fashion_mnist_cpu"},
      {"fashion_mnist_cnn.yaml", "fashion_mnist_cnn"}};
  for (const auto& [file, name] : files) {
    SCOPED_TRACE(file);
    EXPECT_EQ(load_study_config(examples / file).name, name);
  }
}

TEST(StudyConfig, ExampleStudyParses) {
  const std::filesystem::path path = std::filesystem::path(__FILE__).parent_path() / "../../examples/fashion_mnist.yaml";
  const StudyConfig config = load_study_config(path);
  EXPECT_EQ(config.name, "fashion_mnist");
  EXPECT_EQ(config.metric, "validation_loss");
  EXPECT_EQ(config.direction, Direction::kMinimize);
  EXPECT_EQ(config.budget.trials, 64);
  EXPECT_EQ(config.budget.parallel, 8);
  EXPECT_EQ(config.sampler.name, "tpe");
  EXPECT_EQ(config.sampler.seed, 0u);
  const std::vector<std::pair<std::string, std::string>> training = {{"epochs", "50"}, {"patience", "3"}, {"optimizer", "adam"}};
  EXPECT_EQ(config.training, training);

  const std::vector<Parameter>& space = config.space.parameters();
  ASSERT_EQ(space.size(), 3u);
  EXPECT_EQ(space[0].name, "lr");
  EXPECT_EQ(space[0].distribution.kind, DistributionKind::kLogUniform);
  EXPECT_DOUBLE_EQ(space[0].distribution.low, 1e-4);
  EXPECT_DOUBLE_EQ(space[0].distribution.high, 1e-1);
  EXPECT_EQ(space[1].name, "batch");
  ASSERT_EQ(space[1].distribution.options.size(), 4u);
  for (const ChoiceOption& option : space[1].distribution.options) EXPECT_TRUE(std::holds_alternative<int64_t>(option.value));
  EXPECT_EQ(space[2].name, "model");
  const std::vector<std::string> models = {"mlp_small", "mlp_medium", "mlp_large", "cnn_small", "cnn_medium", "cnn_large"};
  ASSERT_EQ(space[2].distribution.options.size(), models.size());
  for (size_t i = 0; i < models.size(); ++i) EXPECT_EQ(space[2].distribution.options[i].value, ParamValue(models[i]));
}

TEST(StudyConfig, HelpListsEveryDistributionAndTheLogWarning) {
  const std::string help = study_config_help();
  for (const char* kind : {"uniform", "quniform", "loguniform", "qloguniform", "normal", "qnormal", "lognormal", "qlognormal",
                           "randint", "uniformint", "choice"})
    EXPECT_NE(help.find(std::string("  ") + kind + " "), std::string::npos) << kind;
  EXPECT_NE(help.find("NOT exponents"), std::string::npos);
}

}  // namespace
}  // namespace gpu_tune::search
