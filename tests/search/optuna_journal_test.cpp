// The Optuna journal export's mapping of distributions (the whole file is checked against
// Optuna itself by tests/apps/optuna_journal_check.py).
#include <gtest/gtest.h>

#include <sstream>
#include <stdexcept>
#include <string>

#include "search/optuna_journal.h"

namespace gpu_tune::search {
namespace {

TEST(OptunaJournal, DistributionsMapToOptunasOwn) {
  EXPECT_EQ(optuna_distribution_json(bounded(DistributionKind::kRandInt, 0, 5)),
            R"({"attributes":{"high":4,"log":false,"low":0,"step":1},"name":"IntDistribution"})");
  EXPECT_EQ(optuna_distribution_json(bounded(DistributionKind::kQLogUniform, 16, 1024, 1)),
            R"({"attributes":{"high":1024,"log":true,"low":16,"step":1},"name":"IntDistribution"})");
  EXPECT_EQ(optuna_distribution_json(bounded(DistributionKind::kQUniform, 16, 512, 16)),
            R"({"attributes":{"high":512.0,"log":false,"low":16.0,"step":16.0},"name":"FloatDistribution"})");
  // Off hyperopt's grid (multiples of q), Optuna's step grid from low would be another one.
  EXPECT_EQ(optuna_distribution_json(bounded(DistributionKind::kQUniform, 1, 10, 4)),
            R"({"attributes":{"high":10.0,"log":false,"low":1.0,"step":null},"name":"FloatDistribution"})");
}

TEST(OptunaJournal, AnUnboundedParameterIsRefusedBeforeAnythingIsWritten) {
  const SearchSpace space({{"lr", bounded(DistributionKind::kLogUniform, 1e-4, 1e-1)},
                           {"shift", unbounded(DistributionKind::kNormal, 0, 1)}});
  StudyInfo study;
  study.name = "s";
  std::ostringstream out;
  try {
    write_optuna_journal(study, space, {}, out);
    FAIL() << "a normal distribution has no Optuna counterpart";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("parameter 'shift': normal is unbounded"), std::string::npos) << e.what();
  }
  EXPECT_EQ(out.str(), "");
}

TEST(OptunaJournal, OneStudyLineThenOneLinePerTrial) {
  const SearchSpace space({{"lr", bounded(DistributionKind::kLogUniform, 1e-4, 1e-1)}});
  StudyInfo study;
  study.name = "s";
  study.direction = Direction::kMaximize;
  TrialRecord done;
  done.number = 0;
  done.state = TrialState::kComplete;
  done.params = {{"lr", 0.01}};
  done.value = 0.9;
  done.started_at = 1e9;
  done.finished_at = 1e9 + 1;
  TrialRecord running = done;
  running.number = 1;
  running.state = TrialState::kRunning;
  running.value.reset();
  std::ostringstream out;
  write_optuna_journal(study, space, {done, running}, out);
  std::istringstream lines(out.str());
  std::string first, second, third, extra;
  std::getline(lines, first);
  std::getline(lines, second);
  std::getline(lines, third);
  EXPECT_FALSE(std::getline(lines, extra));
  EXPECT_NE(first.find(R"("directions":[2])"), std::string::npos) << first;  // maximize
  EXPECT_NE(second.find(R"("state":1)"), std::string::npos) << second;
  EXPECT_NE(second.find("datetime_complete"), std::string::npos) << second;
  EXPECT_NE(third.find(R"("state":0)"), std::string::npos) << third;
  EXPECT_EQ(third.find("datetime_complete"), std::string::npos) << "a running trial has not ended: " << third;
}

}  // namespace
}  // namespace gpu_tune::search
