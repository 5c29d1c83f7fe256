// A trained slot's weights, loaded into a bundle of its own with the normalization it
// trained with, evaluate exactly as before; predict's classes are the ones evaluate's
// accuracy counts.
#include <gtest/gtest.h>

#include "engine/bundle.h"
#include "engine/cpu_backend.h"
#include "engine/trainer.h"
#include "tests/engine/bundle_configs.h"
#include "tests/engine/synthetic_data.h"

namespace gpu_tune {
namespace {

TEST(BundleInference, LoadedWeightsEvaluateExactlyAsTrainedAndPredictAgreesWithEvaluate) {
  const data::Dataset dataset = testing::synthetic_dataset(/*train=*/157, 20, 61);
  using kernels::OptimizerKind;
  for (const TrainingConfig& config : {testing::make_config("33-17", 7, 3e-3f, OptimizerKind::kAdam, 0.2f, 2),
                                       testing::make_config("c5-p-12", 9, 3e-3f, OptimizerKind::kAdam, 0.0f, 3)}) {
    CpuBackend backend;
    Bundle trained(backend, dataset, BundleOptions{.capacity = 2, .standardize = true});
    trained.add(testing::make_config("20", 5, 1e-2f, OptimizerKind::kSgd, 0.0f, 1), 0);  // a neighbour
    const int slot = trained.add(config, 1);
    for (int s = 0; s < 40; ++s) trained.step();
    const int both[] = {0, slot};
    const kernels::MetricSums expected = trained.evaluate(both, Split::kTest)[1];

    // Other training data, so that standardizing again would not give the same inputs.
    data::Dataset other = testing::synthetic_dataset(/*train=*/3, 0, 0);
    other.test = dataset.test;
    other.pixel_mean = 0.1f;
    Bundle loaded(backend, other,
                  BundleOptions{.capacity = 1, .standardize = true, .normalization = trained.input_normalization()});
    const int alone = loaded.add(config, 7);
    loaded.load_parameters(alone, trained.parameters(slot));
    const int one[] = {alone};
    const kernels::MetricSums again = loaded.evaluate(one, Split::kTest)[0];
    EXPECT_EQ(again.correct, expected.correct) << config.describe();
    EXPECT_EQ(again.loss_sum, expected.loss_sum) << config.describe();
    EXPECT_EQ(again.count, 61.0);

    const std::vector<int32_t> classes = loaded.predict(alone, Split::kTest);
    ASSERT_EQ(classes.size(), 61u);
    int correct = 0;
    for (size_t i = 0; i < classes.size(); ++i) {
      EXPECT_GE(classes[i], 0);
      EXPECT_LT(classes[i], 3);
      correct += classes[i] == dataset.test.labels[i];
    }
    EXPECT_EQ(correct, again.correct) << config.describe();
    EXPECT_EQ(trained.predict(slot, Split::kTest), classes) << "the model in training predicts the same";
  }
}

// The weights the trainer hands back are the ones it tested: the best epoch's, not the
// last one's, when it restored them.
TEST(BundleInference, TheTrainersKeptParametersAreTheTestedOnes) {
  const data::Dataset dataset = testing::synthetic_dataset(200, 50, 50);
  CpuBackend backend;
  Trainer trainer(backend, dataset, TrainerOptions{.bundle = {.capacity = 2}, .keep_parameters = true});
  TrainingConfig large_steps = testing::make_config("24", 4, 0.3f, kernels::OptimizerKind::kSgd, 0.0f, 8);
  large_steps.max_epochs = 6;  // later epochs get worse, so the best one is restored
  TrainingConfig last_epoch = large_steps;
  last_epoch.max_epochs = 1;
  last_epoch.early_stopping.restore_best_weights = false;  // tested with its last weights
  const std::vector<SlotResult> results = trainer.train_all({large_steps, last_epoch});
  for (const SlotResult& r : results) {
    ASSERT_EQ(r.parameters.size(), static_cast<size_t>(r.config.model.storage_size()));
    Bundle alone(backend, dataset, BundleOptions{.capacity = 1});
    const int slot = alone.add(r.config, 0);
    alone.load_parameters(slot, r.parameters);
    const int one[] = {slot};
    const kernels::MetricSums sums = alone.evaluate(one, Split::kTest)[0];
    EXPECT_EQ(sums.correct / sums.count, r.test_accuracy);
    EXPECT_EQ(sums.loss_sum / sums.count, r.test_loss);
  }

  Trainer without(backend, dataset, TrainerOptions{.bundle = {.capacity = 1}});
  EXPECT_TRUE(without.train_all({last_epoch})[0].parameters.empty()) << "kept only when asked for";
}

TEST(BundleInference, LoadingParametersOfAnotherSizeIsRefused) {
  const data::Dataset dataset = testing::synthetic_dataset(20, 5, 5);
  CpuBackend backend;
  Bundle bundle(backend, dataset, BundleOptions{.capacity = 1});
  const int slot = bundle.add(testing::make_config("8", 4, 1e-2f, kernels::OptimizerKind::kAdam, 0.0f, 1), 0);
  const std::vector<float> wrong(bundle.parameters(slot).size() + 1, 0.0f);
  EXPECT_THROW(bundle.load_parameters(slot, wrong), std::invalid_argument);
}

}  // namespace
}  // namespace gpu_tune
