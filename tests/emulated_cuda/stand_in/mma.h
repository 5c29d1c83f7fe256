#pragma once
// A stand-in for WMMA (nvcuda::wmma) for the emulated-CUDA tests: every thread of a warp
// holds the whole fragment and computes the whole product, where the hardware spreads
// them over the warp. It checks the tile addressing around the fragments (pointers,
// leading dimensions, the 256-bit alignment WMMA requires), not the tensor cores.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/grouped_gemm.h"  // round_to_tf32

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
}  // namespace precision
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K>
struct fragment_shape;
template <int M, int N, int K>
struct fragment_shape<matrix_a, M, N, K> { static constexpr int rows = M, cols = K; };
template <int M, int N, int K>
struct fragment_shape<matrix_b, M, N, K> { static constexpr int rows = K, cols = N; };
template <int M, int N, int K>
struct fragment_shape<accumulator, M, N, K> { static constexpr int rows = M, cols = N; };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static constexpr int rows = fragment_shape<Use, M, N, K>::rows, cols = fragment_shape<Use, M, N, K>::cols;
  float x[rows * cols];
};

inline void require_256_bit_alignment(const void* pointer) {
  if (reinterpret_cast<uintptr_t>(pointer) % 32 != 0) __builtin_trap();
}

template <class Use, int M, int N, int K, class T, class L>
void fill_fragment(fragment<Use, M, N, K, T, L>& f, float value) {
  for (float& e : f.x) e = value;
}

template <class Use, int M, int N, int K, class T>
void load_matrix_sync(fragment<Use, M, N, K, T, row_major>& f, const float* p, unsigned ldm) {
  static_assert(!std::is_same_v<Use, accumulator>);
  require_256_bit_alignment(p);
  for (int r = 0; r < f.rows; ++r)
    for (int c = 0; c < f.cols; ++c) f.x[r * f.cols + c] = p[r * ldm + c];
}

template <int M, int N, int K, class TA, class TB>
void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, TA, row_major>& a,
              const fragment<matrix_b, M, N, K, TB, row_major>& b, const fragment<accumulator, M, N, K, float>& c) {
  float product[M * N];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float sum = c.x[i * N + j];
      for (int k = 0; k < K; ++k) sum += a.x[i * K + k] * b.x[k * N + j];
      product[i * N + j] = sum;
    }
  std::memcpy(d.x, product, sizeof product);
}

template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t layout) {
  if (layout != mem_row_major) __builtin_trap();
  require_256_bit_alignment(p);
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c) p[r * ldm + c] = f.x[r * N + c];
}

// cvt.rna.tf32.f32: round to nearest, ties away from zero, as round_to_tf32 does.
inline float __float_to_tf32(float x) { return gpu_tune::kernels::round_to_tf32(x); }

}  // namespace nvcuda::wmma
