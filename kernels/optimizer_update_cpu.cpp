#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu_parallel.h"
#include "kernels/optimizer_update.h"

namespace gpu_tune::kernels {

std::string_view optimizer_name(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kAdam: return "adam";
    case OptimizerKind::kAdamW: return "adamw";
    case OptimizerKind::kSgd: return "sgd";
  }
  return "?";
}

std::optional<OptimizerKind> parse_optimizer(std::string_view name) {
  for (OptimizerKind k : {OptimizerKind::kAdam, OptimizerKind::kAdamW, OptimizerKind::kSgd})
    if (optimizer_name(k) == name) return k;
  return std::nullopt;
}

void validate_optimizer_problems(std::span<const OptimizerProblem> problems) {
  for (size_t i = 0; i < problems.size(); ++i) {
    const OptimizerProblem& q = problems[i];
    auto fail = [i](const std::string& what) {
      throw std::invalid_argument("optimizer_update problem " + std::to_string(i) + ": " + what);
    };
    if (q.count < 0) fail("negative count " + std::to_string(q.count));
    if (q.count == 0) continue;
    const OptimizerKind kind = q.settings.kind;
    if (kind != OptimizerKind::kAdam && kind != OptimizerKind::kAdamW && kind != OptimizerKind::kSgd)
      fail("unknown optimizer kind " + std::to_string(static_cast<int>(kind)));
    if (q.params == nullptr || q.grads == nullptr || q.first_moment == nullptr)
      fail("null params, grads or first_moment");
    if (kind != OptimizerKind::kSgd && q.second_moment == nullptr) fail("Adam needs second_moment");
    if (q.step < 1) fail("step " + std::to_string(q.step) + " below 1");
  }
}

namespace {

// One piece of one problem, for one optimizer kind known at compile time: the per-element
// function then inlines without its branch on the kind, and with the arrays declared
// unaliased the loop vectorises (square root and division included, correctly rounded as
// in scalar code). An optimizer step touches every parameter, so for an MLP this loop is a
// third of the step when it runs one element at a time.
template <OptimizerKind kKind>
void update_range(const OptimizerSettings& given, const OptimizerStepConstants& constants, Range range,
                  float* __restrict params, const float* __restrict grads, float* __restrict m,
                  float* __restrict v) {
  OptimizerSettings settings = given;
  settings.kind = kKind;
  float unused = 0.0f;  // SGD's second moment: none
  for (int64_t e = range.begin; e < range.end; ++e) {
    float& second = kKind == OptimizerKind::kSgd ? unused : v[e];
    optimizer_update_element(settings, constants, params[e], grads[e], m[e], second);
  }
}

}  // namespace

void optimizer_update_cpu(std::span<const OptimizerProblem> problems) {
  validate_optimizer_problems(problems);
  constexpr int64_t kMinPerPiece = 16384;
  struct Piece {
    size_t problem;
    Range range;
    OptimizerStepConstants constants;
  };
  const int threads = cpu_thread_count();
  std::vector<Piece> pieces;
  for (size_t i = 0; i < problems.size(); ++i) {
    const OptimizerProblem& p = problems[i];
    const OptimizerStepConstants constants =
        p.dynamic_constants != nullptr ? *p.dynamic_constants : optimizer_step_constants(p.settings, p.step);
    const int64_t parts = piece_count(p.count, kMinPerPiece, threads);
    for (int64_t part = 0; part < parts; ++part) pieces.push_back({i, split_range(p.count, parts, part), constants});
  }
  parallel_for(static_cast<int64_t>(pieces.size()), [&](int64_t i) {
    const Piece& piece = pieces[i];
    const OptimizerProblem& p = problems[piece.problem];
    switch (p.settings.kind) {
      case OptimizerKind::kAdam:
        update_range<OptimizerKind::kAdam>(p.settings, piece.constants, piece.range, p.params, p.grads,
                                           p.first_moment, p.second_moment);
        break;
      case OptimizerKind::kAdamW:
        update_range<OptimizerKind::kAdamW>(p.settings, piece.constants, piece.range, p.params, p.grads,
                                            p.first_moment, p.second_moment);
        break;
      case OptimizerKind::kSgd:
        update_range<OptimizerKind::kSgd>(p.settings, piece.constants, piece.range, p.params, p.grads,
                                          p.first_moment, p.second_moment);
        break;
    }
  });
}

}  // namespace gpu_tune::kernels
