#include <cblas.h>  // cblas_sgemm

#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu_parallel.h"
#include "kernels/grouped_gemm.h"

namespace gpu_tune::kernels {

void validate_gemm_problems(std::span<const GemmProblem> problems) {
  for (size_t i = 0; i < problems.size(); ++i) {
    const GemmProblem& p = problems[i];
    auto fail = [&](const std::string& what) {
      throw std::invalid_argument("grouped_gemm problem " + std::to_string(i) + ": " + what);
    };
    if (p.m < 0 || p.n < 0 || p.k < 0) fail("negative dimension");
    if (p.m == 0 || p.n == 0) continue;
    if (p.c == nullptr) fail("null C");
    if (p.k > 0 && (p.a == nullptr || p.b == nullptr)) fail("null A or B");
    const int a_cols = p.transpose_a ? p.m : p.k;
    const int b_cols = p.transpose_b ? p.k : p.n;
    if (p.lda < std::max(a_cols, 1)) fail("lda " + std::to_string(p.lda) + " below row length " + std::to_string(a_cols));
    if (p.ldb < std::max(b_cols, 1)) fail("ldb " + std::to_string(p.ldb) + " below row length " + std::to_string(b_cols));
    if (p.ldc < p.n) fail("ldc " + std::to_string(p.ldc) + " below N " + std::to_string(p.n));
  }
}

namespace {

struct GemmPiece {
  const GemmProblem* problem;
  Range rows;
};

void run_piece(const GemmPiece& piece) {
  const GemmProblem& p = *piece.problem;
  const int rows = static_cast<int>(piece.rows.end - piece.rows.begin);
  float* c = p.c + piece.rows.begin * p.ldc;
  if (p.k == 0) {  // C = beta * C
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < p.n; ++j) c[r * p.ldc + j] = p.beta == 0.0f ? 0.0f : p.beta * c[r * p.ldc + j];
    return;
  }
  // Row block r of op(A): rows of A, or columns of A when A is stored transposed.
  const float* a = p.transpose_a ? p.a + piece.rows.begin : p.a + piece.rows.begin * p.lda;
  cblas_sgemm(CblasRowMajor, p.transpose_a ? CblasTrans : CblasNoTrans,
              p.transpose_b ? CblasTrans : CblasNoTrans, rows, p.n, p.k, p.alpha, a, p.lda, p.b,
              p.ldb, p.beta, c, p.ldc);
}

}  // namespace

void grouped_gemm_cpu(std::span<const GemmProblem> problems) {
  validate_gemm_problems(problems);
  use_single_threaded_blas();
  const int threads = cpu_thread_count();
  std::vector<GemmPiece> pieces;
  for (const GemmProblem& p : problems) {
    if (p.m == 0 || p.n == 0) continue;
    // Split rows only (never K), so each element's sum runs in one sgemm call.
    const int64_t flops = int64_t(p.m) * p.n * std::max(p.k, 1);
    const int64_t parts = std::min(piece_count(p.m, 16, threads), std::max<int64_t>(1, flops / (1 << 17)));
    for (int64_t part = 0; part < parts; ++part) pieces.push_back({&p, split_range(p.m, parts, part)});
  }
  parallel_for(static_cast<int64_t>(pieces.size()), [&](int64_t i) { run_piece(pieces[i]); });
}

}  // namespace gpu_tune::kernels
