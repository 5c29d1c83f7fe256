// Learning works on the real data: mlp_small (Adam, lr 1e-3, batch 64) after two epochs on
// the 50,000-image training split. PyTorch reaches about 0.85 with the same settings.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include "engine/cpu_backend.h"
#include "engine/data/dataset.h"
#include "engine/trainer.h"

namespace gpu_tune {
namespace {

// Fashion-MNIST's 50,000-image training split, or nothing (and why) when it is not installed.
std::optional<data::Dataset> fashion_mnist(std::string& why_not) {
  try {
    return data::load_dataset(data::DatasetOptions{});
  } catch (const data::DataError& e) {
    why_not = std::string("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): ") + e.what();
    return std::nullopt;
  }
}

SlotResult train_model(Backend& backend, const data::Dataset& dataset, const char* model, int epochs) {
  Trainer trainer(backend, dataset, TrainerOptions{.bundle = {.capacity = 1}});
  TrainingConfig c;
  c.model = parse_model(model);
  c.optimizer.learning_rate = 1e-3f;
  c.batch_size = 64;
  c.max_epochs = epochs;
  c.seed = 0;
  return trainer.train_all({c})[0];
}

SlotResult train_mlp_small(Backend& backend, const data::Dataset& dataset, int epochs) {
  return train_model(backend, dataset, "mlp_small", epochs);
}

TEST(Learning, MlpSmallReachesPyTorchAccuracyOnFashionMnist) {
  std::string why_not;
  const std::optional<data::Dataset> dataset = fashion_mnist(why_not);
  if (!dataset) GTEST_SKIP() << why_not;
  ASSERT_EQ(dataset->train.count, 50000);
  CpuBackend backend;
  const SlotResult r = train_mlp_small(backend, *dataset, 2);
  ASSERT_EQ(r.outcome, SlotOutcome::kCompleted);
  EXPECT_GE(r.test_accuracy, 0.84);
  EXPECT_GE(r.history.back().validation_accuracy, 0.84);
  EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
}

// cnn_small (Adam, lr 1e-3, batch 64) after one epoch on the 50,000-image split. PyTorch
// reaches 0.874 test accuracy after one epoch on all 60,000 images; the threshold, 0.86,
// leaves room for the smaller split and another initialisation, and is still above what
// any MLP here reaches in one epoch (about 0.84), so a CNN that silently learned like an
// MLP (a broken convolution) fails it.
TEST(Learning, CnnSmallLearnsFashionMnistInOneEpoch) {
  std::string why_not;
  const std::optional<data::Dataset> dataset = fashion_mnist(why_not);
  if (!dataset) GTEST_SKIP() << why_not;
  CpuBackend backend;
  const SlotResult r = train_model(backend, *dataset, "cnn_small", 1);
  ASSERT_EQ(r.outcome, SlotOutcome::kCompleted);
  RecordProperty("cnn_small_test_accuracy", std::to_string(r.test_accuracy));
  std::cout << "cnn_small, 1 epoch: test accuracy " << r.test_accuracy << ", validation loss "
            << r.history.back().validation_loss << "\n";
  EXPECT_GE(r.test_accuracy, 0.86);
  EXPECT_GE(r.history.back().validation_accuracy, 0.86);
}

}  // namespace
}  // namespace gpu_tune

namespace gpu_tune {
namespace {

// The evidence --precision tf32 needs before it could become the default: TF32 products
// (emulated on the CPU with the GPU's rounding) train mlp_small as well as FP32. One epoch:
// the two runs start from the same weights and see the same minibatches.
TEST(Learning, Tf32TrainsMlpSmallAsWellAsFp32) {
  std::string why_not;
  const std::optional<data::Dataset> dataset = fashion_mnist(why_not);
  if (!dataset) GTEST_SKIP() << why_not;
  ASSERT_EQ(dataset->train.count, 50000);
  CpuBackend fp32(kernels::GemmPrecision::kFp32), tf32(kernels::GemmPrecision::kTf32);
  const SlotResult exact = train_mlp_small(fp32, *dataset, 1);
  const SlotResult rounded = train_mlp_small(tf32, *dataset, 1);
  ASSERT_EQ(exact.outcome, SlotOutcome::kCompleted);
  ASSERT_EQ(rounded.outcome, SlotOutcome::kCompleted);
  RecordProperty("fp32_test_accuracy", std::to_string(exact.test_accuracy));
  RecordProperty("tf32_test_accuracy", std::to_string(rounded.test_accuracy));
  std::cout << "mlp_small, 1 epoch: test accuracy fp32 " << exact.test_accuracy << ", tf32 " << rounded.test_accuracy
            << "; validation loss fp32 " << exact.history.back().validation_loss << ", tf32 "
            << rounded.history.back().validation_loss << "\n";
  EXPECT_NEAR(rounded.test_accuracy, exact.test_accuracy, 0.01);
  EXPECT_NEAR(rounded.history.back().validation_loss, exact.history.back().validation_loss,
              0.02 * exact.history.back().validation_loss);
  EXPECT_NE(rounded.history.back().validation_loss, exact.history.back().validation_loss)
      << "TF32 that changes nothing is not TF32";
}

}  // namespace
}  // namespace gpu_tune
