// Whole bundles with their convolutions through cuDNN (CudaBackend with --conv cudnn)
// against the CPU reference: the varied slots of bundle_configs.h (two CNNs among MLPs,
// short last batches, dropout, every optimizer) trained the same steps end with the same
// parameters within float rounding, in FP32 and in TF32 (against the CPU's TF32 emulation).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/bundle.h"
#include "engine/cpu_backend.h"
#include "tests/cuda/cuda_test_utils.h"
#include "tests/engine/bundle_configs.h"
#include "tests/engine/synthetic_data.h"

namespace gpu_tune {
namespace {

#ifdef GPU_TUNE_WITH_CUDNN

using testing::relative_difference;
using testing::varied_configs;

TEST(BundleCudnnTest, CnnBundlesMatchTheirCpuReferences) {
  GPU_TUNE_REQUIRE_GPU();
  const data::Dataset dataset = testing::synthetic_dataset(/*train=*/157, 41, 20);
  constexpr int kSteps = 30;
  const std::vector<TrainingConfig> configs = varied_configs();
  const BundleOptions options{.capacity = static_cast<int>(configs.size()), .eval_rows = 16};
  for (kernels::GemmPrecision precision : {kernels::GemmPrecision::kFp32, kernels::GemmPrecision::kTf32}) {
    CudaBackend gpu(0, BackendOptions{.precision = precision, .conv = ConvLibrary::kCudnn});
    SCOPED_TRACE(gpu.device_description());
    ASSERT_FALSE(gpu.replays_steps()) << "cuDNN takes sizes on the host: steps are issued afresh";
    CpuBackend cpu(precision);
    Bundle on_gpu(gpu, dataset, options), on_cpu(cpu, dataset, options);
    for (size_t i = 0; i < configs.size(); ++i) {
      on_gpu.add(configs[i], i);
      on_cpu.add(configs[i], i);
    }
    for (int s = 0; s < kSteps; ++s) EXPECT_EQ(on_gpu.step(), on_cpu.step()) << "step " << s;

    std::vector<int> all(configs.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
    const std::vector<kernels::MetricSums> cpu_validation = on_cpu.evaluate(all, Split::kValidation);
    const std::vector<kernels::MetricSums> gpu_validation = on_gpu.evaluate(all, Split::kValidation);
    // FP32 as the other GPU bundle tests; TF32 drifts faster (an operand near a TF32
    // rounding boundary jumps by 2^-11), and cuDNN may round operands unlike our emulation.
    const bool tf32 = precision == kernels::GemmPrecision::kTf32;
    const double tolerance = tf32 ? 1e-2 : 1e-4;
    for (size_t i = 0; i < configs.size(); ++i) {
      SCOPED_TRACE(configs[i].describe());
      const int slot = static_cast<int>(i);
      EXPECT_LT(relative_difference(on_gpu.parameters(slot), on_cpu.parameters(slot)), tolerance);
      const kernels::MetricSums& c = cpu_validation[i];
      const kernels::MetricSums& g = gpu_validation[i];
      EXPECT_EQ(g.count, c.count);
      EXPECT_NEAR(g.loss_sum, c.loss_sum, (tf32 ? 1e-2 : 1e-4) * std::abs(c.loss_sum));
    }
  }
}

#endif

}  // namespace
}  // namespace gpu_tune
