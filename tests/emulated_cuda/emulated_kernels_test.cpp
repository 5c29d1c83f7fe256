// The CUDA forms of the kernels, built as C++ against a stand-in runtime
// (stand_in/cuda_runtime_api.h: each GPU thread a CPU thread), against the CPU forms. This
// runs on every machine, GPU or not, and checks the kernels' indexing, tiling, barriers,
// bounds and run-time values; tests/cuda checks them on a real GPU. Inputs are random
// and never zero; outputs start as NaN, so an element left unwritten shows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/bias_activation.h"
#include "kernels/gather_batch.h"
#include "kernels/grouped_gemm.h"
#include "kernels/optimizer_update.h"
#include "kernels/softmax_cross_entropy.h"
#include "tests/kernels/kernel_test_utils.h"

namespace gpu_tune::kernels {

// Found by GoogleTest through argument-dependent lookup: "tf32" rather than raw bytes.
inline void PrintTo(GemmPrecision precision, std::ostream* os) { *os << precision_name(precision); }

namespace {

using test::bitwise_equal;
using test::quiet_nan;
using test::random_nonzero;
using test::Rng;

constexpr double kTolerance = 1e-5;
constexpr cudaStream_t kStream = nullptr;

// Relative L2 error over the elements that are numbers in the reference; an element that is
// NaN in one and not the other counts as a failure (infinity).
double error_against(const std::vector<float>& got, const std::vector<float>& ref) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(ref[i]) != std::isnan(got[i])) return INFINITY;
    if (std::isnan(ref[i])) continue;
    diff += (double(got[i]) - ref[i]) * (double(got[i]) - ref[i]);
    norm += double(ref[i]) * ref[i];
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

std::vector<float> nans(size_t n) { return std::vector<float>(n, quiet_nan()); }

// The stand-in itself: shared memory is one per block, a barrier orders the threads of a
// block, and a barrier in divergent code is reported rather than silently merged.
__global__ void broadcast_through_shared_memory(int* out) {
  __shared__ int value;
  if (threadIdx.x == 0) value = 100 + static_cast<int>(blockIdx.x);
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = value;
}

__global__ void barrier_in_divergent_code(int* out) {
  if (threadIdx.x == 0) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

TEST(EmulatedRuntime, BarrierOrdersTheThreadsOfABlock) {
  std::vector<int> out(3 * 64, -1);
  emulated_launch(kStream, broadcast_through_shared_memory, dim3(3), dim3(64), out.data());
  for (int i = 0; i < 3 * 64; ++i) ASSERT_EQ(out[i], 100 + i / 64) << "thread " << i % 64 << " of block " << i / 64;
}

TEST(EmulatedRuntime, BarrierInDivergentCodeIsReported) {
  std::vector<int> out(64, 0);
  try {
    emulated_launch(kStream, barrier_in_divergent_code, dim3(1), dim3(64), out.data());
    ADD_FAILURE() << "a divergent __syncthreads went unnoticed";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("divergent __syncthreads"), std::string::npos) << e.what();
  }
}

class EmulatedGemm : public ::testing::TestWithParam<GemmPrecision> {};

// The three forms a dense layer issues, sized for a bound of 100 rows and run with fewer:
// nothing past the run-time rows is written, and what is written matches the CPU.
TEST_P(EmulatedGemm, LayerFormsWithRunTimeRowsMatchCpu) {
  const GemmPrecision precision = GetParam();
  Rng rng(11);
  for (int rows : {1, 37, 64, 100}) {
    SCOPED_TRACE("rows " + std::to_string(rows));
    const int bound = 100, in = 70, out = 33;
    const int32_t run_time_rows = rows;
    const std::vector<float> x = random_nonzero(bound * in, rng), w = random_nonzero(in * out, rng),
                             dz = random_nonzero(bound * out, rng);
    auto forms = [&](float* z, float* dw, float* dx) {
      GemmProblem forward{.m = bound, .n = out, .k = in, .a = x.data(), .lda = in, .b = w.data(), .ldb = out,
                          .c = z, .ldc = out};
      forward.dynamic_m = &run_time_rows;
      GemmProblem weight_grad{.m = in, .n = out, .k = bound, .a = x.data(), .lda = in, .transpose_a = true,
                              .b = dz.data(), .ldb = out, .c = dw, .ldc = out};
      weight_grad.dynamic_k = &run_time_rows;
      GemmProblem input_grad{.m = bound, .n = in, .k = out, .a = dz.data(), .lda = out, .b = w.data(), .ldb = out,
                             .transpose_b = true, .c = dx, .ldc = in};
      input_grad.dynamic_m = &run_time_rows;
      return std::vector<GemmProblem>{forward, weight_grad, input_grad};
    };
    std::vector<float> z_cpu = nans(bound * out), dw_cpu = nans(in * out), dx_cpu = nans(bound * in);
    std::vector<float> z_gpu = z_cpu, dw_gpu = dw_cpu, dx_gpu = dx_cpu;
    grouped_gemm_cpu(forms(z_cpu.data(), dw_cpu.data(), dx_cpu.data()), precision);
    grouped_gemm_cuda(forms(z_gpu.data(), dw_gpu.data(), dx_gpu.data()), kStream, precision);
    EXPECT_LT(error_against(z_gpu, z_cpu), kTolerance);
    EXPECT_LT(error_against(dw_gpu, dw_cpu), kTolerance);
    EXPECT_LT(error_against(dx_gpu, dx_cpu), kTolerance);
    EXPECT_TRUE(std::isnan(z_gpu.back()) == (rows < bound)) << "a row past the run-time rows was written";
  }
}

// Ragged problems in one call: every orientation, alpha and beta, padded rows, K = 0, and
// run-time M and K.
TEST_P(EmulatedGemm, MixedProblemsInOneCallMatchCpu) {
  const GemmPrecision precision = GetParam();
  Rng rng(12);
  std::uniform_int_distribution<int> dim(1, 140), small(0, 3);
  constexpr int kProblems = 24;
  std::vector<std::vector<float>> operands;
  std::vector<std::vector<float>> c_cpu(kProblems), c_gpu(kProblems);
  std::vector<int32_t> run_time_sizes(2 * kProblems);
  std::vector<GemmProblem> cpu, gpu;
  operands.reserve(2 * kProblems);
  for (int i = 0; i < kProblems; ++i) {
    GemmProblem p;
    p.m = dim(rng);
    p.n = dim(rng);
    p.k = i == 5 ? 0 : dim(rng);
    p.transpose_a = small(rng) % 2 == 1;
    p.transpose_b = small(rng) >= 2;
    const int pad = small(rng);
    p.lda = std::max(p.transpose_a ? p.m : p.k, 1) + pad;
    p.ldb = (p.transpose_b ? p.k : p.n) + pad;
    p.ldc = p.n + pad;
    p.alpha = i % 3 == 0 ? -0.5f : 1.0f;
    p.beta = i % 4 == 1 ? 0.5f : 0.0f;
    p.a = operands.emplace_back(random_nonzero(size_t(std::max(p.transpose_a ? p.k : p.m, 1)) * p.lda, rng)).data();
    p.b = operands.emplace_back(random_nonzero(size_t(std::max(p.transpose_b ? p.n : p.k, 1)) * p.ldb, rng)).data();
    c_cpu[i] = p.beta == 0.0f ? nans(size_t(p.m) * p.ldc) : random_nonzero(size_t(p.m) * p.ldc, rng);
    c_gpu[i] = c_cpu[i];
    if (i % 3 == 2) {
      run_time_sizes[i] = std::max(0, p.m - 17);
      p.dynamic_m = &run_time_sizes[i];
    }
    if (i % 5 == 4) {
      run_time_sizes[kProblems + i] = std::max(0, p.k - 9);
      p.dynamic_k = &run_time_sizes[kProblems + i];
    }
    p.c = c_cpu[i].data();
    cpu.push_back(p);
    p.c = c_gpu[i].data();
    gpu.push_back(p);
  }
  grouped_gemm_cpu(cpu, precision);
  grouped_gemm_cuda(gpu, kStream, precision);
  for (int i = 0; i < kProblems; ++i) EXPECT_LT(error_against(c_gpu[i], c_cpu[i]), kTolerance) << "problem " << i;
}

// More problems than one launch's parameter block holds: several launches, and the
// problems on both sides of each split.
TEST_P(EmulatedGemm, MoreProblemsThanOneLaunchHolds) {
  const GemmPrecision precision = GetParam();
  Rng rng(13);
  constexpr int kProblems = 130;
  const std::vector<float> a = random_nonzero(9 * 5, rng), b = random_nonzero(5 * 7, rng);
  std::vector<std::vector<float>> c_cpu(kProblems, nans(9 * 7)), c_gpu = c_cpu;
  std::vector<GemmProblem> cpu, gpu;
  for (int i = 0; i < kProblems; ++i) {
    GemmProblem p{.m = 9, .n = 7, .k = 5, .a = a.data(), .lda = 5, .b = b.data(), .ldb = 7, .ldc = 7,
                  .alpha = 1.0f + 0.01f * static_cast<float>(i)};
    p.c = c_cpu[i].data();
    cpu.push_back(p);
    p.c = c_gpu[i].data();
    gpu.push_back(p);
  }
  grouped_gemm_cpu(cpu, precision);
  grouped_gemm_cuda(gpu, kStream, precision);
  for (int i = 0; i < kProblems; ++i) EXPECT_LT(error_against(c_gpu[i], c_cpu[i]), kTolerance) << "problem " << i;
}

INSTANTIATE_TEST_SUITE_P(BothPrecisions, EmulatedGemm, ::testing::Values(GemmPrecision::kFp32, GemmPrecision::kTf32),
                         [](const ::testing::TestParamInfo<GemmPrecision>& info) {
                           return std::string(precision_name(info.param));
                         });

// Forward and backward epilogues with run-time rows and a run-time dropout base: the
// same bits as the CPU (the memory-bound forms round as the CPU does), the bias
// gradient within rounding (its sum order differs).
TEST(EmulatedEpilogues, RunTimeRowsAndDropoutBaseMatchCpu) {
  Rng rng(14);
  for (int rows : {1, 37, 100}) {
    SCOPED_TRACE("rows " + std::to_string(rows));
    const int bound = 100, cols = 45;
    const int32_t run_time_rows = rows;
    const uint64_t base = dropout_base(99, 7);
    const std::vector<float> z = random_nonzero(bound * cols, rng), bias = random_nonzero(cols, rng);
    std::vector<float> z_cpu = z, z_gpu = z, out_cpu = nans(bound * cols), out_gpu = out_cpu;
    BiasActivationForward forward{.rows = bound, .cols = cols, .bias = bias.data(), .activation = Activation::kGelu};
    forward.dropout.rate = 0.3f;
    forward.dropout.dynamic_base = &base;
    forward.dropout.layer = 1;
    forward.dynamic_rows = &run_time_rows;
    forward.z = z_cpu.data();
    forward.out = out_cpu.data();
    bias_activation_forward_cpu(std::vector{forward});
    forward.z = z_gpu.data();
    forward.out = out_gpu.data();
    bias_activation_forward_cuda(std::vector{forward}, kStream);
    EXPECT_TRUE(bitwise_equal(out_gpu, out_cpu));
    EXPECT_TRUE(bitwise_equal(z_gpu, z_cpu));

    const std::vector<float> grad = random_nonzero(bound * cols, rng);
    std::vector<float> grad_cpu = grad, grad_gpu = grad, bias_grad_cpu = nans(cols), bias_grad_gpu = nans(cols);
    BiasActivationBackward backward{.rows = bound, .cols = cols, .z = z_cpu.data(), .activation = Activation::kGelu};
    backward.dropout = forward.dropout;
    backward.dynamic_rows = &run_time_rows;
    backward.grad = grad_cpu.data();
    backward.bias_grad = bias_grad_cpu.data();
    bias_activation_backward_cpu(std::vector{backward});
    backward.grad = grad_gpu.data();
    backward.bias_grad = bias_grad_gpu.data();
    bias_activation_backward_cuda(std::vector{backward}, kStream);
    EXPECT_TRUE(bitwise_equal(grad_gpu, grad_cpu));
    EXPECT_LT(error_against(bias_grad_gpu, bias_grad_cpu), kTolerance);
  }
}

TEST(EmulatedSoftmax, RunTimeRowsAndGradScaleMatchCpu) {
  Rng rng(15);
  for (int rows : {1, 37, 300}) {
    SCOPED_TRACE("rows " + std::to_string(rows));
    const int bound = 300, classes = 10;
    const int32_t run_time_rows = rows;
    const float run_time_scale = 1.0f / static_cast<float>(rows);
    const std::vector<float> logits = random_nonzero(bound * classes, rng);
    std::vector<int32_t> labels(bound);
    for (int32_t& label : labels) label = static_cast<int32_t>(rng() % classes);
    std::vector<float> grad_cpu = nans(bound * classes), grad_gpu = grad_cpu;
    MetricSums sums_cpu, sums_gpu;
    SoftmaxCrossEntropyProblem p{.rows = bound, .classes = classes, .logits = logits.data(), .labels = labels.data(),
                                 .grad_scale = 0.5f};
    p.dynamic_rows = &run_time_rows;
    p.dynamic_grad_scale = &run_time_scale;
    p.grad = grad_cpu.data();
    p.sums = &sums_cpu;
    softmax_cross_entropy_cpu(std::vector{p});
    p.grad = grad_gpu.data();
    p.sums = &sums_gpu;
    softmax_cross_entropy_cuda(std::vector{p}, kStream);
    EXPECT_TRUE(bitwise_equal(grad_gpu, grad_cpu));
    EXPECT_EQ(sums_gpu.count, rows);
    EXPECT_EQ(sums_gpu.correct, sums_cpu.correct);
    EXPECT_NEAR(sums_gpu.loss_sum, sums_cpu.loss_sum, 1e-9 * std::abs(sums_cpu.loss_sum));
  }
}

TEST(EmulatedGather, RunTimeRowsAndOffsetMatchCpuBitForBit) {
  Rng rng(16);
  const int features = 20, images = 300, bound = 64;
  std::vector<uint8_t> pixels(images * features), image_labels(images);
  for (uint8_t& p : pixels) p = static_cast<uint8_t>(rng());
  for (uint8_t& l : image_labels) l = static_cast<uint8_t>(rng() % 10);
  std::vector<int32_t> order(images);
  for (int i = 0; i < images; ++i) order[i] = (i * 7) % images;
  for (int rows : {1, 29, 64}) {
    SCOPED_TRACE("rows " + std::to_string(rows));
    const int32_t run_time_rows = rows;
    const int64_t offset = 236;  // near the end of the epoch order: the last, short batch
    std::vector<float> out_cpu = nans(bound * features), out_gpu = out_cpu;
    std::vector<int32_t> labels_cpu(bound, -1), labels_gpu(bound, -1);
    GatherProblem g{.rows = bound, .features = features, .images = pixels.data(), .labels = image_labels.data(),
                    .indices = order.data(), .scale = 1.0f / 255.0f, .shift = -0.25f};
    g.dynamic_rows = &run_time_rows;
    g.dynamic_index_offset = &offset;
    g.out = out_cpu.data();
    g.out_labels = labels_cpu.data();
    gather_batch_cpu(std::vector{g});
    g.out = out_gpu.data();
    g.out_labels = labels_gpu.data();
    gather_batch_cuda(std::vector{g}, kStream);
    EXPECT_TRUE(bitwise_equal(out_gpu, out_cpu));
    EXPECT_EQ(labels_gpu, labels_cpu);
    EXPECT_EQ(labels_gpu[rows - 1], image_labels[order[offset + rows - 1]]);
  }
}

TEST(EmulatedOptimizer, RunTimeConstantsMatchCpuBitForBit) {
  Rng rng(17);
  for (OptimizerKind kind : {OptimizerKind::kAdam, OptimizerKind::kAdamW, OptimizerKind::kSgd}) {
    SCOPED_TRACE(std::string(optimizer_name(kind)));
    const int count = 3000;
    const std::vector<float> params = random_nonzero(count, rng), grads = random_nonzero(count, rng),
                             first = random_nonzero(count, rng), second = random_nonzero(count, rng, 0.01f, 1.0f);
    std::vector<float> p_cpu = params, m_cpu = first, v_cpu = second, p_gpu = params, m_gpu = first, v_gpu = second;
    OptimizerSettings settings;
    settings.kind = kind;
    settings.momentum = 0.9f;
    settings.weight_decay = 0.01f;
    // Step 17's at a scheduled rate, not step 1's at the settings' rate.
    const OptimizerStepConstants constants = optimizer_step_constants(settings, 17, 0.25f * settings.learning_rate);
    OptimizerProblem u{.count = count, .grads = grads.data(), .settings = settings, .step = 1};
    u.dynamic_constants = &constants;
    u.params = p_cpu.data();
    u.first_moment = m_cpu.data();
    u.second_moment = v_cpu.data();
    optimizer_update_cpu(std::vector{u});
    u.params = p_gpu.data();
    u.first_moment = m_gpu.data();
    u.second_moment = v_gpu.data();
    optimizer_update_cuda(std::vector{u}, kStream);
    EXPECT_TRUE(bitwise_equal(p_gpu, p_cpu));
    EXPECT_TRUE(bitwise_equal(m_gpu, m_cpu));
    EXPECT_TRUE(bitwise_equal(v_gpu, v_cpu));
  }
}

}  // namespace
}  // namespace gpu_tune::kernels
