// `gpu_tune train` end to end on a small generated IDX dataset, and its bad-input errors.
#include "apps/train_command.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/apps/idx_fixture.h"

namespace gpu_tune::app {
namespace {

namespace fs = std::filesystem;

class TrainCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gpu_tune_train_cmd_" + std::to_string(::getpid()));
    testing::write_idx_dataset(dir_, 400, 100);
    options_.engine.dataset.data_dir = dir_;
    options_.engine.dataset.validation_size = 100;
    options_.engine.backend = "cpu";
    options_.epochs = 2;
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  TrainOptions options_;
};

TEST_F(TrainCommand, JsonLinesCoverEveryEpochOfEverySlot) {
  options_.slots = {"model=32,lr=3e-3,batch=16,seed=1", "model=mlp_small,lr=1e-3,batch=50,seed=2"};
  options_.json = true;
  std::ostringstream out, log;
  ASSERT_EQ(run_train(options_, out, log), 0) << log.str();
  EXPECT_NE(log.str().find("using the CPU backend"), std::string::npos) << log.str();
  int epochs = 0, finished = 0;
  std::istringstream lines(out.str());
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json event = nlohmann::json::parse(line);
    if (event["event"] == "epoch") {
      ++epochs;
      EXPECT_GT(event["learning_rate"].get<double>(), 0.0) << line;
    }
    if (event["event"] == "finished") {
      ++finished;
      EXPECT_EQ(event["outcome"], "completed");
      EXPECT_GT(event["test_accuracy"].get<double>(), 0.5);
    }
  }
  EXPECT_EQ(epochs, 4);
  EXPECT_EQ(finished, 2);
}

TEST_F(TrainCommand, TextOutputSaysWhatHappened) {
  options_.slots = {"model=16,batch=32"};
  std::ostringstream out, log;
  ASSERT_EQ(run_train(options_, out, log), 0) << log.str();
  EXPECT_NE(out.str().find("epoch   2/2"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("lr 0.001 "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("completed after 2 epochs"), std::string::npos) << out.str();
}

TEST_F(TrainCommand, BadInputGivesAClearErrorAndExitCode) {
  std::ostringstream out, log;
  options_.slots = {"model=16,speed=3"};
  EXPECT_EQ(run_train(options_, out, log), 2);
  EXPECT_NE(log.str().find("unknown key 'speed'"), std::string::npos) << log.str();

  options_.slots = {"model=16"};
  options_.engine.backend = "tpu";
  log.str("");
  EXPECT_EQ(run_train(options_, out, log), 2);
  EXPECT_NE(log.str().find("--backend 'tpu'"), std::string::npos) << log.str();

  options_.engine.backend = "cpu";
  options_.engine.dataset.data_dir = dir_ / "missing";
  log.str("");
  EXPECT_EQ(run_train(options_, out, log), 2);
  EXPECT_NE(log.str().find("missing"), std::string::npos) << log.str();
}

// The precision and GEMM flags: bad values are named; tf32 on the CPU trains (emulated)
// and says so; cuBLAS without the CUDA backend explains why not.
TEST_F(TrainCommand, PrecisionAndGemmFlags) {
  std::ostringstream out, log;
  options_.slots = {"model=16,batch=32"};
  options_.engine.precision = "fp16";
  EXPECT_EQ(run_train(options_, out, log), 2);
  EXPECT_NE(log.str().find("--precision 'fp16' is not one of fp32, tf32"), std::string::npos) << log.str();

  options_.engine.precision = "fp32";
  options_.engine.gemm = "magma";
  log.str("");
  EXPECT_EQ(run_train(options_, out, log), 2);
  EXPECT_NE(log.str().find("--gemm 'magma' is not one of own, cublas"), std::string::npos) << log.str();

  options_.engine.gemm = "cublas";
  log.str("");
  EXPECT_EQ(run_train(options_, out, log), 2);
  EXPECT_NE(log.str().find("--gemm cublas needs the CUDA backend"), std::string::npos) << log.str();

  options_.engine.gemm = "own";
  options_.engine.precision = "tf32";
  log.str("");
  ASSERT_EQ(run_train(options_, out, log), 0) << log.str();
  EXPECT_NE(log.str().find("TF32 emulated"), std::string::npos) << log.str();
  EXPECT_NE(out.str().find("completed after 2 epochs"), std::string::npos) << out.str();
}

TEST_F(TrainCommand, DivergingSlotIsReportedAndTheOthersFinish) {
  options_.slots = {"model=16,batch=16,seed=1", "model=16,batch=16,optimizer=sgd,lr=1e30,seed=2"};
  options_.json = true;
  std::ostringstream out, log;
  EXPECT_EQ(run_train(options_, out, log), 3);
  EXPECT_NE(out.str().find("\"outcome\":\"failed\""), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("\"outcome\":\"completed\""), std::string::npos) << out.str();
}

}  // namespace
}  // namespace gpu_tune::app
