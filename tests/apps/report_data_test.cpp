#include "apps/report_data.h"

#include <gtest/gtest.h>

#include <cmath>

namespace gpu_tune::app {
namespace {

using search::DistributionKind;

search::SearchSpace test_space() {
  search::Distribution optimizer = search::choice(
      {{std::string("sgd"), {{"momentum", search::bounded(DistributionKind::kUniform, 0, 0.99)}}}, {std::string("adam"), {}}});
  return search::SearchSpace({{"lr", search::bounded(DistributionKind::kLogUniform, 1e-4, 1e-1)},
                              {"seed", search::bounded(DistributionKind::kRandInt, 0, 5)},
                              {"width", search::bounded(DistributionKind::kQLogUniform, 16, 1024, 1)},
                              {"scale", search::unbounded(DistributionKind::kLogNormal, 0, 1)},
                              {"batch", search::choice({{int64_t{32}, {}}, {int64_t{64}, {}}})},
                              {"optimizer", optimizer}});
}

search::StudyInfo test_study() {
  search::StudyInfo study;
  study.name = "study <one>";
  study.metric = "validation_loss";
  return study;
}

search::TrialRecord trial(int64_t number, search::TrialState state, std::optional<double> value) {
  search::TrialRecord t;
  t.number = number;
  t.state = state;
  t.value = value;
  t.params = {{"lr", 1e-3}, {"seed", int64_t{2}}, {"width", int64_t{64}}, {"scale", 1.5},
              {"batch", int64_t{64}}, {"optimizer", std::string("adam")}};
  t.started_at = 1000;
  t.finished_at = search::is_finished(state) ? 1012.5 : 0;
  return t;
}

const nlohmann::json& parameter(const nlohmann::json& data, const std::string& name) {
  for (const nlohmann::json& p : data.at("parameters"))
    if (p.at("name") == name) return p;
  throw std::runtime_error("no parameter " + name);
}

TEST(ReportData, AxesFollowTheSpaceAsOptunaMapsIt) {
  const search::SearchSpace space = test_space();
  const nlohmann::json data = report_data(test_study(), &space, "", {});
  ASSERT_EQ(data.at("parameters").size(), 7u);
  EXPECT_EQ(parameter(data, "lr").at("scale"), "log");
  EXPECT_EQ(parameter(data, "lr").at("low"), 1e-4);
  EXPECT_EQ(parameter(data, "lr").at("high"), 1e-1);
  EXPECT_EQ(parameter(data, "lr").at("distribution"), "loguniform(0.0001, 0.1)");
  EXPECT_EQ(parameter(data, "seed").at("scale"), "linear");
  EXPECT_EQ(parameter(data, "seed").at("integer"), true);
  EXPECT_EQ(parameter(data, "seed").at("high"), 4);  // randint's high is exclusive
  EXPECT_EQ(parameter(data, "width").at("scale"), "log");
  EXPECT_EQ(parameter(data, "width").at("integer"), true);
  EXPECT_EQ(parameter(data, "scale").at("scale"), "log");  // unbounded: no bounds, still a log axis
  EXPECT_TRUE(parameter(data, "scale").at("low").is_null());
  EXPECT_EQ(parameter(data, "batch").at("scale"), "categorical");
  EXPECT_EQ(parameter(data, "batch").at("choices"), nlohmann::json({"32", "64"}));
  EXPECT_EQ(parameter(data, "optimizer").at("choices"), nlohmann::json({"sgd", "adam"}));
  EXPECT_EQ(parameter(data, "momentum").at("scale"), "linear");
  EXPECT_EQ(data.at("study").at("name"), "study <one>");
  EXPECT_EQ(data.at("study").at("direction"), "minimize");
  EXPECT_TRUE(data.at("best").is_null());
}

TEST(ReportData, TrialsCarryAxisValuesStepsDurationsAndTheBest) {
  const search::SearchSpace space = test_space();
  search::TrialRecord best = trial(0, search::TrialState::kComplete, 0.25);
  best.steps = {{1, 0.5, {}}, {2, NAN, {}}};
  best.metrics = {{"test_accuracy", 0.875}};
  search::TrialRecord worse = trial(1, search::TrialState::kComplete, 0.5);
  search::TrialRecord diverged = trial(2, search::TrialState::kFailed, std::nullopt);
  diverged.error = "diverged </script>";
  search::TrialRecord running = trial(3, search::TrialState::kRunning, std::nullopt);
  const nlohmann::json data = report_data(test_study(), &space, "", {best, worse, diverged, running});

  const nlohmann::json& first = data.at("trials").at(0);
  EXPECT_EQ(first.at("params").at("lr"), 1e-3);
  EXPECT_EQ(first.at("params").at("seed"), 2);
  EXPECT_EQ(first.at("params").at("batch"), "64");  // a choice's label, as its axis names it
  EXPECT_EQ(first.at("steps"), nlohmann::json::parse("[[1, 0.5], [2, null]]"));
  EXPECT_EQ(first.at("duration"), 12.5);
  EXPECT_EQ(data.at("trials").at(2).at("state"), "failed");
  EXPECT_TRUE(data.at("trials").at(2).at("value").is_null());
  EXPECT_EQ(data.at("trials").at(2).at("error"), "diverged </script>");
  EXPECT_TRUE(data.at("trials").at(3).at("duration").is_null());  // still running

  EXPECT_EQ(data.at("progress").at("complete"), 2);
  EXPECT_EQ(data.at("progress").at("failed"), 1);
  EXPECT_EQ(data.at("progress").at("running"), 1);
  EXPECT_EQ(data.at("best").at("number"), 0);
  EXPECT_EQ(data.at("best").at("value"), 0.25);
  EXPECT_EQ(data.at("best").at("test_accuracy"), 0.875);
  EXPECT_EQ(data.at("best").at("params").at("lr"), "0.001");
  EXPECT_EQ(data.at("importance").at("trials"), 2);
  EXPECT_EQ(data.at("importance").at("parameters").size(), 7u);
}

TEST(ReportData, WithoutASpaceAxesAreGuessedFromTheValues) {
  search::TrialRecord t = trial(0, search::TrialState::kComplete, 1);
  t.params = {{"lr", 1e-3}, {"layers", int64_t{3}}, {"model", std::string("cnn")}, {"flag", true}};
  const nlohmann::json data = report_data(test_study(), nullptr, "no study file", {t});
  EXPECT_EQ(data.at("space_note"), "no study file");
  EXPECT_EQ(parameter(data, "lr").at("scale"), "linear");
  EXPECT_EQ(parameter(data, "lr").at("integer"), false);
  EXPECT_EQ(parameter(data, "layers").at("integer"), true);
  EXPECT_EQ(parameter(data, "model").at("scale"), "categorical");
  EXPECT_EQ(parameter(data, "model").at("choices"), nlohmann::json({"cnn"}));
  EXPECT_EQ(parameter(data, "flag").at("scale"), "categorical");
  EXPECT_EQ(data.at("trials").at(0).at("params").at("flag"), "true");
}

}  // namespace
}  // namespace gpu_tune::app
