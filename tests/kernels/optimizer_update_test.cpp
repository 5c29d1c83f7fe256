#include "kernels/optimizer_update.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/kernels/kernel_test_utils.h"

namespace gpu_tune::kernels {
namespace {

using test::bitwise_equal;
using test::relative_l2_error;
using test::Rng;
using test::ScopedThreadCount;

constexpr int kSteps = 5;
constexpr double kTolerance = 1e-5;

// PyTorch's torch.optim update rules, written from their documentation in double. The
// settings are read as the floats the kernel receives, so only the arithmetic differs.
struct ReferenceState {
  std::vector<double> params, m, v;
};

void reference_step(const OptimizerSettings& s, int64_t t, const std::vector<float>& grads, ReferenceState& st) {
  const double lr = s.learning_rate, wd = s.weight_decay, b1 = s.beta1, b2 = s.beta2, eps = s.epsilon;
  const double mom = s.momentum;
  for (size_t e = 0; e < grads.size(); ++e) {
    double g = grads[e];
    double& p = st.params[e];
    if (s.kind == OptimizerKind::kSgd) {
      g += wd * p;
      if (mom != 0.0) {
        // torch.optim.SGD: the buffer is a clone of the gradient on the first step.
        st.m[e] = t == 1 ? g : mom * st.m[e] + g;
        g = s.nesterov ? g + mom * st.m[e] : st.m[e];
      }
      p -= lr * g;
      continue;
    }
    if (s.kind == OptimizerKind::kAdamW) {
      p *= 1.0 - lr * wd;
    } else {
      g += wd * p;
    }
    st.m[e] = b1 * st.m[e] + (1.0 - b1) * g;
    st.v[e] = b2 * st.v[e] + (1.0 - b2) * g * g;
    const double bias_correction1 = 1.0 - std::pow(b1, double(t));
    const double bias_correction2 = 1.0 - std::pow(b2, double(t));
    p -= lr / bias_correction1 * st.m[e] / (std::sqrt(st.v[e]) / std::sqrt(bias_correction2) + eps);
  }
}

std::string describe(const OptimizerSettings& s) {
  std::string text(optimizer_name(s.kind));
  text += " lr=" + std::to_string(s.learning_rate) + " wd=" + std::to_string(s.weight_decay);
  if (s.kind == OptimizerKind::kSgd) text += " momentum=" + std::to_string(s.momentum) + (s.nesterov ? " nesterov" : "");
  return text;
}

// One slot's parameters, its optimizer state, a fresh gradient per step, and the same
// run carried out by the reference.
struct Slot {
  OptimizerSettings settings;
  std::vector<float> params, m, v;
  std::vector<std::vector<float>> grads;  // one per step
  ReferenceState ref;
  int64_t steps_taken = 0;
  bool uses_second_moment = true;

  OptimizerProblem problem() {
    return {.count = static_cast<int64_t>(params.size()), .params = params.data(), .grads = grads[steps_taken].data(),
            .first_moment = m.data(), .second_moment = uses_second_moment ? v.data() : nullptr,
            .settings = settings, .step = steps_taken + 1};
  }
  void advance_reference() {
    reference_step(settings, steps_taken + 1, grads[steps_taken], ref);
    ++steps_taken;
  }
};

Slot make_slot(const OptimizerSettings& s, int64_t count, Rng& rng) {
  Slot slot;
  slot.settings = s;
  slot.params = test::random_nonzero(count, rng, 0.1f, 1.0f);
  slot.m.assign(count, 0.0f);
  slot.v.assign(count, 0.0f);
  for (int t = 0; t < kSteps; ++t) slot.grads.push_back(test::random_nonzero(count, rng, 0.05f, 1.0f));
  slot.ref.params.assign(slot.params.begin(), slot.params.end());
  slot.ref.m.assign(count, 0.0);
  slot.ref.v.assign(count, 0.0);
  slot.uses_second_moment = s.kind != OptimizerKind::kSgd;
  return slot;
}

// Parameters are compared by their displacement from the start: the update is small next
// to the parameter, and a whole-parameter norm would let a wrong update hide under it.
void expect_matches_reference(const Slot& slot, const std::vector<float>& initial) {
  SCOPED_TRACE(describe(slot.settings) + " count=" + std::to_string(slot.params.size()) +
               " step=" + std::to_string(slot.steps_taken));
  std::vector<float> moved(slot.params.size());
  std::vector<double> ref_moved(slot.params.size());
  for (size_t e = 0; e < moved.size(); ++e) {
    moved[e] = static_cast<float>(double(slot.params[e]) - double(initial[e]));
    ref_moved[e] = slot.ref.params[e] - double(initial[e]);
  }
  EXPECT_LT(relative_l2_error(moved, ref_moved), kTolerance);
  EXPECT_LT(relative_l2_error(slot.params, slot.ref.params), kTolerance);
  const bool has_first_moment = slot.settings.kind != OptimizerKind::kSgd || slot.settings.momentum != 0.0f;
  if (has_first_moment) {
    EXPECT_LT(relative_l2_error(slot.m, slot.ref.m), kTolerance);
  }
  if (slot.uses_second_moment) {
    EXPECT_LT(relative_l2_error(slot.v, slot.ref.v), kTolerance);
  }
}

void run_steps(std::vector<Slot>& slots) {
  std::vector<std::vector<float>> initial;
  for (const Slot& s : slots) initial.push_back(s.params);
  for (int t = 0; t < kSteps; ++t) {
    std::vector<OptimizerProblem> problems;
    for (Slot& s : slots) problems.push_back(s.problem());
    optimizer_update_cpu(problems);
    for (size_t i = 0; i < slots.size(); ++i) {
      slots[i].advance_reference();
      expect_matches_reference(slots[i], initial[i]);
    }
  }
}

OptimizerSettings adam(float lr, float wd) {
  return {.kind = OptimizerKind::kAdam, .learning_rate = lr, .weight_decay = wd};
}
OptimizerSettings adamw(float lr, float wd) {
  return {.kind = OptimizerKind::kAdamW, .learning_rate = lr, .weight_decay = wd};
}
OptimizerSettings sgd(float lr, float momentum, bool nesterov, float wd) {
  return {.kind = OptimizerKind::kSgd, .learning_rate = lr, .weight_decay = wd, .momentum = momentum,
          .nesterov = nesterov};
}

TEST(OptimizerUpdateTest, AdamWithL2WeightDecay) {
  Rng rng(400);
  std::vector<Slot> slots{make_slot(adam(0.01f, 0.0f), 1000, rng), make_slot(adam(0.02f, 0.1f), 1000, rng)};
  run_steps(slots);
}

TEST(OptimizerUpdateTest, AdamWDecouplesWeightDecay) {
  Rng rng(401);
  std::vector<Slot> slots{make_slot(adamw(0.01f, 0.1f), 1000, rng), make_slot(adamw(0.05f, 0.5f), 777, rng)};
  run_steps(slots);
}

TEST(OptimizerUpdateTest, AdamAndAdamWDifferWhenDecaying) {
  // Same data under both rules: with weight decay on, the L2 and decoupled forms must
  // not coincide, or one of them is implemented as the other.
  Rng rng_a(402), rng_b(402);
  std::vector<Slot> slots{make_slot(adam(0.01f, 0.5f), 500, rng_a), make_slot(adamw(0.01f, 0.5f), 500, rng_b)};
  ASSERT_TRUE(bitwise_equal(slots[0].params, slots[1].params));
  run_steps(slots);
  EXPECT_FALSE(bitwise_equal(slots[0].params, slots[1].params));
}

TEST(OptimizerUpdateTest, SgdWithMomentumNesterovAndWeightDecay) {
  Rng rng(403);
  std::vector<Slot> slots{make_slot(sgd(0.05f, 0.9f, false, 0.0f), 1000, rng),
                          make_slot(sgd(0.05f, 0.9f, true, 0.0f), 1000, rng),
                          make_slot(sgd(0.05f, 0.8f, false, 0.01f), 1000, rng),
                          make_slot(sgd(0.05f, 0.5f, true, 0.01f), 1000, rng)};
  run_steps(slots);
}

TEST(OptimizerUpdateTest, SgdWithoutMomentum) {
  Rng rng(404);
  std::vector<Slot> slots{make_slot(sgd(0.1f, 0.0f, false, 0.0f), 1000, rng),
                          make_slot(sgd(0.1f, 0.0f, false, 0.05f), 1000, rng)};
  run_steps(slots);
}

TEST(OptimizerUpdateTest, MixedSlotsInOneCall) {
  Rng rng(405);
  // Sizes around the per-piece minimum, and one slot joining two steps late: each problem
  // must use its own settings and its own step count.
  std::vector<Slot> slots{make_slot(adam(0.01f, 0.01f), 40000, rng),   make_slot(adamw(0.02f, 0.1f), 1, rng),
                          make_slot(sgd(0.05f, 0.9f, true, 1e-3f), 7, rng), make_slot(sgd(0.1f, 0.0f, false, 0.0f), 16385, rng),
                          make_slot(adam(0.03f, 0.0f), 33, rng),        make_slot(sgd(0.05f, 0.9f, false, 0.0f), 20000, rng)};
  ScopedThreadCount threads(8);
  std::vector<std::vector<float>> initial;
  for (const Slot& s : slots) initial.push_back(s.params);
  for (int call = 0; call < kSteps; ++call) {
    std::vector<OptimizerProblem> problems;
    std::vector<size_t> stepped;
    for (size_t i = 0; i < slots.size(); ++i) {
      if (i == 4 && call < 2) continue;
      problems.push_back(slots[i].problem());
      stepped.push_back(i);
    }
    optimizer_update_cpu(problems);
    for (size_t i : stepped) {
      slots[i].advance_reference();
      expect_matches_reference(slots[i], initial[i]);
    }
  }
}

TEST(OptimizerUpdateTest, ThreadCountDoesNotChangeBits) {
  std::vector<std::vector<float>> results;
  for (int threads : {1, 8}) {
    Rng rng(406);
    std::vector<Slot> slots{make_slot(adam(0.01f, 0.01f), 50000, rng), make_slot(sgd(0.05f, 0.9f, true, 0.0f), 40000, rng)};
    ScopedThreadCount scoped(threads);
    for (int t = 0; t < 2; ++t) {
      std::vector<OptimizerProblem> problems;
      for (Slot& s : slots) problems.push_back(s.problem());
      optimizer_update_cpu(problems);
      for (Slot& s : slots) ++s.steps_taken;
    }
    std::vector<float> all;
    for (const Slot& s : slots) {
      all.insert(all.end(), s.params.begin(), s.params.end());
      all.insert(all.end(), s.m.begin(), s.m.end());
      all.insert(all.end(), s.v.begin(), s.v.end());
    }
    results.push_back(all);
  }
  EXPECT_TRUE(bitwise_equal(results[0], results[1]));
}

// A learning-rate schedule reaches the update only through the step constants: every kind
// must take the rate from them, not from its settings (whose rate is the schedule's base).
TEST(OptimizerUpdateTest, EveryKindTakesEachStepsRateFromTheConstants) {
  Rng rng(405);
  const float rates[kSteps] = {0.02f, 0.015f, 0.01f, 0.004f, 0.001f};
  for (const OptimizerSettings& base : {adam(0.05f, 0.1f), adamw(0.05f, 0.1f), sgd(0.05f, 0.9f, true, 0.1f)}) {
    Slot slot = make_slot(base, 1000, rng);
    const std::vector<float> initial = slot.params;
    for (int t = 0; t < kSteps; ++t) {
      const OptimizerStepConstants constants = optimizer_step_constants(base, t + 1, rates[t]);
      OptimizerProblem problem = slot.problem();
      problem.dynamic_constants = &constants;
      optimizer_update_cpu(std::vector{problem});
      // The reference runs the same step with the step's rate as its settings' rate.
      OptimizerSettings at_rate = base;
      at_rate.learning_rate = rates[t];
      reference_step(at_rate, t + 1, slot.grads[t], slot.ref);
      ++slot.steps_taken;
      expect_matches_reference(slot, initial);
    }
  }
}

TEST(OptimizerStepConstantsTest, MatchBiasCorrectionFormulas) {
  const OptimizerSettings s = adamw(0.01f, 0.1f);
  for (int64_t t : {1, 2, 10, 1000}) {
    const OptimizerStepConstants c = optimizer_step_constants(s, t);
    EXPECT_NEAR(c.step_size, 0.01 / (1.0 - std::pow(double(s.beta1), double(t))), 1e-6 * c.step_size) << t;
    EXPECT_NEAR(c.inv_sqrt_bias_correction2, 1.0 / std::sqrt(1.0 - std::pow(double(s.beta2), double(t))),
                1e-6 * c.inv_sqrt_bias_correction2)
        << t;
    EXPECT_NEAR(c.decay_factor, 1.0 - 0.01 * 0.1, 1e-7) << t;
    EXPECT_EQ(c.learning_rate, 0.01f) << t;
  }
  // At a scheduled rate every rate-dependent constant follows it.
  const OptimizerStepConstants half = optimizer_step_constants(s, 3, 0.005f);
  EXPECT_EQ(half.learning_rate, 0.005f);
  EXPECT_NEAR(half.step_size, 0.005 / (1.0 - std::pow(double(s.beta1), 3.0)), 1e-6 * half.step_size);
  EXPECT_NEAR(half.decay_factor, 1.0 - 0.005 * 0.1, 1e-7);
  // Only AdamW decays the parameters directly.
  EXPECT_EQ(optimizer_step_constants(adam(0.01f, 0.1f), 1).decay_factor, 1.0f);
  EXPECT_EQ(optimizer_step_constants(sgd(0.01f, 0.9f, false, 0.1f), 1).decay_factor, 1.0f);
}

TEST(OptimizerNameTest, RoundTrips) {
  for (OptimizerKind k : {OptimizerKind::kAdam, OptimizerKind::kAdamW, OptimizerKind::kSgd})
    EXPECT_EQ(parse_optimizer(optimizer_name(k)), k);
  EXPECT_FALSE(parse_optimizer("rmsprop").has_value());
}

}  // namespace
}  // namespace gpu_tune::kernels
