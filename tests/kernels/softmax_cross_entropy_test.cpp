#include "kernels/softmax_cross_entropy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/kernels/kernel_test_utils.h"

namespace gpu_tune::kernels {
namespace {

using test::Rng;

struct RowReference {
  double loss = 0.0;
  bool correct = false;
  std::vector<double> grad;  // softmax - onehot, unscaled
};

// Independent double form, with the max subtracted the same way a careful hand would.
RowReference reference_row(const float* logits, int classes, int label) {
  RowReference ref;
  int arg_max = 0;
  for (int j = 1; j < classes; ++j)
    if (logits[j] > logits[arg_max]) arg_max = j;
  const double max_logit = logits[arg_max];
  double sum = 0.0;
  for (int j = 0; j < classes; ++j) sum += std::exp(double(logits[j]) - max_logit);
  const double lse = max_logit + std::log(sum);
  ref.loss = lse - double(logits[label]);
  ref.correct = arg_max == label;
  for (int j = 0; j < classes; ++j) ref.grad.push_back(std::exp(double(logits[j]) - lse) - (j == label ? 1.0 : 0.0));
  return ref;
}

struct Batch {
  int rows = 0, classes = 0;
  std::vector<float> logits, grad;
  std::vector<int32_t> labels;
  float grad_scale = 0.0f;
  MetricSums sums;

  SoftmaxCrossEntropyProblem problem(bool with_grad) {
    return {.rows = rows, .classes = classes, .logits = logits.data(), .labels = labels.data(),
            .grad = with_grad ? grad.data() : nullptr, .grad_scale = grad_scale, .sums = &sums};
  }
};

Batch make_batch(int rows, int classes, Rng& rng, float spread = 5.0f) {
  Batch b;
  b.rows = rows;
  b.classes = classes;
  b.logits = test::random_uniform(static_cast<size_t>(rows) * classes, rng, -spread, spread);
  std::uniform_int_distribution<int32_t> label(0, classes - 1);
  for (int r = 0; r < rows; ++r) b.labels.push_back(label(rng));
  b.grad.assign(b.logits.size(), test::quiet_nan());
  b.grad_scale = 1.0f / float(rows);
  return b;
}

struct BatchReference {
  double loss_sum = 0.0, correct = 0.0;
  std::vector<double> grad;  // scaled
};

BatchReference reference_batch(const Batch& b) {
  BatchReference ref;
  for (int r = 0; r < b.rows; ++r) {
    const RowReference row = reference_row(&b.logits[static_cast<size_t>(r) * b.classes], b.classes, b.labels[r]);
    ref.loss_sum += row.loss;
    ref.correct += row.correct ? 1.0 : 0.0;
    for (double g : row.grad) ref.grad.push_back(g * double(b.grad_scale));
  }
  return ref;
}

// grad_tolerance is relative to each element; logits near 1000 carry only ~6e-5 absolute
// precision themselves, which the probabilities inherit.
void expect_matches_reference(const Batch& b, const MetricSums& before, bool with_grad,
                              double grad_tolerance = 1e-5) {
  SCOPED_TRACE("rows=" + std::to_string(b.rows) + " classes=" + std::to_string(b.classes));
  const BatchReference ref = reference_batch(b);
  EXPECT_LE(std::abs(b.sums.loss_sum - before.loss_sum - ref.loss_sum), 1e-5 * std::abs(ref.loss_sum) + 1e-6);
  EXPECT_EQ(b.sums.correct - before.correct, ref.correct);
  EXPECT_EQ(b.sums.count - before.count, double(b.rows));
  if (!with_grad) return;
  int64_t wrong = 0;
  for (size_t e = 0; e < ref.grad.size(); ++e)
    wrong += std::abs(double(b.grad[e]) - ref.grad[e]) <= 1e-7 * double(b.grad_scale) + grad_tolerance * std::abs(ref.grad[e]) ? 0 : 1;
  EXPECT_EQ(wrong, 0);
}

TEST(SoftmaxCrossEntropyTest, SeveralProblemsMatchDoubleReference) {
  Rng rng(300);
  std::vector<Batch> batches;
  for (auto [rows, classes] : {std::pair{1, 10}, {7, 3}, {64, 10}, {100, 47}, {33, 1}, {257, 10}})
    batches.push_back(make_batch(rows, classes, rng));
  std::vector<SoftmaxCrossEntropyProblem> problems;
  for (Batch& b : batches) problems.push_back(b.problem(true));
  softmax_cross_entropy_cpu(problems);
  for (const Batch& b : batches) expect_matches_reference(b, MetricSums{}, true);
}

TEST(SoftmaxCrossEntropyTest, AddsToExistingSums) {
  Rng rng(301);
  Batch b = make_batch(50, 10, rng);
  const MetricSums before{12.5, 3.0, 40.0};
  b.sums = before;
  SoftmaxCrossEntropyProblem p = b.problem(true);
  softmax_cross_entropy_cpu(std::span(&p, 1));
  expect_matches_reference(b, before, true);

  // A second pass (as over a second minibatch) accumulates again.
  const MetricSums after_one = b.sums;
  softmax_cross_entropy_cpu(std::span(&p, 1));
  EXPECT_NEAR(b.sums.loss_sum - after_one.loss_sum, after_one.loss_sum - before.loss_sum, 1e-9);
  EXPECT_EQ(b.sums.correct - after_one.correct, after_one.correct - before.correct);
  EXPECT_EQ(b.sums.count, before.count + 2.0 * b.rows);
}

TEST(SoftmaxCrossEntropyTest, NullGradEvaluatesWithoutWriting) {
  Rng rng(302);
  Batch evaluated = make_batch(64, 10, rng);
  Batch trained = evaluated;
  std::vector<SoftmaxCrossEntropyProblem> problems{evaluated.problem(false), trained.problem(true)};
  softmax_cross_entropy_cpu(problems);
  expect_matches_reference(evaluated, MetricSums{}, false);
  expect_matches_reference(trained, MetricSums{}, true);
  // The evaluation problem's own buffer stays as it was (all NaN).
  for (float g : evaluated.grad) ASSERT_TRUE(std::isnan(g));
  // Computing the gradient must not change the metrics.
  EXPECT_EQ(evaluated.sums.loss_sum, trained.sums.loss_sum);
  EXPECT_EQ(evaluated.sums.correct, trained.sums.correct);
}

TEST(SoftmaxCrossEntropyTest, TiesGoToTheFirstArgMax) {
  // One row per problem, so each row's verdict is read on its own sums.
  struct TieCase {
    std::vector<float> logits;
    int32_t label;
    bool correct;
  };
  const std::vector<TieCase> cases{
      {{1.0f, 3.0f, 3.0f, 0.5f}, 1, true},   // max shared by classes 1 and 2: the first wins
      {{1.0f, 3.0f, 3.0f, 0.5f}, 2, false},
      {{2.0f, 2.0f, 2.0f, 2.0f}, 0, true},   // all equal: class 0
      {{2.0f, 2.0f, 2.0f, 2.0f}, 3, false},
      {{5.0f, 1.0f, 5.0f}, 0, true},
      {{5.0f, 1.0f, 5.0f}, 2, false},
  };
  std::vector<Batch> batches;
  for (const TieCase& c : cases) {
    Batch b;
    b.rows = 1;
    b.classes = static_cast<int>(c.logits.size());
    b.logits = c.logits;
    b.labels = {c.label};
    b.grad.assign(c.logits.size(), 0.0f);
    b.grad_scale = 1.0f;
    batches.push_back(b);
  }
  std::vector<SoftmaxCrossEntropyProblem> problems;
  for (Batch& b : batches) problems.push_back(b.problem(true));
  softmax_cross_entropy_cpu(problems);
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(batches[i].sums.correct, cases[i].correct ? 1.0 : 0.0) << "case " << i;
    EXPECT_EQ(batches[i].sums.count, 1.0) << "case " << i;
  }
  // Uniform logits over 4 classes: loss log(4) whichever label.
  EXPECT_NEAR(batches[2].sums.loss_sum, std::log(4.0), 1e-6);
  EXPECT_NEAR(batches[3].sums.loss_sum, std::log(4.0), 1e-6);
}

TEST(SoftmaxCrossEntropyTest, LargeLogitsStayFinite) {
  // exp(1000) overflows float and double; only the max-shifted form gives a number.
  Batch b;
  b.rows = 4;
  b.classes = 4;
  b.logits = {1000.0f, 999.0f, -1000.0f, 0.0f,    // label 0: loss = log(1 + e^-1) + tiny
              1000.0f, 999.0f, -1000.0f, 0.0f,    // label 2: loss near 2000
              -1000.0f, -1001.0f, -1002.0f, -999.5f,  // all very negative: exp underflows
              88.0f, 89.0f, 90.0f, 91.0f};
  b.labels = {0, 2, 1, 3};
  b.grad.assign(16, test::quiet_nan());
  b.grad_scale = 1.0f;
  SoftmaxCrossEntropyProblem p = b.problem(true);
  softmax_cross_entropy_cpu(std::span(&p, 1));
  EXPECT_TRUE(std::isfinite(b.sums.loss_sum));
  for (float g : b.grad) EXPECT_TRUE(std::isfinite(g));
  expect_matches_reference(b, MetricSums{}, true, 2e-4);
  EXPECT_EQ(b.sums.correct, 2.0);  // rows 0 and 3
}

TEST(SoftmaxCrossEntropyTest, GradientOfEachRowSumsToZero) {
  Rng rng(303);
  Batch b = make_batch(100, 10, rng);
  SoftmaxCrossEntropyProblem p = b.problem(true);
  softmax_cross_entropy_cpu(std::span(&p, 1));
  for (int r = 0; r < b.rows; ++r) {
    double sum = 0.0;
    for (int j = 0; j < b.classes; ++j) sum += b.grad[static_cast<size_t>(r) * b.classes + j];
    EXPECT_NEAR(sum, 0.0, 1e-7) << "row " << r;
  }
}

}  // namespace
}  // namespace gpu_tune::kernels
