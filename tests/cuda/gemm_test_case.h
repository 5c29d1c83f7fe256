#pragma once
// What the GEMM tests on the GPU share (ours and cuBLAS's): a problem's shape, its host
// matrices with live padding and NaN-poisoned output, their device copies, and checks on
// the result's layout. Each test adds its own CPU references.
#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/grouped_gemm.h"
#include "tests/cuda/cuda_test_utils.h"

namespace gpu_tune::kernels::cuda_test_gemm {

struct GemmSpec {
  int m = 0, n = 0, k = 0;
  bool transpose_a = false, transpose_b = false;
  float alpha = 1.0f, beta = 0.0f;
  int pad = 0;  // extra elements per row of A, B (pad + 1) and C (pad + 2) when > 0
};

inline std::string describe(const GemmSpec& s) {
  return "m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) +
         (s.transpose_a ? " A^T" : " A") + (s.transpose_b ? " B^T" : " B") + " alpha=" + std::to_string(s.alpha) +
         " beta=" + std::to_string(s.beta) + " pad=" + std::to_string(s.pad);
}

// One problem's host matrices and their device copies.
struct GemmMatrices {
  GemmSpec spec;
  int lda = 0, ldb = 0, ldc = 0;
  std::vector<float> a, b, c_initial;
  DeviceArray<float> a_device, b_device, c_device;

  GemmProblem problem(const float* a_ptr, const float* b_ptr, float* c_ptr) const {
    return GemmProblem{.m = spec.m, .n = spec.n, .k = spec.k,
                       .a = a_ptr, .lda = lda, .transpose_a = spec.transpose_a,
                       .b = b_ptr, .ldb = ldb, .transpose_b = spec.transpose_b,
                       .c = c_ptr, .ldc = ldc, .alpha = spec.alpha, .beta = spec.beta};
  }
  GemmProblem device_problem() { return problem(a_device.data(), b_device.data(), c_device.data()); }
  void reset_device_c() { c_device.upload(c_initial); }
};

inline GemmMatrices make_matrices(const GemmSpec& s, test::Rng& rng) {
  GemmMatrices g;
  g.spec = s;
  const int a_rows = s.transpose_a ? s.k : s.m, a_cols = s.transpose_a ? s.m : s.k;
  const int b_rows = s.transpose_b ? s.n : s.k, b_cols = s.transpose_b ? s.k : s.n;
  g.lda = std::max(a_cols, 1) + s.pad;
  g.ldb = std::max(b_cols, 1) + (s.pad > 0 ? s.pad + 1 : 0);
  g.ldc = std::max(s.n, 1) + (s.pad > 0 ? s.pad + 2 : 0);
  // Padding holds live values too, so reading past a row's end shows in the result.
  g.a = test::random_nonzero(static_cast<size_t>(std::max(a_rows, 1)) * g.lda, rng);
  g.b = test::random_nonzero(static_cast<size_t>(std::max(b_rows, 1)) * g.ldb, rng);
  g.c_initial = test::random_nonzero(static_cast<size_t>(std::max(s.m, 1)) * g.ldc, rng);
  if (s.beta == 0.0f) {
    // Output only: NaN shows an element left unwritten, and a kernel that reads C anyway.
    for (int i = 0; i < s.m; ++i)
      for (int j = 0; j < s.n; ++j) g.c_initial[static_cast<size_t>(i) * g.ldc + j] = test::quiet_nan();
  }
  g.a_device = cuda_test::to_device(g.a);
  g.b_device = cuda_test::to_device(g.b);
  g.c_device = cuda_test::to_device(g.c_initial);
  return g;
}

// C's M x N block, dropping the padding.
inline std::vector<float> dense(const GemmMatrices& g, const std::vector<float>& c) {
  std::vector<float> out;
  for (int i = 0; i < g.spec.m; ++i)
    out.insert(out.end(), c.begin() + static_cast<ptrdiff_t>(i) * g.ldc,
               c.begin() + static_cast<ptrdiff_t>(i) * g.ldc + g.spec.n);
  return out;
}

// Elements of the gap between N and ldc that differ from before the call: that gap
// belongs to someone else and must stay untouched.
inline size_t padding_changes(const GemmMatrices& g, const std::vector<float>& c) {
  size_t changed = 0;
  for (int i = 0; i < std::max(g.spec.m, 1); ++i)
    for (int j = g.spec.n; j < g.ldc; ++j) {
      const size_t e = static_cast<size_t>(i) * g.ldc + j;
      changed += std::memcmp(&c[e], &g.c_initial[e], sizeof(float)) != 0 ? 1 : 0;
    }
  return changed;
}

// Problems of unrelated shapes, orientations and scalars, as a backward pass submits them.
inline std::vector<GemmSpec> mixed_specs(int count, test::Rng& rng) {
  const int sizes[] = {1, 7, 33, 64, 65, 100, 257, 784};
  const float alphas[] = {1.0f, 0.5f, -1.0f, 2.0f};
  const float betas[] = {0.0f, 1.0f, 0.25f, -0.5f};
  std::uniform_int_distribution<int> size(0, 7), small(0, 3), pad(0, 3);
  std::vector<GemmSpec> specs;
  for (int i = 0; i < count; ++i) {
    specs.push_back({sizes[size(rng)], sizes[size(rng)], sizes[size(rng)], small(rng) % 2 == 1, small(rng) >= 2,
                     alphas[small(rng)], betas[small(rng)], pad(rng)});
  }
  return specs;
}

}  // namespace gpu_tune::kernels::cuda_test_gemm
