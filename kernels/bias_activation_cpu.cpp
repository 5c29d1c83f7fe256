#include <vector>

#include "kernels/bias_activation.h"
#include "kernels/cpu_parallel.h"

namespace gpu_tune::kernels {

namespace {
constexpr int64_t kMinRowsPerPiece = 16;
constexpr int64_t kMinColsPerPiece = 32;

struct Piece {
  size_t problem;
  Range range;
};

template <typename Problem>
std::vector<Piece> split(std::span<const Problem> problems, bool by_columns) {
  const int threads = cpu_thread_count();
  std::vector<Piece> pieces;
  for (size_t i = 0; i < problems.size(); ++i) {
    const int64_t n = by_columns ? problems[i].cols : problems[i].rows;
    const int64_t parts = piece_count(n, by_columns ? kMinColsPerPiece : kMinRowsPerPiece, threads);
    for (int64_t part = 0; part < parts; ++part) pieces.push_back({i, split_range(n, parts, part)});
  }
  return pieces;
}
}  // namespace

void bias_activation_forward_cpu(std::span<const BiasActivationForward> given) {
  const std::vector<BiasActivationForward> problems = resolve_run_time_values(given);
  const std::vector<Piece> pieces = split(std::span(problems), /*by_columns=*/false);
  parallel_for(static_cast<int64_t>(pieces.size()), [&](int64_t i) {
    const BiasActivationForward& p = problems[pieces[i].problem];
    for (int64_t r = pieces[i].range.begin; r < pieces[i].range.end; ++r) {
      for (int c = 0; c < p.cols; ++c) {
        const int64_t e = r * p.cols + c;
        const float z = p.z[e] + p.bias[c];
        p.z[e] = z;
        p.out[e] = activation_forward(p.activation, z) * dropout_factor(p.dropout, static_cast<uint64_t>(e));
      }
    }
  });
}

void bias_activation_backward_cpu(std::span<const BiasActivationBackward> given) {
  const std::vector<BiasActivationBackward> problems = resolve_run_time_values(given);
  // Split by columns so each bias-gradient sum runs over all rows, in order, in one piece.
  const std::vector<Piece> pieces = split(std::span(problems), /*by_columns=*/true);
  parallel_for(static_cast<int64_t>(pieces.size()), [&](int64_t i) {
    const BiasActivationBackward& p = problems[pieces[i].problem];
    const int64_t c0 = pieces[i].range.begin, c1 = pieces[i].range.end;
    for (int64_t c = c0; c < c1; ++c) p.bias_grad[c] = 0.0f;
    for (int64_t r = 0; r < p.rows; ++r) {
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t e = r * p.cols + c;
        const float g = p.grad[e] * dropout_factor(p.dropout, static_cast<uint64_t>(e)) *
                        activation_derivative(p.activation, p.z[e]);
        p.grad[e] = g;
        p.bias_grad[c] += g;
      }
    }
  });
}

}  // namespace gpu_tune::kernels
