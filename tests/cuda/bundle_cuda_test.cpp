// Whole bundles on the GPU against the CPU reference: the same slots trained the same
// number of steps end with the same parameters (within float rounding) and the same
// validation metrics, and a diverging slot fails alone while its neighbours match their
// CPU runs.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/bundle.h"
#include "engine/cpu_backend.h"
#include "engine/data/dataset.h"
#include "engine/trainer.h"
#include "tests/cuda/cuda_test_utils.h"
#include "tests/engine/bundle_configs.h"
#include "tests/engine/synthetic_data.h"

namespace gpu_tune {
namespace {

using cuda_test::backend;

// Float rounding differs between the backends (sum orders, exp/tanh/erf implementations)
// and compounds over the steps; 1e-4 still catches any wrong element, which moves the
// parameters by the learning rate or more.
constexpr double kParameterTolerance = 1e-4;

using testing::make_config;
using testing::relative_difference;
using testing::varied_configs;

TEST(BundleCudaTest, SameBundleOnGpuAndCpuEndsWithTheSameParameters) {
  GPU_TUNE_REQUIRE_GPU();
  const data::Dataset dataset = testing::synthetic_dataset(/*train=*/157, 41, 20);
  const std::vector<TrainingConfig> configs = varied_configs();
  constexpr int kSteps = 40;
  const BundleOptions options{.capacity = static_cast<int>(configs.size()), .eval_rows = 16};

  CpuBackend cpu;
  Bundle on_cpu(cpu, dataset, options);
  Bundle on_gpu(backend(), dataset, options);
  for (size_t i = 0; i < configs.size(); ++i) {
    on_cpu.add(configs[i], i);
    on_gpu.add(configs[i], i);
  }
  for (size_t i = 0; i < configs.size(); ++i)  // the same start, bit for bit
    ASSERT_TRUE(kernels::test::bitwise_equal(on_gpu.parameters(int(i)), on_cpu.parameters(int(i))));

  for (int s = 0; s < kSteps; ++s) {
    const std::vector<int> cpu_epochs = on_cpu.step();
    EXPECT_EQ(on_gpu.step(), cpu_epochs) << "step " << s;
  }
  std::vector<int> all(configs.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  const std::vector<kernels::MetricSums> cpu_validation = on_cpu.evaluate(all, Split::kValidation);
  const std::vector<kernels::MetricSums> gpu_validation = on_gpu.evaluate(all, Split::kValidation);

  for (size_t i = 0; i < configs.size(); ++i) {
    SCOPED_TRACE(configs[i].describe());
    const int slot = static_cast<int>(i);
    const double difference = relative_difference(on_gpu.parameters(slot), on_cpu.parameters(slot));
    EXPECT_LT(difference, kParameterTolerance);
    RecordProperty("slot" + std::to_string(i) + "_relative_difference", std::to_string(difference));

    const kernels::MetricSums cpu_train = on_cpu.take_train_sums(slot), gpu_train = on_gpu.take_train_sums(slot);
    EXPECT_EQ(gpu_train.count, cpu_train.count);
    EXPECT_NEAR(gpu_train.loss_sum, cpu_train.loss_sum, 1e-4 * std::abs(cpu_train.loss_sum));

    const kernels::MetricSums& c = cpu_validation[i];
    const kernels::MetricSums& g = gpu_validation[i];
    EXPECT_EQ(g.count, 41);
    EXPECT_EQ(g.count, c.count);
    EXPECT_NEAR(g.loss_sum, c.loss_sum, 1e-4 * std::abs(c.loss_sum));
    // A near-tie between two logits may break differently; more than one is a bug.
    EXPECT_NEAR(g.correct, c.correct, 1.0);
  }
}

// A step captured once as a CUDA graph and replayed gives the same bits as every step
// issued afresh: through short last batches, reshuffles, dropout, bias correction, and a
// refill (which captures again). The CPU form of the same check is StepReplay.
TEST(BundleCudaTest, GraphReplayEqualsStepsIssuedAfresh) {
  GPU_TUNE_REQUIRE_GPU();
  const data::Dataset dataset = testing::synthetic_dataset(/*train=*/157, 20, 20);
  constexpr int kSteps = 40;
  CudaBackend with_graphs(0, BackendOptions{.cuda_graphs = true});
  CudaBackend without_graphs(0, BackendOptions{.cuda_graphs = false});
  ASSERT_TRUE(with_graphs.replays_steps());
  ASSERT_FALSE(without_graphs.replays_steps());
  const testing::TrainingRun replayed = testing::train_with_refill(with_graphs, dataset, kSteps);
  const testing::TrainingRun issued = testing::train_with_refill(without_graphs, dataset, kSteps);
  EXPECT_EQ(with_graphs.graph_captures(), 2) << "one capture per set of slots";
  ASSERT_EQ(replayed.parameters.size(), issued.parameters.size());
  for (size_t i = 0; i < issued.parameters.size(); ++i) {
    EXPECT_TRUE(kernels::test::bitwise_equal(replayed.parameters[i], issued.parameters[i])) << "slot " << i;
    EXPECT_EQ(replayed.train_sums[i].loss_sum, issued.train_sums[i].loss_sum) << "slot " << i;
    EXPECT_EQ(replayed.train_sums[i].count, issued.train_sums[i].count) << "slot " << i;
  }
}

// Two bundles taking turns on one GPU each keep their captured step: two captures in
// all, and each bundle trains as it does without graphs.
TEST(BundleCudaTest, BundlesTakingTurnsKeepTheirGraphs) {
  GPU_TUNE_REQUIRE_GPU();
  const data::Dataset dataset = testing::synthetic_dataset(/*train=*/157, 20, 20);
  const std::vector<TrainingConfig> configs = varied_configs();
  CudaBackend with_graphs(0, BackendOptions{.cuda_graphs = true});
  CudaBackend without_graphs(0, BackendOptions{.cuda_graphs = false});
  auto make = [&](Backend& backend, size_t first) {
    auto bundle = std::make_unique<Bundle>(backend, dataset, BundleOptions{.capacity = 3});
    for (size_t i = first; i < first + 3; ++i) bundle->add(configs[i], i);
    return bundle;
  };
  auto a = make(with_graphs, 0), b = make(with_graphs, 3);
  auto plain_a = make(without_graphs, 0), plain_b = make(without_graphs, 3);
  for (int s = 0; s < 20; ++s) {
    a->step();
    b->step();
    plain_a->step();
    plain_b->step();
  }
  EXPECT_EQ(with_graphs.graph_captures(), 2);
  for (int slot = 0; slot < 3; ++slot) {
    EXPECT_TRUE(kernels::test::bitwise_equal(a->parameters(slot), plain_a->parameters(slot))) << "a, slot " << slot;
    EXPECT_TRUE(kernels::test::bitwise_equal(b->parameters(slot), plain_b->parameters(slot))) << "b, slot " << slot;
  }
}

// TF32 on the GPU trains like the CPU's TF32 emulation (the same rounded operands), and
// the cuBLAS path like our kernels.
TEST(BundleCudaTest, Tf32AndCublasBundlesMatchTheirCpuReferences) {
  GPU_TUNE_REQUIRE_GPU();
  const data::Dataset dataset = testing::synthetic_dataset(/*train=*/157, 20, 20);
  constexpr int kSteps = 30;
  const std::vector<TrainingConfig> configs = varied_configs();
  const BundleOptions options{.capacity = static_cast<int>(configs.size())};
  for (const BackendOptions& gpu_options :
       {BackendOptions{.precision = kernels::GemmPrecision::kTf32},
        BackendOptions{.gemm = GemmLibrary::kCublas},
        BackendOptions{.precision = kernels::GemmPrecision::kTf32, .gemm = GemmLibrary::kCublas}}) {
    CudaBackend gpu(0, gpu_options);
    SCOPED_TRACE(gpu.device_description());
    CpuBackend cpu(gpu_options.precision);
    Bundle on_gpu(gpu, dataset, options), on_cpu(cpu, dataset, options);
    for (size_t i = 0; i < configs.size(); ++i) {
      on_gpu.add(configs[i], i);
      on_cpu.add(configs[i], i);
    }
    for (int s = 0; s < kSteps; ++s) {
      on_gpu.step();
      on_cpu.step();
    }
    for (int slot = 0; slot < static_cast<int>(configs.size()); ++slot) {
      const double difference = relative_difference(on_gpu.parameters(slot), on_cpu.parameters(slot));
      // TF32: a float-rounding difference upstream can move an operand across a TF32
      // rounding boundary (a 2^-11 jump), so the runs drift apart faster than in FP32.
      // Through cuBLAS the operands may even be rounded differently from our emulation
      // (see grouped_gemm_cublas.h).
      const bool tf32 = gpu_options.precision == kernels::GemmPrecision::kTf32;
      const bool cublas = gpu_options.gemm == GemmLibrary::kCublas;
      const double tolerance = !tf32 ? kParameterTolerance : cublas ? 1e-2 : 1e-3;
      EXPECT_LT(difference, tolerance) << configs[slot].describe();
    }
  }
}

TEST(BundleCudaTest, BestParametersSaveAndRestoreOnTheGpu) {
  GPU_TUNE_REQUIRE_GPU();
  const data::Dataset dataset = testing::synthetic_dataset(60, 10, 10);
  Bundle bundle(backend(), dataset, BundleOptions{.capacity = 1});
  const int slot = bundle.add(make_config("12", 16, 1e-2f, kernels::OptimizerKind::kAdam, 0.0f, 8), 0);
  bundle.save_best_parameters(slot);
  const std::vector<float> saved = bundle.parameters(slot);
  for (int s = 0; s < 5; ++s) bundle.step();
  EXPECT_FALSE(kernels::test::bitwise_equal(bundle.parameters(slot), saved));
  bundle.restore_best_parameters(slot);
  EXPECT_TRUE(kernels::test::bitwise_equal(bundle.parameters(slot), saved));
}

// The trainer's divergence path on the GPU: SGD at lr 1e30 blows up its own slot only.
TEST(BundleCudaTest, DivergingSlotFailsAloneWhileNeighboursMatchTheirCpuRuns) {
  GPU_TUNE_REQUIRE_GPU();
  const data::Dataset dataset = testing::synthetic_dataset(120, 30, 30);
  auto config = [](uint64_t seed, int batch, float lr) {
    TrainingConfig c = make_config("24", batch, lr, kernels::OptimizerKind::kAdam, 0.0f, seed);
    c.max_epochs = 3;
    return c;
  };
  const TrainingConfig steady_a = config(11, 16, 1e-2f), steady_b = config(12, 9, 3e-3f);
  TrainingConfig diverging = config(13, 16, 1e30f);
  diverging.optimizer.kind = kernels::OptimizerKind::kSgd;
  diverging.optimizer.momentum = 0.0f;
  diverging.max_epochs = 50;

  Trainer on_gpu(backend(), dataset, TrainerOptions{.bundle = {.capacity = 3}, .divergence_check_interval = 1});
  const std::vector<SlotResult> results = on_gpu.train_all({steady_a, diverging, steady_b});
  EXPECT_EQ(results[1].outcome, SlotOutcome::kFailed);
  EXPECT_NE(results[1].error.find("training loss became"), std::string::npos) << results[1].error;

  CpuBackend cpu;
  for (size_t i : {size_t(0), size_t(2)}) {
    SCOPED_TRACE("slot " + std::to_string(i));
    Trainer alone(cpu, dataset, TrainerOptions{.bundle = {.capacity = 1}});
    const SlotResult reference = alone.train_all({results[i].config})[0];
    EXPECT_EQ(results[i].outcome, SlotOutcome::kCompleted);
    ASSERT_EQ(results[i].history.size(), reference.history.size());
    for (size_t e = 0; e < reference.history.size(); ++e) {
      EXPECT_NEAR(results[i].history[e].train_loss, reference.history[e].train_loss,
                  1e-4 * reference.history[e].train_loss);
      EXPECT_NEAR(results[i].history[e].validation_loss, reference.history[e].validation_loss,
                  1e-4 * reference.history[e].validation_loss);
    }
    EXPECT_NEAR(results[i].test_loss, reference.test_loss, 1e-4 * reference.test_loss);
  }
}

// Learning on the real data, as the CPU suite checks it: mlp_small, Adam 1e-3, batch 64,
// two epochs, against PyTorch's ~0.85.
TEST(BundleCudaTest, MlpSmallLearnsFashionMnistOnTheGpu) {
  GPU_TUNE_REQUIRE_GPU();
  std::optional<data::Dataset> dataset;
  try {
    dataset = data::load_dataset(data::DatasetOptions{});
  } catch (const data::DataError& e) {
    GTEST_SKIP() << "Fashion-MNIST not installed: " << e.what();
  }
  Trainer trainer(backend(), *dataset, TrainerOptions{.bundle = {.capacity = 1}});
  TrainingConfig c;
  c.model = parse_model("mlp_small");
  c.optimizer.learning_rate = 1e-3f;
  c.batch_size = 64;
  c.max_epochs = 2;
  c.seed = 0;
  const SlotResult r = trainer.train_all({c})[0];
  ASSERT_EQ(r.outcome, SlotOutcome::kCompleted) << r.error;
  EXPECT_GE(r.test_accuracy, 0.84);
  EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
}

}  // namespace
}  // namespace gpu_tune
