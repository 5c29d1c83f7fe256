// Learning works on the real data: mlp_small (Adam, lr 1e-3, batch 64) after two epochs on
// the 50,000-image training split. PyTorch reaches about 0.85 with the same settings.
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/cpu_backend.h"
#include "engine/data/dataset.h"
#include "engine/trainer.h"

namespace gpu_tune {
namespace {

TEST(Learning, MlpSmallReachesPyTorchAccuracyOnFashionMnist) {
  data::DatasetOptions options;
  std::optional<data::Dataset> dataset;
  try {
    dataset = data::load_dataset(options);
  } catch (const data::DataError& e) {
    GTEST_SKIP() << "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): " << e.what();
  }
  ASSERT_EQ(dataset->train.count, 50000);
  CpuBackend backend;
  Trainer trainer(backend, *dataset, TrainerOptions{.bundle = {.capacity = 1}});
  TrainingConfig c;
  c.model = parse_model("mlp_small");
  c.optimizer.learning_rate = 1e-3f;
  c.batch_size = 64;
  c.max_epochs = 2;
  c.seed = 0;
  const SlotResult r = trainer.train_all({c})[0];
  ASSERT_EQ(r.outcome, SlotOutcome::kCompleted);
  EXPECT_GE(r.test_accuracy, 0.84);
  EXPECT_GE(r.history.back().validation_accuracy, 0.84);
  EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
}

}  // namespace
}  // namespace gpu_tune
