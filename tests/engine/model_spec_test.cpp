#include "engine/model_spec.h"

#include <gtest/gtest.h>

#include <string>

#include <stdexcept>

#include "engine/parameter_init.h"

namespace gpu_tune {
namespace {

TEST(ModelSpec, PresetsHaveTheSeedStudyShapes) {
  EXPECT_EQ(parse_model("mlp_small").describe(), "784-128-10 relu");
  EXPECT_EQ(parse_model("mlp_medium").describe(), "784-256-128-10 relu");
  EXPECT_EQ(parse_model("mlp_large").describe(), "784-512-512-256-10 relu");
  EXPECT_EQ(parse_model("mlp_small").parameter_count(), 784 * 128 + 128 + 128 * 10 + 10);
}

TEST(ModelSpec, FreeFormWidthsAndOffsets) {
  const ModelSpec m = parse_model("300-100", 784, 10);
  ASSERT_EQ(m.layer_count(), 3);
  EXPECT_EQ(m.layer_inputs(1), 300);
  EXPECT_EQ(m.layer_outputs(1), 100);
  EXPECT_EQ(m.weight_offset(1), 784 * 300 + 300);
  EXPECT_EQ(m.bias_offset(2), m.weight_offset(2) + 100 * 10);
  EXPECT_EQ(m.parameter_count(), m.bias_offset(2) + 10);
}

// Odd widths: every weight matrix and bias starts 16-byte aligned, the tensors do not
// overlap, and the gaps are the only difference between storage and parameter count.
TEST(ModelSpec, EveryTensorStartsAlignedAndTheGapsStayZero) {
  const ModelSpec m = parse_model("5-3", 7, 2);
  EXPECT_EQ(m.parameter_count(), 7 * 5 + 5 + 5 * 3 + 3 + 3 * 2 + 2);
  int64_t end = 0, gaps = 0;
  for (int layer = 0; layer < m.layer_count(); ++layer) {
    SCOPED_TRACE("layer " + std::to_string(layer));
    EXPECT_EQ(m.weight_offset(layer) % ModelSpec::kParameterAlignment, 0);
    EXPECT_EQ(m.bias_offset(layer) % ModelSpec::kParameterAlignment, 0);
    EXPECT_GE(m.weight_offset(layer), end);
    gaps += m.weight_offset(layer) - end;
    end = m.weight_offset(layer) + int64_t(m.layer_inputs(layer)) * m.layer_outputs(layer);
    EXPECT_GE(m.bias_offset(layer), end);
    gaps += m.bias_offset(layer) - end;
    end = m.bias_offset(layer) + m.layer_outputs(layer);
  }
  EXPECT_GE(m.storage_size(), end);
  EXPECT_EQ(m.storage_size() - gaps - (m.storage_size() - end), m.parameter_count());
  EXPECT_GT(gaps, 0) << "this model needs padding; the test would check nothing without it";
  const std::vector<float> params = initial_parameters(m, 3);
  ASSERT_EQ(static_cast<int64_t>(params.size()), m.storage_size());
  EXPECT_EQ(params[35], 0.0f) << "the gap after layer 0's weights";  // weights end at 35, bias starts at 36
}

TEST(ModelSpec, BadTextNamesTheProblem) {
  for (const char* bad : {"", "mlp_huge", "256-", "-5", "12x", "0", "256--128", "c32k4", "c0", "c32k", "x3",
                          "c8-p-p-p-p-p", "c8k29v", "q32"}) {
    try {
      parse_model(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(ModelSpec, CnnPresetsInferTheirShapes) {
  const ModelSpec m = parse_model("cnn_small");
  EXPECT_EQ(m.describe(), "28x28x1 c32k3-p-c64k3-p-d128-10 relu");
  ASSERT_EQ(m.layer_count(), 6);
  EXPECT_EQ(m.layer(0).out, (TensorShape{28, 28, 32}));
  EXPECT_EQ(m.layer(1).out, (TensorShape{14, 14, 32}));
  EXPECT_EQ(m.layer(2).out, (TensorShape{14, 14, 64}));
  EXPECT_EQ(m.layer(3).out, (TensorShape{7, 7, 64}));
  EXPECT_EQ(m.layer(4).weight_rows(), 7 * 7 * 64);
  EXPECT_TRUE(m.is_spatial());
  EXPECT_EQ(m.dense_widths(), (std::vector<int>{128}));
  // The counts engine/README.md states.
  EXPECT_EQ(m.parameter_count(), (9 * 32 + 32) + (9 * 32 * 64 + 64) + (3136 * 128 + 128) + (128 * 10 + 10));
  EXPECT_EQ(m.parameter_count(), 421642);
  EXPECT_EQ(parse_model("cnn_medium").parameter_count(), 870634);
  EXPECT_EQ(parse_model("cnn_large").parameter_count(), 3475914);
  EXPECT_EQ(m.largest_activation(), 28 * 28 * 32);
}

TEST(ModelSpec, CompactFormKernelsPaddingAndFlatten) {
  const ModelSpec m = parse_model("c8k5v-p-c5-f-d20-12", TensorShape{13, 11, 1}, 4);
  ASSERT_EQ(m.layer_count(), 6);
  EXPECT_EQ(m.layer(0).out, (TensorShape{9, 7, 8}));  // valid 5x5: 13-4, 11-4
  EXPECT_EQ(m.layer(0).padding, 0);
  EXPECT_EQ(m.layer(1).out, (TensorShape{4, 3, 8}));  // odd sizes drop the last row/column
  EXPECT_EQ(m.layer(2).out, (TensorShape{4, 3, 5}));
  EXPECT_EQ(m.layer(2).padding, 1);
  EXPECT_EQ(m.layer(3).in.size(), 60);  // flatten moves nothing
  EXPECT_EQ(m.layer(5).out.size(), 4);
  EXPECT_EQ(m.describe(), "13x11x1 c8k5v-p-c5k3-d20-d12-4 relu");
  // Every tensor aligned, layers without parameters take no room.
  EXPECT_EQ(m.weight_offset(1), m.weight_offset(2));
  for (int l : {0, 2, 3, 4, 5}) EXPECT_EQ(m.weight_offset(l) % ModelSpec::kParameterAlignment, 0);
  EXPECT_EQ(m.bias_offset(0), 200);  // 5*5*1*8 weights
  EXPECT_EQ(m.weight_offset(2), 208);
}

TEST(ModelSpec, ShapeErrorsNameTheLayer) {
  try {
    parse_model("c8-p-p-p-p-p");
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("layer 6"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("1x1x8"), std::string::npos) << e.what();
  }
}

TEST(ParameterInit, ConvolutionFansCountTheReceptiveField) {
  ModelSpec m = parse_model("c16k5", TensorShape{12, 12, 3}, 2);
  const std::vector<float> he = initial_parameters(m, 5);
  const int64_t n = 5 * 5 * 3 * 16;
  double sum_sq = 0;
  for (int64_t i = 0; i < n; ++i) sum_sq += double(he[i]) * he[i];
  EXPECT_NEAR(std::sqrt(sum_sq / n), std::sqrt(2.0 / 75), 0.1 * std::sqrt(2.0 / 75));
  m.init = InitScheme::kGlorot;
  const std::vector<float> glorot = initial_parameters(m, 5);
  const double limit = std::sqrt(6.0 / (75 + 25 * 16));
  double max_abs = 0;
  for (int64_t i = 0; i < n; ++i) max_abs = std::max(max_abs, std::abs(double(glorot[i])));
  EXPECT_LE(max_abs, limit);
  EXPECT_GT(max_abs, 0.9 * limit);
}

TEST(ParameterInit, HeNormalHasTheRightSpreadAndSeedsDiffer) {
  const ModelSpec m = parse_model("mlp_small");
  const std::vector<float> a = initial_parameters(m, 1), b = initial_parameters(m, 1), c = initial_parameters(m, 2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  double sum_sq = 0;
  const int64_t n = 784 * 128;
  for (int64_t i = 0; i < n; ++i) sum_sq += double(a[i]) * a[i];
  EXPECT_NEAR(std::sqrt(sum_sq / n), std::sqrt(2.0 / 784), 0.02 * std::sqrt(2.0 / 784));
  for (int i = 0; i < 128; ++i) EXPECT_EQ(a[m.bias_offset(0) + i], 0.0f);
}

TEST(ParameterInit, GlorotUniformStaysInItsLimit) {
  ModelSpec m = parse_model("50", 20, 10);
  m.init = InitScheme::kGlorot;
  const std::vector<float> p = initial_parameters(m, 3);
  const double limit = std::sqrt(6.0 / (20 + 50));
  double max_abs = 0;
  for (int64_t i = 0; i < 20 * 50; ++i) max_abs = std::max(max_abs, std::abs(double(p[i])));
  EXPECT_LE(max_abs, limit);
  EXPECT_GT(max_abs, 0.9 * limit);
}

}  // namespace
}  // namespace gpu_tune
