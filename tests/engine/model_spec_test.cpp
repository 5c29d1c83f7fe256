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
  for (const char* bad : {"", "mlp_huge", "256-", "-5", "12x", "0", "256--128"}) {
    try {
      parse_model(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos) << e.what();
    }
  }
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
