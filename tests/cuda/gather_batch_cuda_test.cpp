// The minibatch gather on the GPU against the CPU form: the same bits, for repeated and
// scattered indices, odd row and feature counts, one slot and many.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/gather_batch.h"
#include "tests/cuda/cuda_test_utils.h"

namespace gpu_tune::kernels {
namespace {

using cuda_test::backend;
using cuda_test::to_device;
using test::Rng;

// A dataset in device memory, shared by every problem as the bundle shares its splits.
struct Images {
  int count = 0, features = 0;
  std::vector<uint8_t> pixels, labels;
  DeviceArray<uint8_t> pixels_device, labels_device;
};

Images make_images(int count, int features, Rng& rng) {
  Images d;
  d.count = count;
  d.features = features;
  std::uniform_int_distribution<int> byte(0, 255), label(0, 9);
  for (int i = 0; i < count * features; ++i) d.pixels.push_back(static_cast<uint8_t>(byte(rng)));
  for (int i = 0; i < count; ++i) d.labels.push_back(static_cast<uint8_t>(label(rng)));
  d.pixels_device = to_device(d.pixels);
  d.labels_device = to_device(d.labels);
  return d;
}

struct GatherCase {
  int rows = 0;
  float scale = 1.0f / 255.0f, shift = 0.0f;
  std::vector<int32_t> indices;
  std::vector<float> out_cpu;
  std::vector<int32_t> labels_cpu;
  DeviceArray<int32_t> indices_device, labels_device;
  DeviceArray<float> out_device;
};

GatherCase make_case(const Images& d, int rows, float scale, float shift, Rng& rng) {
  GatherCase g;
  g.rows = rows;
  g.scale = scale;
  g.shift = shift;
  std::uniform_int_distribution<int> index(0, d.count - 1);
  for (int r = 0; r < rows; ++r) g.indices.push_back(index(rng));  // repeats allowed
  g.out_cpu.assign(static_cast<size_t>(rows) * d.features, test::quiet_nan());
  g.labels_cpu.assign(static_cast<size_t>(rows), -1);
  GatherProblem cpu{rows, d.features, d.pixels.data(), d.labels.data(), g.indices.data(), scale, shift,
                    g.out_cpu.data(), g.labels_cpu.data()};
  gather_batch_cpu(std::span(&cpu, 1));
  g.indices_device = to_device(g.indices);
  g.out_device = to_device(std::vector<float>(std::max<size_t>(g.out_cpu.size(), 1), test::quiet_nan()));  // poison
  g.labels_device = to_device(std::vector<int32_t>(std::max(rows, 1), -1));
  return g;
}

GatherProblem device_problem(const Images& d, GatherCase& g) {
  return {g.rows, d.features, d.pixels_device.data(), d.labels_device.data(), g.indices_device.data(),
          g.scale, g.shift, g.out_device.data(), g.labels_device.data()};
}

// One rounding per operation on both sides: the same bits, not merely close values.
void expect_same_bits(const GatherCase& g) {
  SCOPED_TRACE("rows=" + std::to_string(g.rows) + " scale=" + std::to_string(g.scale) +
               " shift=" + std::to_string(g.shift));
  std::vector<float> out = g.out_device.download();
  std::vector<int32_t> labels = g.labels_device.download();
  out.resize(g.out_cpu.size());
  labels.resize(g.labels_cpu.size());
  EXPECT_TRUE(test::bitwise_equal(out, g.out_cpu));
  EXPECT_EQ(labels, g.labels_cpu);
}

TEST(GatherBatchCudaTest, EachShapeAloneGivesTheCpuBits) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(6001);
  for (int features : {1, 7, 33, 257, 784}) {
    const Images d = make_images(301, features, rng);
    for (int rows : {1, 7, 8, 9, 64, 257, 1000}) {
      // Plain [0, 1] scaling and a standardisation with a negative shift.
      for (const auto& [scale, shift] : {std::pair{1.0f / 255.0f, 0.0f}, std::pair{1.0f / (255.0f * 0.353f), -0.286f / 0.353f}}) {
        GatherCase g = make_case(d, rows, scale, shift, rng);
        std::vector<GatherProblem> one{device_problem(d, g)};
        gather_batch_cuda(one, backend().stream());
        backend().synchronize();
        expect_same_bits(g);
      }
    }
  }
}

TEST(GatherBatchCudaTest, ThirtySevenSlotsInOneCall) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(6002);
  const Images d = make_images(500, 784, rng);
  std::uniform_int_distribution<int> rows(1, 300);
  std::vector<GatherCase> cases;
  for (int i = 0; i < 37; ++i) cases.push_back(make_case(d, rows(rng), 1.0f / 255.0f, i % 2 ? -0.5f : 0.0f, rng));
  std::vector<GatherProblem> problems;
  for (GatherCase& g : cases) problems.push_back(device_problem(d, g));
  gather_batch_cuda(problems, backend().stream());
  backend().synchronize();
  for (const GatherCase& g : cases) expect_same_bits(g);
}

TEST(GatherBatchCudaTest, MoreSlotsThanOneLaunchHoldsWithEmptyOnes) {
  GPU_TUNE_REQUIRE_GPU();
  Rng rng(6003);
  const Images d = make_images(200, 33, rng);
  std::uniform_int_distribution<int> rows(0, 20);
  std::vector<GatherCase> cases;
  for (int i = 0; i < 300; ++i) cases.push_back(make_case(d, rows(rng), 1.0f / 255.0f, 0.0f, rng));
  std::vector<GatherProblem> problems;
  for (GatherCase& g : cases) problems.push_back(device_problem(d, g));
  gather_batch_cuda(problems, backend().stream());
  backend().synchronize();
  for (const GatherCase& g : cases) expect_same_bits(g);
}

// Host-side checks run before anything touches the GPU, so they need none.
TEST(GatherBatchCudaValidationTest, RejectsMalformedProblemsBeforeLaunching) {
  GatherProblem null_indices{.rows = 4, .features = 5};
  EXPECT_THROW(gather_batch_cuda(std::vector{null_indices}, nullptr), std::invalid_argument);
  GatherProblem negative{.rows = -1};
  try {
    gather_batch_cuda(std::vector{GatherProblem{}, negative}, nullptr);
    ADD_FAILURE() << "no std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("problem 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gpu_tune::kernels
