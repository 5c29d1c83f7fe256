// The optimizer step on the GPU against the CPU form over several steps (bias correction
// changes with each), for every optimizer and its options, one problem and many.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/optimizer_update.h"
#include "tests/cuda/cuda_test_utils.h"

namespace gpu_tune::kernels {
namespace {

using cuda_test::backend;
using cuda_test::kFp32Tolerance;
using cuda_test::to_device;
using test::relative_l2_error;
using test::Rng;

constexpr int kSteps = 6;

std::vector<OptimizerSettings> all_settings() {
  auto make = [](OptimizerKind kind, float lr, float weight_decay, float momentum, bool nesterov) {
    OptimizerSettings s;
    s.kind = kind;
    s.learning_rate = lr;
    s.weight_decay = weight_decay;
    s.momentum = momentum;
    s.nesterov = nesterov;
    return s;
  };
  OptimizerSettings odd_betas = make(OptimizerKind::kAdam, 3e-3f, 0.0f, 0.0f, false);
  odd_betas.beta1 = 0.8f;
  odd_betas.beta2 = 0.95f;
  odd_betas.epsilon = 1e-6f;
  return {
      make(OptimizerKind::kAdam, 1e-3f, 0.0f, 0.0f, false),  make(OptimizerKind::kAdam, 1e-2f, 1e-2f, 0.0f, false),
      make(OptimizerKind::kAdamW, 1e-3f, 1e-2f, 0.0f, false), make(OptimizerKind::kSgd, 1e-1f, 0.0f, 0.0f, false),
      make(OptimizerKind::kSgd, 5e-2f, 1e-3f, 0.9f, false),   make(OptimizerKind::kSgd, 5e-2f, 0.0f, 0.9f, true),
      odd_betas,
  };
}

std::string describe(const OptimizerSettings& s, int64_t count) {
  return std::string(optimizer_name(s.kind)) + " lr=" + std::to_string(s.learning_rate) +
         " wd=" + std::to_string(s.weight_decay) + " momentum=" + std::to_string(s.momentum) +
         (s.nesterov ? " nesterov" : "") + " count=" + std::to_string(count);
}

// One slot's parameters and state on both sides; each step draws fresh gradients.
struct OptimizerCase {
  OptimizerSettings settings;
  int64_t count = 0;
  bool with_second_moment = true;
  std::vector<float> params, grads, m, v;  // the CPU side
  DeviceArray<float> params_device, grads_device, m_device, v_device;

  OptimizerProblem cpu_problem(int64_t step) {
    return {count, params.data(), grads.data(), m.data(), with_second_moment ? v.data() : nullptr, settings, step};
  }
  OptimizerProblem device_problem(int64_t step) {
    return {count, params_device.data(), grads_device.data(), m_device.data(),
            with_second_moment ? v_device.data() : nullptr, settings, step};
  }
};

OptimizerCase make_case(const OptimizerSettings& s, int64_t count, Rng& rng) {
  OptimizerCase c;
  c.settings = s;
  c.count = count;
  // SGD has no second moment; give it none, as a caller may.
  c.with_second_moment = s.kind != OptimizerKind::kSgd;
  const size_t n = static_cast<size_t>(count);
  c.params = test::random_nonzero(n, rng);
  c.m = std::vector<float>(n, 0.0f);  // optimizer state starts at zero, as in a new slot
  c.v = std::vector<float>(n, 0.0f);
  c.params_device = to_device(c.params);
  c.m_device = to_device(c.m);
  c.v_device = to_device(c.v);
  c.grads_device = DeviceArray<float>(backend(), std::max<size_t>(n, 1));
  return c;
}

void new_gradients(OptimizerCase& c, Rng& rng) {
  c.grads = test::random_nonzero(static_cast<size_t>(c.count), rng, 1e-3f, 1.0f);
  c.grads_device.upload(c.grads);
}

void expect_matches_cpu(const OptimizerCase& c, int step) {
  SCOPED_TRACE(describe(c.settings, c.count) + " after step " + std::to_string(step));
  auto download = [&](const DeviceArray<float>& a) {
    std::vector<float> host = a.download();
    host.resize(static_cast<size_t>(c.count));
    return host;
  };
  EXPECT_LT(relative_l2_error(download(c.params_device), cuda_test::as_double(c.params)), kFp32Tolerance) << "params";
  if (c.settings.kind != OptimizerKind::kSgd || c.settings.momentum != 0.0f) {
    EXPECT_LT(relative_l2_error(download(c.m_device), cuda_test::as_double(c.m)), kFp32Tolerance) << "first moment";
  }
  if (c.with_second_moment) {
    EXPECT_LT(relative_l2_error(download(c.v_device), cuda_test::as_double(c.v)), kFp32Tolerance) << "second moment";
  }
}

void run_steps(std::vector<OptimizerCase>& cases, Rng& rng) {
  for (int step = 1; step <= kSteps; ++step) {
    std::vector<OptimizerProblem> cpu, gpu;
    for (OptimizerCase& c : cases) {
      new_gradients(c, rng);
      cpu.push_back(c.cpu_problem(step));
      gpu.push_back(c.device_problem(step));
    }
    optimizer_update_cpu(cpu);
    optimizer_update_cuda(gpu, backend().stream());
    backend().synchronize();
    for (const OptimizerCase& c : cases) expect_matches_cpu(c, step);
  }
}

TEST(OptimizerUpdateCudaTest, EachOptimizerAloneOverSeveralSteps) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(5001);
  for (const OptimizerSettings& s : all_settings())
    for (int64_t count : {int64_t(1), int64_t(7), int64_t(1023), int64_t(1025), int64_t(100003)}) {
      std::vector<OptimizerCase> one;
      one.push_back(make_case(s, count, rng));
      run_steps(one, rng);
    }
}

TEST(OptimizerUpdateCudaTest, ThirtySevenSlotsInOneCall) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(5002);
  const std::vector<OptimizerSettings> settings = all_settings();
  const int64_t counts[] = {1, 7, 33, 100, 257, 784, 4099, 79510};
  std::vector<OptimizerCase> cases;
  for (int i = 0; i < 37; ++i) cases.push_back(make_case(settings[i % settings.size()], counts[(i * 5) % 8], rng));
  run_steps(cases, rng);
}

TEST(OptimizerUpdateCudaTest, MoreSlotsThanOneLaunchHolds) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(5003);
  const std::vector<OptimizerSettings> settings = all_settings();
  std::uniform_int_distribution<int64_t> count(1, 3000);
  std::vector<OptimizerCase> cases;
  for (int i = 0; i < 250; ++i) cases.push_back(make_case(settings[i % settings.size()], count(rng), rng));
  run_steps(cases, rng);
}

// A learning-rate schedule: each step's constants (at a falling rate) sit in device memory
// and the kernel reads them when it runs, as a replayed CUDA graph's update does.
TEST(OptimizerUpdateCudaTest, RunTimeConstantsAtAScheduledRate) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(5005);
  std::vector<OptimizerCase> cases;
  for (const OptimizerSettings& s : all_settings()) cases.push_back(make_case(s, 1025, rng));
  DeviceArray<OptimizerStepConstants> constants_device(backend(), cases.size());
  for (int step = 1; step <= kSteps; ++step) {
    std::vector<OptimizerStepConstants> constants;
    for (const OptimizerCase& c : cases)
      constants.push_back(optimizer_step_constants(c.settings, step, c.settings.learning_rate / float(step)));
    constants_device.upload(constants);
    std::vector<OptimizerProblem> cpu, gpu;
    for (size_t i = 0; i < cases.size(); ++i) {
      new_gradients(cases[i], rng);
      cpu.push_back(cases[i].cpu_problem(1));  // the step given is ignored beside run-time constants
      cpu.back().dynamic_constants = &constants[i];
      gpu.push_back(cases[i].device_problem(1));
      gpu.back().dynamic_constants = constants_device.data() + i;
    }
    optimizer_update_cpu(cpu);
    optimizer_update_cuda(gpu, backend().stream());
    backend().synchronize();
    for (const OptimizerCase& c : cases) expect_matches_cpu(c, step);
  }
}

// A slot whose update overflows turns non-finite alone; its neighbours are untouched.
TEST(OptimizerUpdateCudaTest, OverflowStaysInItsSlot) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(5004);
  OptimizerSettings huge;
  huge.kind = OptimizerKind::kSgd;
  huge.learning_rate = 1e30f;
  std::vector<OptimizerCase> cases;
  cases.push_back(make_case(all_settings()[0], 513, rng));
  cases.push_back(make_case(huge, 513, rng));
  cases.push_back(make_case(all_settings()[2], 513, rng));
  for (int step = 1; step <= 3; ++step) {
    std::vector<OptimizerProblem> cpu, gpu;
    for (OptimizerCase& c : cases) {
      c.grads = std::vector<float>(513, 1e10f);
      c.grads_device.upload(c.grads);
      cpu.push_back(c.cpu_problem(step));
      gpu.push_back(c.device_problem(step));
    }
    optimizer_update_cpu(cpu);
    optimizer_update_cuda(gpu, backend().stream());
    backend().synchronize();
  }
  const std::vector<float> diverged = cases[1].params_device.download();
  EXPECT_FALSE(std::isfinite(diverged[0]));
  expect_matches_cpu(cases[0], 3);
  expect_matches_cpu(cases[2], 3);
}

// Host-side checks run before anything touches the GPU, so they need none.
TEST(OptimizerUpdateCudaValidationTest, RejectsMalformedProblemsBeforeLaunching) {
  std::vector<float> buffer(8, 1.0f);
  OptimizerProblem adam{8, buffer.data(), buffer.data(), buffer.data(), nullptr, OptimizerSettings{}, 1};
  EXPECT_THROW(optimizer_update_cuda(std::vector{adam}, nullptr), std::invalid_argument);  // no second moment
  OptimizerProblem step0 = adam;
  step0.second_moment = buffer.data();
  step0.step = 0;
  EXPECT_THROW(optimizer_update_cuda(std::vector{step0}, nullptr), std::invalid_argument);
  OptimizerProblem null_params = step0;
  null_params.step = 1;
  null_params.params = nullptr;
  try {
    optimizer_update_cuda(std::vector{OptimizerProblem{}, null_params}, nullptr);
    ADD_FAILURE() << "no std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("problem 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gpu_tune::kernels
