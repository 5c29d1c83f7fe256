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

// The loops below are instantiated per activation and with or without dropout, so that
// the per-element functions (shared with the CUDA kernels) inline to straight-line code
// the compiler can vectorise: a convolution's epilogue covers millions of elements a step.
// The arithmetic per element is the same in every instantiation.

template <Activation kActivation, bool kDropout>
void forward_rows(const BiasActivationForward& p, Range rows) {
  const uint64_t stream = p.dropout.stream;
  for (int64_t r = rows.begin; r < rows.end; ++r) {
    float* z = p.z + r * p.cols;
    float* out = p.out + r * p.cols;
    const int64_t first = r * p.cols;
    for (int c = 0; c < p.cols; ++c) {
      const float value = z[c] + p.bias[c];
      z[c] = value;
      float y = activation_forward(kActivation, value);
      if constexpr (kDropout) y *= dropout_factor(p.dropout, stream, static_cast<uint64_t>(first + c));
      out[c] = y;
    }
  }
}

// One row's part of the backward pass. Its own function so that the restrict qualifiers
// hold (GCC honours them on parameters): the column sums cannot alias the gradient.
template <Activation kActivation, bool kDropout>
void backward_row(const DropoutParams& dropout, uint64_t stream, int64_t first_element, int64_t width,
                  float* __restrict grad, const float* __restrict z, float* __restrict sum) {
  for (int64_t c = 0; c < width; ++c) {
    float g = grad[c];
    if constexpr (kDropout) g *= dropout_factor(dropout, stream, static_cast<uint64_t>(first_element + c));
    g *= activation_derivative(kActivation, z[c]);
    grad[c] = g;
    sum[c] += g;
  }
}

template <Activation kActivation, bool kDropout>
void backward_columns(const BiasActivationBackward& p, Range columns) {
  const int64_t width = columns.end - columns.begin;
  // Each column's sum runs over the rows in order; a local accumulator lets the compiler
  // vectorise across columns without changing that order.
  std::vector<float> sums(static_cast<size_t>(width), 0.0f);
  for (int64_t r = 0; r < p.rows; ++r) {
    const int64_t first = r * p.cols + columns.begin;
    backward_row<kActivation, kDropout>(p.dropout, p.dropout.stream, first, width, p.grad + first, p.z + first,
                                        sums.data());
  }
  for (int64_t c = 0; c < width; ++c) p.bias_grad[columns.begin + c] = sums[c];
}

// Calls body.template operator()<activation, dropout>() for the problem's settings.
template <typename Body>
void dispatch(Activation activation, bool dropout, const Body& body) {
  auto with = [&]<Activation kActivation>() {
    if (dropout)
      body.template operator()<kActivation, true>();
    else
      body.template operator()<kActivation, false>();
  };
  switch (activation) {
    case Activation::kIdentity: with.template operator()<Activation::kIdentity>(); break;
    case Activation::kRelu: with.template operator()<Activation::kRelu>(); break;
    case Activation::kTanh: with.template operator()<Activation::kTanh>(); break;
    case Activation::kGelu: with.template operator()<Activation::kGelu>(); break;
  }
}

}  // namespace

void bias_activation_forward_cpu(std::span<const BiasActivationForward> given) {
  const std::vector<BiasActivationForward> problems = resolve_run_time_values(given);
  const std::vector<Piece> pieces = split(std::span(problems), /*by_columns=*/false);
  parallel_for(static_cast<int64_t>(pieces.size()), [&](int64_t i) {
    const BiasActivationForward& p = problems[pieces[i].problem];
    dispatch(p.activation, p.dropout.rate > 0.0f, [&]<Activation kActivation, bool kDropout>() {
      forward_rows<kActivation, kDropout>(p, pieces[i].range);
    });
  });
}

void bias_activation_backward_cpu(std::span<const BiasActivationBackward> given) {
  const std::vector<BiasActivationBackward> problems = resolve_run_time_values(given);
  // Split by columns so each bias-gradient sum runs over all rows, in order, in one piece.
  const std::vector<Piece> pieces = split(std::span(problems), /*by_columns=*/true);
  parallel_for(static_cast<int64_t>(pieces.size()), [&](int64_t i) {
    const BiasActivationBackward& p = problems[pieces[i].problem];
    dispatch(p.activation, p.dropout.rate > 0.0f, [&]<Activation kActivation, bool kDropout>() {
      backward_columns<kActivation, kDropout>(p, pieces[i].range);
    });
  });
}

}  // namespace gpu_tune::kernels
