// 2x2 max-pooling's CPU forms against a direct loop over the windows. Pooling rounds
// nothing, so every comparison is bit for bit.
#include "kernels/max_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/kernels/kernel_test_utils.h"

namespace gpu_tune::kernels {
namespace {

using test::bitwise_equal;
using test::Rng;
using test::ScopedThreadCount;

constexpr float kInf = std::numeric_limits<float>::infinity();

struct PoolSpec {
  int images = 1;
  int height = 0, width = 0, channels = 0;
};

// ---- the direct loop ------------------------------------------------------------------

// The header's rule restated: the first NaN in the window if there is one, otherwise the
// first element equal to the maximum, in the order (0,0), (0,1), (1,0), (1,1).
int reference_winner(const float v[4]) {
  for (int i = 0; i < 4; ++i)
    if (std::isnan(v[i])) return i;
  int best = 0;
  for (int i = 1; i < 4; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

// Calls visit(output_index, input_index_of_winner) for every window of every image.
template <typename Visit>
void for_each_window(const PoolGeometry& g, int images, const std::vector<float>& input, const Visit& visit) {
  auto at = [&](int n, int h, int w, int c) { return ((int64_t(n) * g.height + h) * g.width + w) * g.channels + c; };
  for (int n = 0; n < images; ++n)
    for (int oh = 0; oh < g.out_height(); ++oh)
      for (int ow = 0; ow < g.out_width(); ++ow)
        for (int c = 0; c < g.channels; ++c) {
          const int64_t index[4] = {at(n, 2 * oh, 2 * ow, c), at(n, 2 * oh, 2 * ow + 1, c),
                                    at(n, 2 * oh + 1, 2 * ow, c), at(n, 2 * oh + 1, 2 * ow + 1, c)};
          const float v[4] = {input[index[0]], input[index[1]], input[index[2]], input[index[3]]};
          visit(((int64_t(n) * g.out_height() + oh) * g.out_width() + ow) * g.channels + c, index[reference_winner(v)]);
        }
}

std::vector<float> reference_forward(const PoolGeometry& g, int images, const std::vector<float>& input) {
  std::vector<float> output(static_cast<size_t>(images * g.output_size()));
  for_each_window(g, images, input, [&](int64_t out, int64_t winner) { output[out] = input[winner]; });
  return output;
}

std::vector<float> reference_backward(const PoolGeometry& g, int images, const std::vector<float>& input,
                                      const std::vector<float>& output_grad) {
  std::vector<float> input_grad(static_cast<size_t>(images * g.input_size()), 0.0f);
  for_each_window(g, images, input, [&](int64_t out, int64_t winner) { input_grad[winner] = output_grad[out]; });
  return input_grad;
}

// ---- cases --------------------------------------------------------------------------

struct PoolCase {
  int images = 0;
  PoolGeometry geometry;
  std::vector<float> input, output_grad;  // operands
  std::vector<float> output, input_grad;  // results, NaN before every run

  MaxPoolForward forward() { return {.images = images, .geometry = geometry, .input = input.data(), .output = output.data()}; }
  MaxPoolBackward backward() {
    return {.images = images, .geometry = geometry, .input = input.data(), .output_grad = output_grad.data(),
            .input_grad = input_grad.data()};
  }
  void poison() {
    std::fill(output.begin(), output.end(), test::quiet_nan());
    std::fill(input_grad.begin(), input_grad.end(), test::quiet_nan());
  }
  std::string describe() const {
    return "images=" + std::to_string(images) + " " + std::to_string(geometry.height) + "x" +
           std::to_string(geometry.width) + "x" + std::to_string(geometry.channels);
  }
};

// Small integers make ties common, which is where "first maximum" is tested; continuous
// values test that the maximum, not just some element, is taken.
PoolCase make_case(const PoolSpec& s, Rng& rng, bool with_ties) {
  PoolCase c;
  c.images = s.images;
  c.geometry = PoolGeometry{.height = s.height, .width = s.width, .channels = s.channels};
  const size_t inputs = static_cast<size_t>(s.images * c.geometry.input_size());
  c.input = test::random_nonzero(inputs, rng);
  if (with_ties)
    for (float& x : c.input) x = std::round(x * 2.0f);  // -2 .. 2, signed zeros included
  c.output_grad = test::random_nonzero(static_cast<size_t>(s.images * c.geometry.output_size()), rng);
  c.output.resize(c.output_grad.size());
  c.input_grad.resize(inputs);
  c.poison();
  return c;
}

void run_both(std::vector<PoolCase>& cases) {
  std::vector<MaxPoolForward> forward;
  std::vector<MaxPoolBackward> backward;
  for (PoolCase& c : cases) {
    c.poison();
    forward.push_back(c.forward());
    backward.push_back(c.backward());
  }
  max_pool_forward_cpu(forward);
  max_pool_backward_cpu(backward);
}

void expect_matches_reference(const PoolCase& c) {
  SCOPED_TRACE(c.describe());
  EXPECT_TRUE(bitwise_equal(c.output, reference_forward(c.geometry, c.images, c.input))) << "forward";
  EXPECT_TRUE(bitwise_equal(c.input_grad, reference_backward(c.geometry, c.images, c.input, c.output_grad)))
      << "backward";
}

// ---- tests --------------------------------------------------------------------------

TEST(MaxPoolTest, MatchesDirectLoopOnOddSizesInOneCall) {
  Rng rng(4100);
  const std::vector<PoolSpec> specs{{1, 5, 7, 3}, {3, 9, 9, 1}, {2, 28, 28, 32}, {4, 2, 2, 1},
                                    {2, 3, 2, 5}, {1, 6, 4, 2}, {2, 7, 3, 3},   {1, 2, 9, 4}};
  std::vector<PoolCase> cases;
  for (size_t i = 0; i < specs.size(); ++i) cases.push_back(make_case(specs[i], rng, /*with_ties=*/i % 2 == 1));
  for (int threads : {1, 3, 8}) {
    SCOPED_TRACE("threads=" + std::to_string(threads));
    ScopedThreadCount scoped(threads);
    run_both(cases);
    for (const PoolCase& c : cases) expect_matches_reference(c);
  }
}

// One window per channel of a 2 x 2 image: the four values and the position that must win.
struct WindowCase {
  float v[4];
  int winner;
};

void expect_winners(const std::vector<WindowCase>& windows) {
  PoolCase c;
  c.images = 1;
  c.geometry = PoolGeometry{.height = 2, .width = 2, .channels = static_cast<int>(windows.size())};
  const int channels = c.geometry.channels;
  c.input.resize(4 * windows.size());
  for (int ch = 0; ch < channels; ++ch)
    for (int i = 0; i < 4; ++i) c.input[i * channels + ch] = windows[ch].v[i];  // pixel i, channel ch
  for (int ch = 0; ch < channels; ++ch) c.output_grad.push_back(10.0f + ch);
  c.output.resize(windows.size());
  c.input_grad.resize(c.input.size());
  std::vector<PoolCase> one{c};
  run_both(one);
  for (int ch = 0; ch < channels; ++ch) {
    const WindowCase& w = windows[ch];
    SCOPED_TRACE("window " + std::to_string(ch) + ": " + std::to_string(w.v[0]) + " " + std::to_string(w.v[1]) + " " +
                 std::to_string(w.v[2]) + " " + std::to_string(w.v[3]));
    // Bits, not values: the winner's NaN or signed zero is what comes out.
    EXPECT_TRUE(bitwise_equal(std::span(&one[0].output[ch], 1), std::span(&w.v[w.winner], 1)));
    for (int i = 0; i < 4; ++i) {
      const float expected = i == w.winner ? 10.0f + ch : 0.0f;
      EXPECT_TRUE(bitwise_equal(std::span(&one[0].input_grad[i * channels + ch], 1), std::span(&expected, 1)))
          << "gradient at " << i << " is " << one[0].input_grad[i * channels + ch];
    }
  }
}

TEST(MaxPoolTest, TiesGoToTheFirstMaximum) {
  expect_winners({
      {{1.0f, 1.0f, 1.0f, 1.0f}, 0},
      {{0.0f, 2.0f, 1.0f, 2.0f}, 1},
      {{0.0f, 1.0f, 3.0f, 3.0f}, 2},
      {{-1.0f, -1.0f, -1.0f, -0.5f}, 3},
      {{-0.0f, 0.0f, -1.0f, -1.0f}, 0},  // equal zeros: the first, sign and all
      {{0.0f, -0.0f, -1.0f, -1.0f}, 0},
      {{-kInf, -kInf, -kInf, -kInf}, 0},
      {{-2.0f, kInf, kInf, 3.0f}, 1},
  });
}

TEST(MaxPoolTest, NanIsTheMaximumAndTakesTheGradient) {
  const float nan = test::quiet_nan();
  expect_winners({
      {{nan, 1.0f, 2.0f, 3.0f}, 0},
      {{1.0f, nan, 5.0f, 2.0f}, 1},
      {{kInf, 1.0f, 1.0f, nan}, 3},
      {{1.0f, 2.0f, nan, nan}, 2},  // the first NaN
      {{-kInf, nan, -kInf, -kInf}, 1},
  });
}

TEST(MaxPoolTest, OddTrailingRowAndColumnBelongToNoWindow) {
  Rng rng(4101);
  PoolCase c = make_case({2, 5, 7, 3}, rng, false);
  const PoolGeometry& g = c.geometry;
  // Every element of the last row or column, by index.
  std::vector<int64_t> trailing;
  for (int n = 0; n < c.images; ++n)
    for (int h = 0; h < g.height; ++h)
      for (int w = 0; w < g.width; ++w) {
        if (h != g.height - 1 && w != g.width - 1) continue;
        for (int ch = 0; ch < g.channels; ++ch) trailing.push_back(((int64_t(n) * g.height + h) * g.width + w) * g.channels + ch);
      }
  // They hold the largest values: a window reaching them would pick them.
  for (int64_t e : trailing) c.input[e] = 100.0f;
  std::vector<PoolCase> one{c};
  run_both(one);
  expect_matches_reference(one[0]);
  EXPECT_TRUE(std::none_of(one[0].output.begin(), one[0].output.end(), [](float x) { return x == 100.0f; }));
  for (int64_t e : trailing) EXPECT_EQ(one[0].input_grad[e], 0.0f) << "element " << e;
}

TEST(MaxPoolDynamicImagesTest, TouchesOnlyTheRunTimeImages) {
  Rng rng(4102);
  PoolCase c = make_case({5, 9, 7, 4}, rng, true);
  const int32_t run_time_images = 2;
  MaxPoolForward forward = c.forward();
  MaxPoolBackward backward = c.backward();
  forward.dynamic_images = backward.dynamic_images = &run_time_images;
  max_pool_forward_cpu(std::span(&forward, 1));
  max_pool_backward_cpu(std::span(&backward, 1));

  const PoolGeometry& g = c.geometry;
  const int64_t outputs = run_time_images * g.output_size(), inputs = run_time_images * g.input_size();
  EXPECT_TRUE(bitwise_equal(std::span(c.output).first(outputs), reference_forward(g, run_time_images, c.input)));
  EXPECT_TRUE(bitwise_equal(std::span(c.input_grad).first(inputs),
                            reference_backward(g, run_time_images, c.input, c.output_grad)));
  auto all_nan = [](std::span<const float> v) { return std::all_of(v.begin(), v.end(), [](float x) { return std::isnan(x); }); };
  EXPECT_TRUE(all_nan(std::span(c.output).subspan(outputs)));
  EXPECT_TRUE(all_nan(std::span(c.input_grad).subspan(inputs)));
}

// ---- validation -----------------------------------------------------------------------

template <typename Problem>
std::string rejection(void (*run)(std::span<const Problem>), const std::vector<Problem>& problems) {
  try {
    run(problems);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "no std::invalid_argument thrown";
  return {};
}

TEST(MaxPoolValidationTest, MessagesNameTheOperationAndTheProblem) {
  Rng rng(4103);
  PoolCase c = make_case({2, 5, 7, 3}, rng, false);

  MaxPoolForward one_row = c.forward();
  one_row.geometry.height = 1;
  EXPECT_NE(rejection(&max_pool_forward_cpu, {c.forward(), one_row}).find("max_pool_forward problem 1"),
            std::string::npos);
  MaxPoolForward one_column = c.forward();
  one_column.geometry.width = 1;
  EXPECT_NE(rejection(&max_pool_forward_cpu, {one_column}).find("max_pool_forward problem 0"), std::string::npos);
  MaxPoolForward no_channels = c.forward();
  no_channels.geometry.channels = 0;
  EXPECT_NE(rejection(&max_pool_forward_cpu, {no_channels}).find("channels"), std::string::npos);
  MaxPoolForward negative = c.forward();
  negative.images = -1;
  EXPECT_NE(rejection(&max_pool_forward_cpu, {negative}).find("negative"), std::string::npos);

  MaxPoolBackward null_grad = c.backward();
  null_grad.input_grad = nullptr;
  const std::string message = rejection(&max_pool_backward_cpu, {c.backward(), c.backward(), null_grad});
  EXPECT_NE(message.find("max_pool_backward problem 2"), std::string::npos) << message;
  EXPECT_NE(message.find("input_grad"), std::string::npos) << message;
  // Checked before anything ran: problem 0's gradient is still poison.
  EXPECT_TRUE(std::all_of(c.input_grad.begin(), c.input_grad.end(), [](float x) { return std::isnan(x); }));
}

TEST(MaxPoolValidationTest, NoImagesNeedNoTensors) {
  const PoolGeometry g{.height = 4, .width = 4, .channels = 2};
  const std::vector<MaxPoolForward> forward{{.images = 0, .geometry = g}};
  const std::vector<MaxPoolBackward> backward{{.images = 0, .geometry = g}};
  EXPECT_NO_THROW(max_pool_forward_cpu(forward));
  EXPECT_NO_THROW(max_pool_backward_cpu(backward));
  EXPECT_NO_THROW(max_pool_forward_cpu(std::span<const MaxPoolForward>()));
}

}  // namespace
}  // namespace gpu_tune::kernels
