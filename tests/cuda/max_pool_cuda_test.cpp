// Max-pooling's CUDA forms against its CPU forms, bit for bit (a maximum rounds nothing):
// odd and even image sizes (an odd last row or column is dropped), 1..64 channels, ties
// and NaN in windows, one problem and many in one call, run-time image counts below the
// bound. Outputs start as NaN: the backward pass must write every input_grad element of
// the run-time images, and nothing beyond them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/max_pool.h"
#include "tests/cuda/cuda_test_utils.h"

namespace gpu_tune::kernels {
namespace {

using cuda_test::backend;
using cuda_test::to_device;
using test::bitwise_equal;
using test::Rng;

struct PoolSpec {
  int images = 1;  // the bound
  PoolGeometry geometry;
  int run_time_images = -1;  // passed as dynamic_images when >= 0

  int effective_images() const { return run_time_images < 0 ? images : std::min(images, run_time_images); }
};

std::string describe(const PoolSpec& s) {
  const PoolGeometry& g = s.geometry;
  std::string text = std::to_string(s.images) + " x " + std::to_string(g.height) + "x" + std::to_string(g.width) +
                     "x" + std::to_string(g.channels);
  if (s.run_time_images >= 0) text += ", run-time images " + std::to_string(s.run_time_images);
  return text;
}

PoolSpec spec(int images, int height, int width, int channels) { return {images, PoolGeometry{height, width, channels}}; }

std::vector<PoolSpec> shape_specs() {
  return {spec(1, 2, 2, 1),   spec(3, 5, 7, 3),   spec(1, 9, 9, 32), spec(3, 28, 28, 1),
          spec(5, 14, 14, 33), spec(1, 3, 2, 64), spec(2, 7, 5, 64), spec(3, 9, 9, 3)};
}

// Inputs drawn from few distinct values, so that windows hold ties (the first maximum
// wins) and, with `nans`, some NaN (a NaN wins).
std::vector<float> pool_input(size_t n, Rng& rng, bool nans) {
  std::uniform_int_distribution<int> level(-3, 3);
  std::bernoulli_distribution nan(nans ? 0.02 : 0.0);
  std::vector<float> values(n);
  for (float& v : values) v = nan(rng) ? test::quiet_nan() : 0.5f * static_cast<float>(level(rng));
  return values;
}

struct PoolCase {
  PoolSpec spec;
  std::vector<float> x, dy, y_cpu, dx_cpu;
  DeviceArray<float> x_device, dy_device, y_device, dx_device;
  DeviceArray<int32_t> images_device;

  const PoolGeometry& g() const { return spec.geometry; }
  const int32_t* dynamic_images() const { return spec.run_time_images >= 0 ? images_device.data() : nullptr; }
  MaxPoolForward forward() const { return {spec.images, g(), x_device.data(), y_device.data(), dynamic_images()}; }
  MaxPoolBackward backward() const {
    return {spec.images, g(), x_device.data(), dy_device.data(), dx_device.data(), dynamic_images()};
  }
};

DeviceArray<float> nan_device_array(int64_t count) {
  return to_device(std::vector<float>(static_cast<size_t>(std::max<int64_t>(count, 1)), test::quiet_nan()));
}

PoolCase make_case(const PoolSpec& s, Rng& rng, bool nans = false) {
  PoolCase c;
  c.spec = s;
  const PoolGeometry& g = s.geometry;
  c.x = pool_input(static_cast<size_t>(s.images * g.input_size()), rng, nans);
  c.dy = test::random_nonzero(static_cast<size_t>(s.images * g.output_size()), rng);
  const int n = s.effective_images();
  c.y_cpu.assign(static_cast<size_t>(n * g.output_size()), test::quiet_nan());
  c.dx_cpu.assign(static_cast<size_t>(n * g.input_size()), test::quiet_nan());
  const MaxPoolForward forward{n, g, c.x.data(), c.y_cpu.data()};
  const MaxPoolBackward backward{n, g, c.x.data(), c.dy.data(), c.dx_cpu.data()};
  max_pool_forward_cpu(std::span(&forward, 1));
  max_pool_backward_cpu(std::span(&backward, 1));
  c.x_device = to_device(c.x);
  c.dy_device = to_device(c.dy);
  c.y_device = nan_device_array(s.images * g.output_size());
  c.dx_device = nan_device_array(s.images * g.input_size());
  c.images_device = to_device(std::vector<int32_t>{std::max(s.run_time_images, 0)});
  return c;
}

std::vector<PoolCase> make_cases(const std::vector<PoolSpec>& specs, Rng& rng, bool nans = false) {
  std::vector<PoolCase> cases;
  for (const PoolSpec& s : specs) cases.push_back(make_case(s, rng, nans));
  return cases;
}

void run_on_gpu(const std::vector<PoolCase>& cases) {
  std::vector<MaxPoolForward> forward;
  std::vector<MaxPoolBackward> backward;
  for (const PoolCase& c : cases) {
    forward.push_back(c.forward());
    backward.push_back(c.backward());
  }
  max_pool_forward_cuda(forward, backend().stream());
  max_pool_backward_cuda(backward, backend().stream());
  backend().synchronize();
}

// The run-time images' part bit for bit as the CPU's; the rest still the NaN poison.
void expect_bitwise(const DeviceArray<float>& device, const std::vector<float>& cpu, int64_t bound_count,
                    const char* what) {
  std::vector<float> values = device.download();
  values.resize(static_cast<size_t>(bound_count));
  const std::vector<float> head(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(cpu.size()));
  EXPECT_TRUE(bitwise_equal(head, cpu)) << what;
  size_t written_beyond = 0;
  for (size_t i = cpu.size(); i < values.size(); ++i) written_beyond += std::isnan(values[i]) ? 0 : 1;
  EXPECT_EQ(written_beyond, 0u) << what << " written beyond the run-time images";
}

void expect_matches(const PoolCase& c) {
  SCOPED_TRACE(describe(c.spec));
  expect_bitwise(c.y_device, c.y_cpu, c.spec.images * c.g().output_size(), "output");
  expect_bitwise(c.dx_device, c.dx_cpu, c.spec.images * c.g().input_size(), "input_grad");
  // A CPU reference that itself left NaN would make the comparison above vacuous.
  for (float v : c.dx_cpu) ASSERT_FALSE(std::isnan(v)) << "the CPU form left an input_grad element unwritten";
}

TEST(MaxPoolCudaTest, EachShapeAloneMatchesCpuBitForBit) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(6001);
  for (const PoolSpec& s : shape_specs()) {
    std::vector<PoolCase> one;
    one.push_back(make_case(s, rng));
    run_on_gpu(one);
    expect_matches(one[0]);
  }
}

TEST(MaxPoolCudaTest, ManyShapesInOneCallMatchCpuBitForBit) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(6002);
  const std::vector<PoolCase> cases = make_cases(shape_specs(), rng);
  run_on_gpu(cases);
  for (const PoolCase& c : cases) expect_matches(c);
}

// A NaN is its window's maximum (so a diverging slot's NaN reaches its loss), and the
// gradient goes to the first NaN; the forward output carries it.
TEST(MaxPoolCudaTest, NanInAWindowWinsAsOnTheCpu) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(6003);
  const std::vector<PoolCase> cases = make_cases(shape_specs(), rng, /*nans=*/true);
  run_on_gpu(cases);
  size_t nan_outputs = 0;
  for (const PoolCase& c : cases) {
    for (float v : c.y_cpu) nan_outputs += std::isnan(v) ? 1 : 0;
    // NaN outputs are compared by bits, like every other element.
    SCOPED_TRACE(describe(c.spec));
    std::vector<float> y = c.y_device.download();
    y.resize(c.y_cpu.size());
    EXPECT_TRUE(bitwise_equal(y, c.y_cpu)) << "output";
    std::vector<float> dx = c.dx_device.download();
    dx.resize(c.dx_cpu.size());
    EXPECT_TRUE(bitwise_equal(dx, c.dx_cpu)) << "input_grad";
  }
  EXPECT_GT(nan_outputs, 0u) << "the inputs put no NaN in any window";
}

TEST(MaxPoolCudaTest, RunTimeImagesBelowTheBound) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(6004);
  std::vector<PoolSpec> specs = {spec(5, 9, 9, 3), spec(4, 28, 28, 1), spec(3, 5, 7, 33), spec(2, 14, 14, 64)};
  const int run_time[] = {2, 1, 0, 9};
  for (size_t i = 0; i < specs.size(); ++i) specs[i].run_time_images = run_time[i];
  const std::vector<PoolCase> cases = make_cases(specs, rng);
  run_on_gpu(cases);
  for (const PoolCase& c : cases) expect_matches(c);
}

// More problems than one launch's parameters hold.
TEST(MaxPoolCudaTest, MoreProblemsThanOneLaunchHolds) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(6005);
  std::uniform_int_distribution<int> size(2, 9), channels(1, 5), images(1, 3);
  std::vector<PoolSpec> specs;
  for (int i = 0; i < 200; ++i) specs.push_back(spec(images(rng), size(rng), size(rng), channels(rng)));
  const std::vector<PoolCase> cases = make_cases(specs, rng);
  run_on_gpu(cases);
  for (const PoolCase& c : cases) expect_matches(c);
}

TEST(MaxPoolCudaTest, BackendMethodsMatchCpu) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(6006);
  const std::vector<PoolCase> cases = make_cases({spec(3, 5, 7, 3), spec(1, 14, 14, 32)}, rng);
  std::vector<MaxPoolForward> forward;
  std::vector<MaxPoolBackward> backward;
  for (const PoolCase& c : cases) {
    forward.push_back(c.forward());
    backward.push_back(c.backward());
  }
  CudaBackend& b = backend();
  b.max_pool_forward({});
  b.max_pool_backward({});
  b.max_pool_forward(forward);
  b.max_pool_backward(backward);
  b.synchronize();
  for (const PoolCase& c : cases) expect_matches(c);
}

// Host-side checks run before anything touches the GPU, so they need none.
TEST(MaxPoolCudaValidationTest, RejectsMalformedProblemsBeforeLaunching) {
  auto expect_rejected = [](auto run, const std::string& problem) {
    try {
      run();
      ADD_FAILURE() << "no std::invalid_argument";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(problem), std::string::npos) << e.what();
    }
  };
  float dummy = 0.0f;
  const MaxPoolForward ok{1, PoolGeometry{4, 4, 2}, &dummy, &dummy};
  MaxPoolForward too_narrow = ok;
  too_narrow.geometry.width = 1;
  expect_rejected([&] { max_pool_forward_cuda(std::vector{ok, too_narrow}, nullptr); }, "max_pool_forward problem 1");
  MaxPoolBackward null_grad{1, PoolGeometry{4, 4, 2}, &dummy, &dummy, nullptr};
  expect_rejected([&] { max_pool_backward_cuda(std::vector{null_grad}, nullptr); }, "max_pool_backward problem 0");
  MaxPoolBackward negative{-2, PoolGeometry{4, 4, 2}, &dummy, &dummy, &dummy};
  expect_rejected([&] { max_pool_backward_cuda(std::vector{negative}, nullptr); }, "max_pool_backward problem 0");
}

}  // namespace
}  // namespace gpu_tune::kernels
