// A trial's numbers do not depend on how many threads train it, nor on when that number
// changes: CPU workers that run out of trials hand their cores to the others mid-trial
// (apps/cpu_core_share.h), which is only sound if every CPU form splits its work by shape
// alone (kernels/cpu_parallel.h).
#include <gtest/gtest.h>

#include <vector>

#include "engine/bundle.h"
#include "engine/cpu_backend.h"
#include "tests/engine/synthetic_data.h"
#include "tests/kernels/kernel_test_utils.h"

namespace gpu_tune {
namespace {

using kernels::test::bitwise_equal;
using kernels::test::ScopedThreadCount;

// Large enough that the dense and convolution GEMMs are cut into several pieces; odd
// sizes too, where a BLAS is likeliest to round a row differently in another split.
std::vector<TrainingConfig> sizeable_configs() {
  std::vector<TrainingConfig> configs;
  const struct {
    const char* layers;
    int batch;
    kernels::OptimizerKind optimizer;
    float dropout;
  } specs[] = {{"512-256", 64, kernels::OptimizerKind::kAdam, 0.2f},
               {"257-65", 37, kernels::OptimizerKind::kAdam, 0.0f},
               {"c16-p-c32-p-64", 32, kernels::OptimizerKind::kAdamW, 0.0f},
               {"c7-p-c13k5-p-33", 19, kernels::OptimizerKind::kAdam, 0.1f},
               {"100", 7, kernels::OptimizerKind::kSgd, 0.1f}};
  uint64_t seed = 1;
  for (const auto& spec : specs) {
    TrainingConfig c;
    c.model = parse_model(spec.layers, TensorShape{28, 28, 1}, 10);
    c.batch_size = spec.batch;
    c.optimizer.kind = spec.optimizer;
    c.optimizer.learning_rate = 1e-3f;
    c.optimizer.momentum = spec.optimizer == kernels::OptimizerKind::kSgd ? 0.9f : 0.0f;
    c.dropout = spec.dropout;
    c.seed = seed++;
    configs.push_back(c);
  }
  return configs;
}

// Parameters of each slot after `steps`, the thread count set by threads_at(step).
template <typename ThreadsAt>
std::vector<std::vector<float>> train(const data::Dataset& dataset, int steps, ThreadsAt threads_at) {
  const std::vector<TrainingConfig> configs = sizeable_configs();
  CpuBackend backend;
  Bundle bundle(backend, dataset, BundleOptions{.capacity = static_cast<int>(configs.size())});
  for (size_t i = 0; i < configs.size(); ++i) bundle.add(configs[i], i);
  for (int s = 0; s < steps; ++s) {
    const ScopedThreadCount threads(threads_at(s));
    bundle.step();
  }
  std::vector<std::vector<float>> parameters;
  for (size_t i = 0; i < configs.size(); ++i) parameters.push_back(bundle.parameters(static_cast<int>(i)));
  return parameters;
}

TEST(BundleThreads, TrainingIsBitwiseTheSameOnOneThreadOrSeveralAndWhenTheCountChanges) {
  const data::Dataset dataset = testing::synthetic_dataset(/*train=*/150, 20, 20, 28, 28, 10);
  constexpr int kSteps = 6;
  const std::vector<std::vector<float>> one = train(dataset, kSteps, [](int) { return 1; });
  const std::vector<std::vector<float>> three = train(dataset, kSteps, [](int) { return 3; });
  // One thread, then two from the fourth step on: a neighbouring worker has finished.
  const std::vector<std::vector<float>> joined = train(dataset, kSteps, [](int step) { return step < 3 ? 1 : 2; });
  const std::vector<TrainingConfig> configs = sizeable_configs();
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_TRUE(bitwise_equal(three[i], one[i])) << configs[i].describe() << ": 3 threads differ from 1";
    EXPECT_TRUE(bitwise_equal(joined[i], one[i])) << configs[i].describe() << ": 1 then 2 threads differ from 1";
  }
}

}  // namespace
}  // namespace gpu_tune
