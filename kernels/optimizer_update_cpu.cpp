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

void optimizer_update_cpu(std::span<const OptimizerProblem> problems) {
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
    const OptimizerProblem& p = problems[pieces[i].problem];
    float unused = 0.0f;
    for (int64_t e = pieces[i].range.begin; e < pieces[i].range.end; ++e) {
      float& v = p.second_moment != nullptr ? p.second_moment[e] : unused;
      optimizer_update_element(p.settings, pieces[i].constants, p.params[e], p.grads[e], p.first_moment[e], v);
    }
  });
}

}  // namespace gpu_tune::kernels
