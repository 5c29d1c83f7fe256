#include "kernels/gather_batch.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/kernels/kernel_test_utils.h"

namespace gpu_tune::kernels {
namespace {

using test::Rng;
using test::ScopedThreadCount;

constexpr int32_t kLabelGuard = -12345;
constexpr size_t kGuard = 8;  // elements past each output that must stay untouched

struct Dataset {
  int images = 0, features = 0;
  std::vector<uint8_t> pixels, labels;
};

Dataset make_dataset(int images, int features, Rng& rng) {
  Dataset d;
  d.images = images;
  d.features = features;
  std::uniform_int_distribution<int> byte(0, 255);
  for (int64_t i = 0; i < int64_t(images) * features; ++i) d.pixels.push_back(static_cast<uint8_t>(byte(rng)));
  // The extremes appear for certain: 0 and 255 are where a signed or clamped read breaks.
  d.pixels.front() = 255;
  d.pixels.back() = 0;
  // Labels above 127 catch a conversion through a signed char.
  for (int i = 0; i < images; ++i) d.labels.push_back(static_cast<uint8_t>(byte(rng)));
  d.labels.back() = 200;
  return d;
}

struct Batch {
  int rows = 0;
  std::vector<int32_t> indices;
  std::vector<float> out;
  std::vector<int32_t> out_labels;
  float scale = 1.0f / 255.0f, shift = 0.0f;

  GatherProblem problem(const Dataset& d) {
    return {.rows = rows, .features = d.features, .images = d.pixels.data(), .labels = d.labels.data(),
            .indices = indices.data(), .scale = scale, .shift = shift, .out = out.data(),
            .out_labels = out_labels.data()};
  }
};

Batch make_batch(const Dataset& d, int rows, float scale, float shift, Rng& rng) {
  Batch b;
  b.rows = rows;
  b.scale = scale;
  b.shift = shift;
  std::uniform_int_distribution<int32_t> index(0, d.images - 1);
  for (int r = 0; r < rows; ++r) b.indices.push_back(index(rng));
  // The first and last images are where an off-by-one in the row offset shows.
  b.indices.front() = d.images - 1;
  if (rows > 1) b.indices[1] = 0;
  b.out.assign(static_cast<size_t>(rows) * d.features + kGuard, test::quiet_nan());
  b.out_labels.assign(rows + kGuard, kLabelGuard);
  return b;
}

// pixel * scale + shift admits two IEEE results: rounded after the product and after
// the sum, or once (a fused multiply-add). Both are exact evaluations of the formula.
bool is_exact_conversion(float got, uint8_t pixel, float scale, float shift) {
  const float separate = static_cast<float>(pixel) * scale;
  const float two_roundings = separate + shift;
  const float one_rounding = static_cast<float>(std::fma(double(pixel), double(scale), double(shift)));
  return got == two_roundings || got == one_rounding;
}

void expect_gathered(const Batch& b, const Dataset& d) {
  SCOPED_TRACE("rows=" + std::to_string(b.rows) + " features=" + std::to_string(d.features));
  int64_t wrong = 0;
  for (int r = 0; r < b.rows; ++r) {
    const int64_t image = b.indices[r];
    for (int f = 0; f < d.features; ++f) {
      const uint8_t pixel = d.pixels[image * d.features + f];
      wrong += is_exact_conversion(b.out[static_cast<size_t>(r) * d.features + f], pixel, b.scale, b.shift) ? 0 : 1;
    }
    EXPECT_EQ(b.out_labels[r], int32_t(d.labels[image])) << "row " << r;
  }
  EXPECT_EQ(wrong, 0);
  for (size_t g = 0; g < kGuard; ++g) {
    EXPECT_TRUE(std::isnan(b.out[static_cast<size_t>(b.rows) * d.features + g])) << "wrote past the batch";
    EXPECT_EQ(b.out_labels[b.rows + g], kLabelGuard) << "wrote past the labels";
  }
}

TEST(GatherBatchTest, SeveralProblemsGatherTheirOwnRows) {
  Rng rng(500);
  const Dataset mnist_like = make_dataset(97, 784, rng);
  const Dataset narrow = make_dataset(40, 10, rng);
  const Dataset single = make_dataset(5, 1, rng);
  std::vector<Batch> batches{make_batch(mnist_like, 1, 1.0f / 255.0f, 0.0f, rng),
                             make_batch(mnist_like, 100, 1.0f / 255.0f, 0.0f, rng),
                             // Normalising to mean 0.1307, std 0.3081, as MNIST pipelines do.
                             make_batch(mnist_like, 33, 1.0f / (255.0f * 0.3081f), -0.1307f / 0.3081f, rng),
                             make_batch(narrow, 64, 2.0f / 255.0f, -1.0f, rng),
                             make_batch(single, 17, 0.5f, 3.0f, rng)};
  const Dataset* datasets[] = {&mnist_like, &mnist_like, &mnist_like, &narrow, &single};
  ScopedThreadCount threads(8);
  std::vector<GatherProblem> problems;
  for (size_t i = 0; i < batches.size(); ++i) problems.push_back(batches[i].problem(*datasets[i]));
  gather_batch_cpu(problems);
  for (size_t i = 0; i < batches.size(); ++i) expect_gathered(batches[i], *datasets[i]);
}

TEST(GatherBatchTest, DefaultConversionIsPixelOver255) {
  Rng rng(501);
  const Dataset d = make_dataset(20, 30, rng);
  Batch b = make_batch(d, 20, 0.0f, 0.0f, rng);
  GatherProblem p = b.problem(d);
  p.scale = GatherProblem{}.scale;
  p.shift = GatherProblem{}.shift;
  gather_batch_cpu(std::span(&p, 1));
  for (int r = 0; r < b.rows; ++r)
    for (int f = 0; f < d.features; ++f) {
      const double expected = d.pixels[int64_t(b.indices[r]) * d.features + f] / 255.0;
      ASSERT_NEAR(b.out[static_cast<size_t>(r) * d.features + f], expected, 1e-7);
    }
}

TEST(GatherBatchTest, RepeatedIndicesCopyTheSameImage) {
  Rng rng(502);
  const Dataset d = make_dataset(10, 50, rng);
  Batch b = make_batch(d, 6, 1.0f / 255.0f, 0.0f, rng);
  b.indices = {3, 3, 9, 0, 3, 9};
  GatherProblem p = b.problem(d);
  gather_batch_cpu(std::span(&p, 1));
  expect_gathered(b, d);
  for (int f = 0; f < d.features; ++f) {
    EXPECT_EQ(b.out[f], b.out[d.features + f]);
    EXPECT_EQ(b.out[f], b.out[4 * d.features + f]);
  }
}

}  // namespace
}  // namespace gpu_tune::kernels
