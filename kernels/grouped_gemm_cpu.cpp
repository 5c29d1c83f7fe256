#include <cblas.h>  // cblas_sgemm

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu_float_mode.h"
#include "kernels/cpu_parallel.h"
#include "kernels/grouped_gemm.h"

namespace gpu_tune::kernels {

std::string_view precision_name(GemmPrecision precision) {
  return precision == GemmPrecision::kTf32 ? "tf32" : "fp32";
}

std::optional<GemmPrecision> parse_precision(std::string_view text) {
  if (text == "fp32") return GemmPrecision::kFp32;
  if (text == "tf32") return GemmPrecision::kTf32;
  return std::nullopt;
}

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

// One sgemm call's share of a problem: a block of C's rows, or of its columns.
struct GemmPiece {
  const GemmProblem* problem;
  Range rows, cols;
};

// How a problem is cut into pieces: a function of its shape alone, never of the thread
// count, so that C's bits are the same on one thread or many (the BLAS may round a row
// differently in another split). That is what lets a worker's trials take over the cores
// of workers that have finished (apps/cpu_core_share.h) without changing their numbers.
// Tall problems (a convolution's rows are images x pixels) are cut into row blocks, wide
// ones (a dense layer: a batch of rows, hundreds of units) into column blocks, each sharing
// the other operand whole; no piece is below kMinPieceFlops, where a call's packing of the
// shared operand would cost more than the parallelism gains.
// Measured single-threaded (OpenBLAS; bundle_throughput, 4 slots of batch 32, 3 rounds):
// pieces of at least 8 MFLOP cost mlp_medium nothing and mlp_large 2.5% against one call
// per problem; 4 MFLOP pieces cost mlp_medium 5%, and 16 pieces up to twice as much.
constexpr int64_t kMinPieceFlops = int64_t{1} << 23;
constexpr int64_t kMaxPieces = 8;
constexpr int64_t kMinRows = 32, kMinCols = 64;

std::vector<GemmPiece> pieces_of(const GemmProblem& p) {
  const int64_t flops = 2 * int64_t(p.m) * p.n * std::max(p.k, 1);
  const int64_t by_work = std::max<int64_t>(1, flops / kMinPieceFlops);
  const bool by_rows = p.m >= p.n;
  const int64_t extent = by_rows ? p.m : p.n;
  const int64_t parts = std::clamp<int64_t>(std::min(by_work, extent / (by_rows ? kMinRows : kMinCols)), 1, kMaxPieces);
  std::vector<GemmPiece> pieces;
  for (int64_t part = 0; part < parts; ++part) {
    const Range block = split_range(extent, parts, part);
    pieces.push_back({&p, by_rows ? block : Range{0, p.m}, by_rows ? Range{0, p.n} : block});
  }
  return pieces;
}

void run_piece(const GemmPiece& piece) {
  const GemmProblem& p = *piece.problem;
  const int rows = static_cast<int>(piece.rows.end - piece.rows.begin);
  const int cols = static_cast<int>(piece.cols.end - piece.cols.begin);
  float* c = p.c + piece.rows.begin * p.ldc + piece.cols.begin;
  if (p.k == 0) {  // C = beta * C
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < cols; ++j) c[r * p.ldc + j] = p.beta == 0.0f ? 0.0f : p.beta * c[r * p.ldc + j];
    return;
  }
  // Rows of op(A): rows of A, or columns of A when A is stored transposed; columns of
  // op(B): columns of B, or rows of B when B is stored transposed.
  const float* a = p.transpose_a ? p.a + piece.rows.begin : p.a + piece.rows.begin * p.lda;
  const float* b = p.transpose_b ? p.b + piece.cols.begin * p.ldb : p.b + piece.cols.begin;
  cblas_sgemm(CblasRowMajor, p.transpose_a ? CblasTrans : CblasNoTrans,
              p.transpose_b ? CblasTrans : CblasNoTrans, rows, cols, p.k, p.alpha, a, p.lda, b,
              p.ldb, p.beta, c, p.ldc);
}

// The elements a row-major matrix of `rows` x `cols` with leading dimension `ld` spans:
// the last row need not be padded.
size_t stored_elements(int rows, int cols, int ld) {
  return rows == 0 || cols == 0 ? 0 : static_cast<size_t>(rows - 1) * ld + cols;
}

std::vector<float> rounded_to_tf32(const float* values, size_t count) {
  std::vector<float> rounded(values, values + count);
  for (float& x : rounded) x = round_to_tf32(x);
  return rounded;
}

// TF32 emulation: the problems with A and B replaced by rounded copies held in `storage`.
std::vector<GemmProblem> with_tf32_operands(std::span<const GemmProblem> problems,
                                            std::vector<std::vector<float>>& storage) {
  std::vector<GemmProblem> rounded(problems.begin(), problems.end());
  storage.reserve(2 * problems.size());
  for (GemmProblem& p : rounded) {
    if (p.m == 0 || p.n == 0 || p.k == 0) continue;
    const size_t a_count = p.transpose_a ? stored_elements(p.k, p.m, p.lda) : stored_elements(p.m, p.k, p.lda);
    const size_t b_count = p.transpose_b ? stored_elements(p.n, p.k, p.ldb) : stored_elements(p.k, p.n, p.ldb);
    p.a = storage.emplace_back(rounded_to_tf32(p.a, a_count)).data();
    p.b = storage.emplace_back(rounded_to_tf32(p.b, b_count)).data();
  }
  return rounded;
}

}  // namespace

void grouped_gemm_cpu(std::span<const GemmProblem> problems, GemmPrecision precision) {
  validate_gemm_problems(problems);
  const FlushSubnormalsToZero flush;  // for the pieces run on this thread below
  if (std::any_of(problems.begin(), problems.end(), [](const GemmProblem& p) { return p.dynamic_m || p.dynamic_k; })) {
    grouped_gemm_cpu(resolve_run_time_values(problems), precision);
    return;
  }
  if (precision == GemmPrecision::kTf32) {
    std::vector<std::vector<float>> storage;
    const std::vector<GemmProblem> rounded = with_tf32_operands(problems, storage);
    grouped_gemm_cpu(rounded, GemmPrecision::kFp32);
    return;
  }
  use_single_threaded_blas();
  // A call from inside a parallel_for body (a convolution chunk's GEMM, whose work is
  // already split by chunk) runs each problem whole on that thread: cutting it would only
  // repack its long operand (a weight gradient's K is the chunk's rows) once per piece.
  // Whether a call comes from a body is a fact of the calling code, not of the thread
  // count, so the bits stay independent of it.
  if (inside_parallel_body()) {
    for (const GemmProblem& p : problems)
      if (p.m > 0 && p.n > 0) run_piece({&p, Range{0, p.m}, Range{0, p.n}});
    return;
  }
  std::vector<GemmPiece> pieces;
  for (const GemmProblem& p : problems) {
    if (p.m == 0 || p.n == 0) continue;
    // Never split along K: each element's sum runs in one sgemm call.
    for (const GemmPiece& piece : pieces_of(p)) pieces.push_back(piece);
  }
  if (cpu_thread_count() == 1) {  // the same pieces, on this thread
    for (const GemmPiece& piece : pieces) run_piece(piece);
    return;
  }
  parallel_for(static_cast<int64_t>(pieces.size()), [&](int64_t i) { run_piece(pieces[i]); });
}

}  // namespace gpu_tune::kernels
